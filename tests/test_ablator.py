import pandas as pd
import pytest

from autoablation import LOCO, AblationStudy, Ablator, StudyError, Trial
from autoablation._ablator import check_unique, resolve_ablator


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
