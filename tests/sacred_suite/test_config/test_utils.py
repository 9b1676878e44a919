# ruff: noqa  (Sacred's code, kept as Sacred wrote it)
# Ported from Sacred 0.8.7 (IDSIA/sacred, tag 0.8.7, tests/test_config/test_utils.py; MIT licence; IDSIA/sacred repository, the sdist ships no tests/test_config):
# Sacred's own test, with imports renamed from ``sacred`` to ``experimentkit``; lines changed for the port say
# ``# port:`` and why. Deliberate differences are xfail(strict=True) with the reason (docs/sacred-differences.md).
# coding=utf-8

import pytest
from experimentkit import optional as opt
from experimentkit.config.utils import normalize_or_die


@pytest.mark.skipif(not opt.has_numpy, reason="requires numpy")
@pytest.mark.parametrize(
    "typename",
    [
        "bool_",
        "int_",
        "intc",
        "intp",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    ],
)
def test_normalize_or_die_for_numpy_datatypes(typename):
    dtype = getattr(opt.np, typename)
    assert normalize_or_die(dtype(7.0))


@pytest.mark.skipif(not opt.has_numpy, reason="requires numpy")
@pytest.mark.parametrize(
    "typename",
    [
        "bool_",
        "int_",
        "intc",
        "intp",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    ],
)
def test_normalize_or_die_for_numpy_arrays(typename):
    np = opt.np
    dtype = getattr(np, typename)
    a = np.array([0, 1, 2], dtype=dtype)
    b = normalize_or_die(a)
    assert len(b) == 3
