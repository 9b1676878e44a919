# ruff: noqa  (Sacred's code, kept as Sacred wrote it)
# Ported from Sacred 0.8.7 (IDSIA/sacred, tag 0.8.7, tests/test_settings.py; MIT licence, sdist on PyPI):
# Sacred's own test of its public API, with imports renamed from ``sacred`` to ``experimentkit``.
# Tests that fail deliberately are marked xfail with the reason (see docs/sacred-differences.md).
import copy
from experimentkit import SETTINGS as DEFAULT_SETTINGS

import pytest

from experimentkit.settings import SettingError


def test_access_invalid_setting():
    SETTINGS = copy.deepcopy(DEFAULT_SETTINGS)
    with pytest.raises(SettingError):
        SETTINGS.INVALID_SETTING = "invalid"
    with pytest.raises(SettingError):
        SETTINGS["INVALID_SETTING"] = "invalid"


def test_overwrite_collection():
    SETTINGS = copy.deepcopy(DEFAULT_SETTINGS)
    with pytest.raises(SettingError):
        SETTINGS.CONFIG = "invalid"
    with pytest.raises(SettingError):
        SETTINGS["CONFIG"] = "invalid"


def test_access_valid_setting():
    SETTINGS = copy.deepcopy(DEFAULT_SETTINGS)
    SETTINGS.CONFIG.READ_ONLY_CONFIG = True
    assert SETTINGS.CONFIG.READ_ONLY_CONFIG
