"""Loading and saving config files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest

from experimentkit.config import (
    ConfigFileError,
    ConfigFileNotFoundError,
    is_config_file_name,
    load_config_file,
    make_read_only,
    save_config_file,
)
from experimentkit.errors import UsageError

CONFIG = {"a": 1, "b": {"c": [1, 2.5, "x"], "d": None}, "flag": True}


@pytest.mark.parametrize("ext", [".json", ".yaml", ".yml", ".pickle"])
def test_round_trip(tmp_path, ext):
    path = tmp_path / f"cfg{ext}"
    save_config_file(CONFIG, path)
    assert load_config_file(path) == CONFIG
    assert load_config_file(str(path)) == CONFIG
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_json_layout_sorted_indented_and_flattened(tmp_path):
    path = tmp_path / "c.json"
    save_config_file({"b": (1, 2), "a": {"z": 1, "y": 2}}, path)
    text = path.read_text()
    assert text == json.dumps({"a": {"y": 2, "z": 1}, "b": [1, 2]}, sort_keys=True, indent=2) + "\n"
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


def test_save_read_only_views(tmp_path):
    ro = make_read_only({"a": {"b": [1, 2]}})
    for ext in (".json", ".yaml", ".pickle"):
        path = tmp_path / f"ro{ext}"
        save_config_file(ro, path)
        loaded = load_config_file(path)
        assert loaded == {"a": {"b": [1, 2]}}
        assert type(loaded["a"]) is dict


def test_save_numpy_values_as_json(tmp_path):
    np = pytest.importorskip("numpy")
    path = tmp_path / "n.json"
    save_config_file({"x": np.float32(0.5), "arr": np.arange(3), "i": np.int64(4)}, path)
    assert load_config_file(path) == {"x": 0.5, "arr": [0, 1, 2], "i": 4}


def test_overwrite_is_atomic_replacement(tmp_path):
    path = tmp_path / "c.json"
    save_config_file({"v": 1}, path)
    os.chmod(path, 0o600)
    save_config_file({"v": 2}, path)
    assert load_config_file(path) == {"v": 2}
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_jsonpickle_tags_only_decoded_on_request(tmp_path):
    path = tmp_path / "tagged.json"
    path.write_text(json.dumps({"s": {"py/set": [1, 2]}, "t": {"py/tuple": [1, 2]}}))
    assert load_config_file(path) == {"s": {"py/set": [1, 2]}, "t": {"py/tuple": [1, 2]}}
    decoded = load_config_file(path, decode_jsonpickle=True)
    assert decoded == {"s": {1, 2}, "t": (1, 2)}


def test_missing_file_is_oserror_and_usage_error(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(OSError) as info:
        load_config_file(missing)
    assert isinstance(info.value, UsageError) and isinstance(info.value, ConfigFileNotFoundError)
    assert str(info.value) == f"Config file not found: {str(missing)!r}"


def test_bad_extension_is_valueerror_and_usage_error(tmp_path):
    path = tmp_path / "f.cfg"
    path.write_text("a=1")
    for func in (load_config_file, lambda p: save_config_file({}, p)):
        with pytest.raises(ValueError) as info:
            func(path)
        assert isinstance(info.value, UsageError) and isinstance(info.value, ConfigFileError)
        assert str(info.value) == (
            f'Configuration file "{path}" has invalid or unsupported '
            f'extension ".cfg". Use .json, .yaml, .yml or .pickle'
        )


@pytest.mark.parametrize(
    "name, content",
    [
        ("list.json", "[1, 2]"),
        ("broken.json", "{"),
        ("scalar.yaml", "3"),
        ("bad.yaml", "a: [1"),
    ],
)
def test_invalid_contents(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigFileError, match=name):
        load_config_file(path)


def test_bad_pickle(tmp_path):
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ConfigFileError, match="mapping"):
        load_config_file(path)
    path.write_bytes(b"garbage")
    with pytest.raises(ConfigFileError, match=r"^Config file \".*x\.pickle\" could not be read: "):
        load_config_file(path)


def test_empty_yaml_is_empty_config(tmp_path):
    path = tmp_path / "e.yml"
    path.write_text("")
    assert load_config_file(path) == {}


def test_yaml_is_safe_loaded(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("a: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(
        ConfigFileError,
        match=r"^Config file \".*evil\.yaml\" could not be read: could not determine a constructor",
    ):
        load_config_file(path)


def test_missing_pyyaml_gives_install_hint(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\n")
    code = (
        "import sys; sys.modules['yaml'] = None\n"
        "from experimentkit.config import load_config_file\n"
        "from experimentkit.errors import UsageError\n"
        "try:\n"
        f"    load_config_file({str(path)!r})\n"
        "except UsageError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install PyYAML" in out.stdout


def test_is_config_file_name():
    assert is_config_file_name("a/b.JSON") and is_config_file_name("x.yml")
    assert not is_config_file_name("fast") and not is_config_file_name("x.cfg")
