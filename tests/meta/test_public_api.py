"""The public surface is pinned, and importing it stays light."""

import subprocess
import sys

import pytest

import autoablation
from autoablation import StudyError, experiment

EXPECTED = [
    "LOCO",
    "SPARK_CONF",
    "AblationConfig",
    "AblationError",
    "AblationStudy",
    "Ablator",
    "AuthenticationError",
    "BackendError",
    "Component",
    "ComponentKind",
    "DatasetError",
    "DatasetFunction",
    "ExperimentError",
    "ExperimentResult",
    "FatalTrialError",
    "FrameTooLargeError",
    "GeneratedDataset",
    "KeepOne",
    "Listener",
    "ModelSurgeryError",
    "Pairs",
    "ProtocolError",
    "Reporter",
    "ReturnValueError",
    "SparkConfigError",
    "StudyError",
    "TrainFunctionError",
    "Trial",
    "TrialResult",
    "TrialStatus",
    "TrialTimeout",
    "UnknownComponentError",
    "__version__",
    "experiment",
    "load",
]


def test_all_is_pinned() -> None:  # ruff's RUF022 keeps it sorted
    assert autoablation.__all__ == EXPECTED
    for name in EXPECTED:
        assert hasattr(autoablation, name)


def test_exported_objects_claim_the_public_module() -> None:
    assert autoablation.experiment.launch.__module__ == "autoablation.experiment"


def test_every_exception_derives_from_the_root_and_its_builtin() -> None:
    assert issubclass(autoablation.UnknownComponentError, (autoablation.StudyError, LookupError))
    assert issubclass(autoablation.StudyError, ValueError)
    assert issubclass(autoablation.ProtocolError, ConnectionError)
    errors = [getattr(autoablation, n) for n in EXPECTED if n.endswith("Error")]
    assert all(issubclass(e, autoablation.AblationError) for e in errors)


def test_declaring_a_study_imports_neither_tensorflow_nor_spark() -> None:
    code = (
        "import sys, pandas as pd, autoablation as aa\n"
        "s = aa.AblationStudy(pd.DataFrame({'a': [1, 2], 'y': [0, 1]}), label_name='y')\n"
        "s.features.include('a')\n"
        "s.model.layers.include('dense')\n"
        "aa.LOCO().trials(s)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'pyspark') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_executor_imports_neither_pandas_nor_the_driver_machinery() -> None:
    # What a fresh Spark Python worker imports to run trials: each module it skips is time
    # every slot saves at the start of a study. Every module of the executor room is imported,
    # then nothing of the driver, the study declaration or the results may be loaded.
    code = (
        "import importlib, pkgutil, sys, autoablation._executor as room\n"
        "for info in pkgutil.walk_packages(room.__path__, room.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "banned = ('pandas', 'tensorflow', 'keras', 'matplotlib', 'mlflow', 'pyspark.sql',\n"
        "          'autoablation._driver', 'autoablation._study', 'autoablation._results')\n"
        "loaded = sorted(m for m in sys.modules if any(m == b or m.startswith(b + '.') "
        "for b in banned))\n"
        "print(len([m for m in sys.modules if m.startswith('autoablation._executor.')]), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, loaded = out.stdout.split(maxsplit=1)
    assert int(count) >= 10 and loaded.strip() == "[]"


def test_public_names_load_on_first_use() -> None:
    code = (
        "import sys, autoablation as aa\n"
        "before = 'autoablation._study.study' in sys.modules\n"
        "aa.AblationStudy, aa.experiment.launch, aa.TrialStatus.OK\n"
        "after = 'autoablation._study.study' in sys.modules\n"
        "print(before, after, set(aa.__all__) <= set(dir(aa)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        autoablation.nothing  # noqa: B018


def test_launch_takes_exactly_the_declared_options_with_their_defaults() -> None:
    import dataclasses
    import inspect

    from autoablation._driver.options import RunOptions

    parameters = inspect.signature(experiment.launch).parameters
    objects = {"train_fn", "study", "spark", "ablator", "listener"}  # arguments, not options
    options = {name: p.default for name, p in parameters.items() if name not in objects}
    declared = {f.name: f.default for f in dataclasses.fields(RunOptions)}
    assert options == declared
    assert list(options) == list(declared)  # the docs list them in one order too
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in options)
    documented = inspect.getdoc(experiment.launch) or ""
    assert all(f"    {name}:" in documented for name in parameters)


def test_ablation_config_maps_onto_the_launch_options() -> None:
    from autoablation import AblationConfig, AblationStudy

    study = AblationStudy()
    config = AblationConfig(study, hb_interval=2.0, repeats=5, resume=True, direction="MIN")
    assert config.options == {
        "name": "ablationStudy",
        "heartbeat_interval": 2.0,
        "repeats": 5,
        "resume": True,
        "direction": "MIN",
    }
    assert (config.name, config.hb_interval, config.direction, config.max_attempts) == (
        "ablationStudy",
        2.0,
        "MIN",
        3,
    )
    with pytest.raises(StudyError, match="no option 'hb_intervall'; did you mean 'hb_interval'"):
        AblationConfig(study, hb_intervall=2)
    with pytest.raises(StudyError, match="repeats must be a positive integer, or 'auto'"):
        AblationConfig(study, repeats=0)
    # Maggy's dataclass took its fields by position too
    positional = AblationConfig(study, "pairs", "min", "Titanic", "notes", 2.5, "acc")
    assert positional.ablator == "pairs" and positional.description == "notes"
    assert positional.options == {
        "name": "Titanic",
        "direction": "min",
        "heartbeat_interval": 2.5,
        "optimization_key": "acc",
    }
    with pytest.raises(StudyError, match="hb_interval must be a positive number; got 0"):
        AblationConfig(study, hb_interval=0)  # named as the caller spelt it
    sequential = AblationConfig(study, repeats="auto", min_effect=0.01, vary_split=False)
    assert (sequential.repeats, sequential.min_effect, sequential.max_repeats) == ("auto", 0.01, 16)
