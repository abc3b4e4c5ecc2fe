import pandas as pd
import pytest

from autoablation import (
    AblationStudy,
    ComponentKind,
    DatasetError,
    StudyError,
    UnknownComponentError,
)


def test_include_accepts_names_lists_and_several_arguments(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("pclass")
    study.features.include(["age", "sibsp"])
    study.features.include("sex", "parch")
    assert study.features.included == ("pclass", "age", "sibsp", "sex", "parch")


def test_components_are_features_then_layers_in_declaration_order(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.model.layers.include("b", "a")
    study.features.include("sex", "age")
    components = study.components()
    assert [(c.kind, c.name) for c in components] == [
        (ComponentKind.FEATURE, "sex"),
        (ComponentKind.FEATURE, "age"),
        (ComponentKind.LAYER, "b"),
        (ComponentKind.LAYER, "a"),
    ]
    assert components[0].features == ("sex",) and components[2].layers == ("b",)


def test_unknown_feature_is_refused_at_once_listing_the_columns(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    with pytest.raises(UnknownComponentError, match=r"'fare'.*pclass, sex, age, sibsp, parch"):
        study.features.include("fare")
    assert study.features.included == ()


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (("survived",), "is the study's label"),
        (("sex", "sex"), "already included"),
        ((["sex", 3],), "feature .3. is not a column"),  # numbers name columns by their text
        ((3.5,), "must be strings or lists of strings"),
        (("",), "cannot be empty"),
        ((), "at least one"),
    ],
)
def test_bad_feature_inclusions_are_refused(
    titanic: pd.DataFrame, names: tuple[object, ...], message: str
) -> None:
    study = AblationStudy(titanic, label_name="survived")
    with pytest.raises(StudyError, match=message):
        study.features.include(*names)  # type: ignore[arg-type]


def test_including_the_same_feature_twice_across_calls_is_refused(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex")
    with pytest.raises(StudyError, match="'sex' is already included"):
        study.features.include(["age", "sex"])
    assert study.features.included == ("sex",)


def test_exclude_takes_a_component_back_and_refuses_unknown_ones(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include("sex", "age")
    study.features.exclude("sex")
    assert study.features.included == ("age",)
    with pytest.raises(UnknownComponentError, match="'pclass' is not included"):
        study.features.exclude("pclass")
    study.model.layers.include("my_dense_two")
    with pytest.raises(UnknownComponentError, match=r"excluded; did you mean 'my_dense_two'\?"):
        study.model.layers.exclude("my_dense_tow")


def test_missing_label_and_label_less_data_are_refused(titanic: pd.DataFrame) -> None:
    with pytest.raises(UnknownComponentError, match="label 'alive' is not a column"):
        AblationStudy(titanic, label_name="alive")
    with pytest.raises(StudyError, match="needs label_name"):
        AblationStudy(titanic)


def test_csv_path_loads_the_table(titanic: pd.DataFrame, tmp_path) -> None:
    titanic.to_csv(tmp_path / "titanic.csv", index=False)
    study = AblationStudy(str(tmp_path / "titanic.csv"), label_name="survived")
    assert study.feature_names == ("pclass", "sex", "age", "sibsp", "parch")


def test_unreadable_path_is_a_dataset_error(tmp_path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        AblationStudy(tmp_path / "nope.parquet", label_name="y")


def test_study_without_data_needs_no_label_and_has_no_features() -> None:
    study = AblationStudy()
    study.model.layers.include("dense")
    assert study.prepared_data() is None and study.feature_names == ()


def test_non_callable_model_generator_is_refused() -> None:
    study = AblationStudy()
    with pytest.raises(StudyError, match="the base model generator must be callable; got str"):
        study.model.set_base_model_generator("model")  # type: ignore[arg-type]


def test_to_dict_summarises_the_declaration(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived", seed=7)
    study.features.include("sex")
    study.model.layers.include("my_dense_two")
    summary = study.to_dict()
    assert summary["features"] == ["sex"] and summary["layers"] == ["my_dense_two"]
    assert summary["seed"] == 7 and summary["has_base_model_generator"] is False


def test_feature_groups_are_one_component_each(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.features.include_groups(["sibsp", "parch"], ["age", "sex"])
    study.features.include_groups(["pclass", "age"], name="class_and_age")
    assert study.features.groups == (("sibsp", "parch"), ("age", "sex"), ("pclass", "age"))
    assert [c.name for c in study.components()] == ["sibsp+parch", "age+sex", "class_and_age"]
    study.features.exclude_groups("age+sex")
    assert len(study.features.groups) == 2


@pytest.mark.parametrize(
    ("groups", "kwargs", "error", "message"),
    [
        ((["sibsp"],), {}, StudyError, "needs at least two names"),
        (("sibsp",), {}, StudyError, r"use features.include\('sibsp'\)"),
        ((["sibsp", "fare"],), {}, UnknownComponentError, "feature 'fare' is not a column"),
        ((["sibsp", "sibsp"],), {}, StudyError, "names a feature twice"),
        ((["sibsp", "survived"],), {}, StudyError, "is the study's label"),
        ((["a", "b"], ["c", "d"]), {"name": "x"}, StudyError, "name= can only be given"),
        ((), {}, StudyError, "needs at least one list"),
    ],
)
def test_bad_feature_groups_are_refused(
    titanic: pd.DataFrame, groups: tuple, kwargs: dict, error: type, message: str
) -> None:
    study = AblationStudy(titanic, label_name="survived")
    with pytest.raises(error, match=message):
        study.features.include_groups(*groups, **kwargs)
    assert study.components() == []


def test_layer_groups_take_lists_or_a_prefix(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    study.model.layers.include_groups(["my_dense_two", "my_dense_four"], prefix="my_dense")
    groups = study.model.layers.groups
    assert [(g.name, g.layers, g.prefixes) for g in groups] == [
        ("my_dense_two+my_dense_four", ("my_dense_two", "my_dense_four"), ()),
        ("my_dense*", (), ("my_dense",)),
    ]
    with pytest.raises(StudyError, match="already included"):
        study.model.layers.include_groups(prefix="my_dense")
    with pytest.raises(StudyError, match="needs at least two names"):
        study.model.layers.include_groups(["my_dense_two"])


def test_modules_and_custom_models_are_declared_on_the_model(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")

    def tiny() -> None:
        return None

    study.model.add_module("mixed0", "mixed1")
    study.model.add_custom_model_generator(tiny, "tiny")
    assert study.model.modules == (("mixed0", "mixed1"),)
    assert study.model.custom_models == {"tiny": tiny}
    with pytest.raises(StudyError, match="already included"):
        study.model.add_module("mixed0", "mixed1")
    with pytest.raises(StudyError, match="two different layers"):
        study.model.add_module("mixed0", "mixed0")
    with pytest.raises(StudyError, match="'tiny' is already included"):
        study.model.add_custom_model_generator(tiny, "tiny")
    with pytest.raises(StudyError, match="must be callable"):
        study.model.add_custom_model_generator("tiny", "other")  # type: ignore[arg-type]


def test_the_shape_strategy_is_declared_and_checked() -> None:
    study = AblationStudy()
    assert study.model.shape_strategy == "error"
    study.model.set_shape_strategy("project")
    assert study.model.shape_strategy == "project"
    with pytest.raises(StudyError, match="unknown shape strategy 'pad'; use one of error, project"):
        study.model.set_shape_strategy("pad")  # type: ignore[arg-type]


def test_maggys_constructor_form_is_accepted() -> None:
    def generator(num_epochs, batch_size, ablated_feature=None):  # type: ignore[no-untyped-def]
        return None

    study = AblationStudy("titanic_train_dataset", 1, "survived", dataset_generator=generator)
    assert (study.name, study.training_dataset_version, study.label_name) == (
        "titanic_train_dataset",
        1,
        "survived",
    )
    assert study.dataset_generator is generator and study.table is None
    named = AblationStudy("titanic_train_dataset", training_dataset_version=1, label_name="y")
    assert named.name == "titanic_train_dataset" and named.table is None


def test_the_label_may_be_given_positionally(titanic: pd.DataFrame) -> None:
    assert AblationStudy(titanic, "survived").label_name == "survived"


def test_maggys_form_reads_a_name_even_when_a_folder_has_it(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "titanic").mkdir()
    study = AblationStudy("titanic", 1, "survived", dataset_generator=lambda e, b: None)
    assert study.name == "titanic" and study.table is None


def test_a_missing_data_file_in_maggys_form_is_an_error(tmp_path) -> None:
    with pytest.raises(DatasetError, match=r"titanic_typo.csv' does not exist"):
        AblationStudy(str(tmp_path / "titanic_typo.csv"), 1, "survived")


@pytest.mark.parametrize(
    "declare",
    [
        lambda s, m: s.model.set_base_model_generator(m),
        lambda s, m: s.model.add_custom_model_generator(m, "smaller"),
    ],
    ids=["base", "custom"],
)
def test_a_model_instance_passed_as_a_generator_is_refused_at_the_call(declare) -> None:
    from tests.helpers import dense_model

    study = AblationStudy()
    with pytest.raises(StudyError, match=r"got a keras\.Model .*; pass a function that builds it"):
        declare(study, dense_model())
    assert study.model.base_model_generator is None and study.model.custom_models == {}


def test_only_keras_classes_are_recognised_as_models() -> None:
    from autoablation._core.names import keras_object_kind

    class Model:  # a class that only looks like keras.Model by name, outside Keras
        pass

    assert keras_object_kind(Model()) is None
    assert keras_object_kind(lambda: None) is None


def test_a_near_miss_feature_name_gets_a_suggestion(titanic: pd.DataFrame) -> None:
    study = AblationStudy(titanic, label_name="survived")
    with pytest.raises(UnknownComponentError, match=r"'pclas' .*; did you mean 'pclass'\?"):
        study.features.include("pclas")


def test_each_model_component_may_declare_its_own_shape_strategy() -> None:
    study = AblationStudy()
    study.model.layers.include("a", shape_strategy="project")
    study.model.layers.include("b")
    study.model.layers.include_groups(["c", "d"], prefix="blk", shape_strategy="project")
    study.model.add_module("e", "f", shape_strategy="error")
    strategies = {c.name: c.shape_strategy for c in study.components()}
    assert strategies == {
        "a": "project",
        "b": None,  # the study's default
        "c+d": "project",
        "blk*": "project",
        "e..f": "error",
    }
    assert study.to_dict()["components"][0]["shape_strategy"] == "project"
    with pytest.raises(StudyError, match="unknown shape strategy 'pad'"):
        study.model.layers.include("g", shape_strategy="pad")  # type: ignore[arg-type]
    with pytest.raises(StudyError, match="'a' is already included"):
        study.model.layers.include("a", shape_strategy="error")


def test_a_components_strategy_does_not_change_its_trial_id() -> None:
    from autoablation import Trial
    from autoablation._core.trial import Component

    plain = Component(ComponentKind.LAYER, "a", layers=("a",))
    projected = Component(ComponentKind.LAYER, "a", layers=("a",), shape_strategy="project")
    assert Trial.create("layer", "a", (plain,)).trial_id == (
        Trial.create("layer", "a", (projected,)).trial_id
    )
    assert Component.from_dict(projected.to_dict()) == projected
