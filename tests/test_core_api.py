"""The public surface: Sacred's import paths, names, and a cheap ``import experimentkit``."""

import importlib.metadata
import json
import subprocess
import sys

import pytest

import experimentkit
import experimentkit.utils as ek_utils
from experimentkit import errors


def test_public_names_are_locked():
    assert sorted(experimentkit.__all__) == sorted(
        ["Experiment", "Ingredient", "SETTINGS", "cli_option", "host_info_gatherer", "__version__"]
    )
    # each lazy name is the very object of the module that defines it, not a copy or a wrapper
    from experimentkit import commandline, experiment, host_info, ingredient, settings

    assert experimentkit.Experiment is experiment.Experiment
    assert experimentkit.Ingredient is ingredient.Ingredient
    assert experimentkit.SETTINGS is settings.SETTINGS
    assert experimentkit.cli_option is commandline.options.cli_option
    assert experimentkit.host_info_gatherer is host_info.host_info_gatherer
    assert experimentkit.__version__ == importlib.metadata.version("experimentkit")


def test_sacred_import_paths_exist():
    from experimentkit.experiment import Experiment
    from experimentkit.ingredient import Ingredient
    from experimentkit.observers import RunObserver
    from experimentkit.run import Run
    from experimentkit.settings import SETTINGS, SettingError

    assert experimentkit.Experiment is Experiment and experimentkit.Ingredient is Ingredient
    assert RunObserver.priority == 0 and Run.__name__ == "Run"
    with pytest.raises(SettingError, match="did you mean 'READ_ONLY_CONFIG'"):
        SETTINGS.CONFIG.READ_ONLY_CONFG = False
    # Sacred users catch KeyError
    with pytest.raises(KeyError, match=r"Unknown setting: NO_SUCH_SETTING\. Possible keys are: "):
        SETTINGS.NO_SUCH_SETTING


@pytest.mark.parametrize(
    "name",
    [
        "SacredError",
        "ConfigError",
        "ConfigAddedError",
        "MissingConfigError",
        "NamedConfigNotFoundError",
        "CircularDependencyError",
        "SignatureError",
        "ObserverError",
        "SacredInterrupt",
        "TimeoutInterrupt",
        "InvalidConfigError",
    ],
)
def test_utils_exports_sacred_names(name):
    # the same classes as experimentkit.errors: ``except utils.X`` catches what the library raises
    assert getattr(ek_utils, name) is getattr(errors, name)


def test_utils_exports_the_output_helper():
    from experimentkit.output import apply_backspaces_and_linefeeds

    assert ek_utils.apply_backspaces_and_linefeeds is apply_backspaces_and_linefeeds
    assert apply_backspaces_and_linefeeds("abc\b\bd\rx") == "xdc"  # overwritten, as a terminal shows it


def test_error_hierarchy_is_catchable_as_sacred():
    assert issubclass(errors.ConfigAddedError, errors.ConfigError)
    assert issubclass(errors.ConfigError, errors.SacredError)
    assert issubclass(errors.SignatureError, TypeError)
    assert errors.TimeoutInterrupt.STATUS == "TIMEOUT"
    assert errors.SacredInterrupt.STATUS == "INTERRUPTED"


def test_import_is_cheap_and_loads_no_heavy_module():
    code = (
        "import sys, json, experimentkit; from experimentkit import Experiment;"
        "heavy=['numpy','git','sqlalchemy','pymongo','jsonpickle','yaml','pandas','matplotlib'];"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
