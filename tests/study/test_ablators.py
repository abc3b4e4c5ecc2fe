import pandas as pd
import pytest

from autoablation import LOCO, AblationStudy, Ablator, KeepOne, Pairs, StudyError, Trial
from autoablation._study.ablators import check_unique, resolve_ablator


def study_with(titanic: pd.DataFrame, features: list[str], layers: list[str]) -> AblationStudy:
    study = AblationStudy(titanic, label_name="survived")
    if features:
        study.features.include(features)
    if layers:
        study.model.layers.include(layers)
    return study


def test_loco_is_base_then_one_trial_per_component(titanic: pd.DataFrame) -> None:
    trials = LOCO().trials(study_with(titanic, ["sex", "age"], ["d2", "d3"]))
    assert [(t.kind, t.ablated) for t in trials] == [
        ("base", "base"),
        ("feature", "sex"),
        ("feature", "age"),
        ("layer", "d2"),
        ("layer", "d3"),
    ]
    assert trials[1].removed_features == ("sex",) and trials[3].removed_layers == ("d2",)
    assert trials[0].removed == ()


def test_same_study_gives_same_ids_and_ids_follow_content(titanic: pd.DataFrame) -> None:
    first = LOCO().trials(study_with(titanic, ["sex", "age"], ["d2"]))
    again = LOCO().trials(study_with(titanic, ["sex", "age"], ["d2"]))
    reordered = LOCO().trials(study_with(titanic, ["age", "sex"], ["d2"]))
    assert [t.trial_id for t in first] == [t.trial_id for t in again]
    assert {t.trial_id for t in first} == {t.trial_id for t in reordered}
    assert len({t.trial_id for t in first}) == len(first)


def test_trial_round_trips_through_its_dict(titanic: pd.DataFrame) -> None:
    for trial in LOCO().trials(study_with(titanic, ["sex"], ["d2"])):
        assert Trial.from_dict(trial.to_dict()) == trial


def test_empty_study_is_refused(titanic: pd.DataFrame) -> None:
    with pytest.raises(StudyError, match="includes nothing to ablate"):
        LOCO().trials(AblationStudy(titanic, label_name="survived"))


def test_ablators_resolve_by_name_or_instance() -> None:
    assert isinstance(resolve_ablator("LOCO"), LOCO)
    custom = LOCO()
    assert resolve_ablator(custom) is custom
    with pytest.raises(StudyError, match=r"unknown ablator 'random'.*loco"):
        resolve_ablator("random")


def test_a_custom_ablator_only_implements_trials(titanic: pd.DataFrame) -> None:
    class FeaturesOnly(Ablator):
        name = "features-only"

        def trials(self, study: AblationStudy) -> list[Trial]:
            components = [c for c in self.require_components(study) if c.features]
            return [self.base_trial(study)] + [self.removal_trial(study, c) for c in components]

    trials = FeaturesOnly().trials(study_with(titanic, ["sex"], ["d2"]))
    assert [t.ablated for t in trials] == ["base", "sex"]


def test_duplicate_trials_are_refused(titanic: pd.DataFrame) -> None:
    trials = LOCO().trials(study_with(titanic, ["sex"], []))
    with pytest.raises(StudyError, match="remove the same components"):
        check_unique([*trials, trials[1]])


def mixed_study(titanic: pd.DataFrame) -> AblationStudy:
    """Every kind: feature, feature group, layer, layer groups, module, custom model."""
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex")
    study.features.include_groups(["sibsp", "parch"])
    study.model.layers.include("d2")
    study.model.layers.include_groups(["d3", "d4"], prefix="proj")
    study.model.add_module("a", "b")
    study.model.add_custom_model_generator(lambda: None, "tiny")
    return study


def describe(trials: list[Trial]) -> list[tuple[str, str]]:
    return [(t.kind, t.ablated) for t in trials]


LOCO_TRIALS = [
    ("base", "base"),
    ("feature", "sex"),
    ("feature_group", "sibsp+parch"),
    ("layer", "d2"),
    ("layer_group", "d3+d4"),
    ("layer_group", "proj*"),
    ("module", "a..b"),
    ("custom_model", "tiny"),
]


def test_loco_gives_base_then_each_component_of_every_kind(titanic: pd.DataFrame) -> None:
    trials = LOCO().trials(mixed_study(titanic))
    assert describe(trials) == LOCO_TRIALS
    group = trials[2]
    assert group.removed_features == ("sibsp", "parch")
    assert trials[4].removed_layers == ("d3", "d4") and trials[5].removed_prefixes == ("proj",)
    assert trials[6].removed_modules == (("a", "b"),) and trials[7].custom_model == "tiny"


def test_pairs_adds_every_pair_of_removals_but_no_custom_model(titanic: pd.DataFrame) -> None:
    trials = Pairs().trials(mixed_study(titanic))
    removals = ["sex", "sibsp+parch", "d2", "d3+d4", "proj*", "a..b"]
    pairs = [("pair", f"{a} & {b}") for i, a in enumerate(removals) for b in removals[i + 1 :]]
    assert describe(trials) == LOCO_TRIALS + pairs
    sex_and_module = trials[len(LOCO_TRIALS) + 4]
    assert sex_and_module.ablated == "sex & a..b"
    assert sex_and_module.removed_features == ("sex",)
    assert sex_and_module.removed_modules == (("a", "b"),)
    check_unique(trials)


def test_keep_one_removes_everything_then_keeps_each_component_alone(
    titanic: pd.DataFrame,
) -> None:
    trials = KeepOne().trials(mixed_study(titanic))
    removals = ["sex", "sibsp+parch", "d2", "d3+d4", "proj*", "a..b"]
    assert describe(trials) == [("base", "none kept")] + [("keep_one", n) for n in removals]
    base = trials[0]
    assert base.removed_features == ("sex", "sibsp", "parch")
    assert base.removed_layers == ("d2", "d3", "d4") and base.removed_modules == (("a", "b"),)
    keep_sex = trials[1]
    assert keep_sex.removed_features == ("sibsp", "parch")
    assert "sex" not in {c.name for c in keep_sex.removed}
    assert all(t.custom_model is None for t in trials)


def test_policies_resolve_by_name(titanic: pd.DataFrame) -> None:
    assert isinstance(resolve_ablator("pairs"), Pairs)
    assert isinstance(resolve_ablator("keep_one"), KeepOne)
    with pytest.raises(StudyError, match="keep_one, loco, pairs"):
        resolve_ablator("all")


def overlapping(titanic: pd.DataFrame) -> AblationStudy:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sibsp")
    study.features.include_groups(["sibsp", "parch"])
    study.model.layers.include("dense_1")
    study.model.layers.include_groups(prefix="dense")
    return study


def test_pairs_skip_a_pair_that_trains_what_one_of_its_members_does(titanic: pd.DataFrame) -> None:
    names = [t.ablated for t in Pairs().trials(overlapping(titanic))]
    assert "sibsp & sibsp+parch" not in names and "dense_1 & dense*" not in names
    assert "sibsp & dense_1" in names


def test_keep_one_refuses_components_that_overlap(titanic: pd.DataFrame) -> None:
    with pytest.raises(
        StudyError, match="cannot keep 'sibsp' alone while removing 'sibsp\\+parch'"
    ):
        KeepOne().trials(overlapping(titanic))


def test_the_same_group_in_another_order_is_the_same_component(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include_groups(["sibsp", "parch"])
    with pytest.raises(StudyError, match="already included"):
        study.features.include_groups(["parch", "sibsp"])


def test_trials_that_remove_the_same_things_are_refused() -> None:
    from autoablation._core.trial import Component, ComponentKind

    a = Component(ComponentKind.FEATURE, "a", features=("a",))
    b = Component(ComponentKind.FEATURE, "b", features=("b",))
    with pytest.raises(StudyError, match="remove the same components"):
        check_unique([Trial.create("pair", "a & b", (a, b)), Trial.create("pair", "b & a", (b, a))])


def test_the_keep_one_base_is_labelled_as_such(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include(["sex", "age"])
    assert KeepOne().trials(study)[0].label == "base:none kept"
