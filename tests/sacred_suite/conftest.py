"""Fixtures for Sacred 0.8.7's ported tests (after Sacred's tests/conftest.py, rewritten).

``example_test`` is parametrized with every ``$ ./NN_name.py ...`` call in the docstrings of the numbered
Sacred examples in ``examples/``: each example is loaded with its ``sacred`` imports renamed to
``experimentkit`` (the files themselves stay Sacred's, so the same files also run under Sacred).
"""
import hashlib
import logging
import os
import re
import shlex
import tempfile
import types
import warnings

import pytest

from experimentkit.settings import SETTINGS

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")
CALL = re.compile(r"^\s\s+\$.*$")


def calls_in_docstring(doc):
    """``(argv, expected output lines)`` for each indented ``$ command`` block of ``doc``."""
    found = []
    indent = 2
    out = None
    for line in (doc or "").split("\n"):
        if CALL.match(line):
            indent = line.find("$")
            out = []
            found.append((shlex.split(line[indent + 1:]), out))
        elif out is not None and line.startswith(" " * indent):
            out.append(line[indent:])
        else:
            out = None
    return found


def load_example(name):
    """The example module, with ``sacred`` imports renamed to ``experimentkit`` (not run as __main__)."""
    path = os.path.join(EXAMPLES, name + ".py")
    with open(path) as f:
        source = f.read()
    source = re.sub(r"\bfrom sacred\b", "from experimentkit", source)
    module = types.ModuleType(name)
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def pytest_generate_tests(metafunc):
    if "example_test" not in metafunc.fixturenames:
        return
    cases, ids = [], []
    names = sorted(f[:-3] for f in os.listdir(EXAMPLES) if re.match(r"^\d.*\.py$", f))
    for name in names:
        try:
            calls = calls_in_docstring(load_example(name).__doc__)
        except ModuleNotFoundError as exc:
            warnings.warn(f"cannot import {name} ({exc}); its examples are skipped", stacklevel=1)
            continue
        for i, (call, out) in enumerate(calls):
            cases.append((name, call, out))
            ids.append(f"{name}_{i}")
    metafunc.parametrize("example_test", cases, ids=ids, indirect=True)


@pytest.fixture
def example_test(request):
    """``(experiment, argv, expected lines)``, with a freshly loaded example for every case."""
    name, call, out = request.param
    return load_example(name).ex, call, out


@pytest.fixture
def tmpfile():
    with tempfile.NamedTemporaryFile(suffix=".py", delete=False) as f:
        f.content = "import sacred\n"
        f.write(f.content.encode())
        f.flush()
        f.seek(0)
        f.md5sum = hashlib.md5(f.read()).hexdigest()
    yield f
    os.remove(f.name)


@pytest.fixture(autouse=True)
def restore_root_logger():
    """Sacred's tests set the root logger's level (``--loglevel``) and handlers; later tests expect them
    untouched."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture(autouse=True)
def no_gpu_probing():
    """No nvidia-smi probing in these tests (faster), restored afterwards for the rest of the suite."""
    before = SETTINGS.HOST_INFO.INCLUDE_GPU_INFO
    SETTINGS.HOST_INFO.INCLUDE_GPU_INFO = False
    yield
    SETTINGS.HOST_INFO.INCLUDE_GPU_INFO = before
