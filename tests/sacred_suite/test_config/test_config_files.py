# ruff: noqa  (Sacred's code, kept as Sacred wrote it)
# Ported from Sacred 0.8.7 (IDSIA/sacred, tag 0.8.7, tests/test_config/test_config_files.py; MIT licence; IDSIA/sacred repository, the sdist ships no tests/test_config):
# Sacred's own test, with imports renamed from ``sacred`` to ``experimentkit``; lines changed for the port say
# ``# port:`` and why. Deliberate differences are xfail(strict=True) with the reason (docs/sacred-differences.md).
# coding=utf-8

import os
import re
import tempfile
import pytest

from experimentkit.config.config_files import HANDLER_BY_EXT, load_config_file

data = {
    'foo': 42,
    'baz': [1, 0.2, 'bar', True, {
        'some_number': -12,
        'simon': 'hugo'
    }]
}


@pytest.mark.parametrize('handler', HANDLER_BY_EXT.values())
def test_save_and_load(handler):
    with tempfile.TemporaryFile('w+' + handler.mode) as f:
        handler.dump(data, f)
        f.seek(0)  # simulates closing and reopening
        d = handler.load(f)
        assert d == data


@pytest.mark.parametrize('ext, handler', HANDLER_BY_EXT.items())
def test_load_config_file(ext, handler):
    handle, f_name = tempfile.mkstemp(suffix=ext)
    f = os.fdopen(handle, "w" + handler.mode)
    handler.dump(data, f)
    f.close()
    d = load_config_file(f_name)
    assert d == data
    os.remove(f_name)


def test_load_config_file_exception_msg_invalid_ext():
    handle, f_name = tempfile.mkstemp(suffix='.invalid')
    try:
        exception_msg = re.compile(
            'Configuration file ".*.invalid" has invalid or '
            'unsupported extension ".invalid".'
        )
        with pytest.raises(ValueError) as excinfo:
            load_config_file(f_name)
        assert exception_msg.match(excinfo.value.args[0])
    finally:
        os.remove(f_name)
