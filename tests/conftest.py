"""Shared fixtures: database URLs from the environment, a fresh interpreter for import checks."""

import logging
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")


@pytest.fixture
def postgres_url():
    url = os.environ.get("EXPERIMENTKIT_TEST_POSTGRES")
    if not url:
        pytest.skip(
            "PostgreSQL tests need EXPERIMENTKIT_TEST_POSTGRES "
            "(e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )
    return url


@pytest.fixture
def mysql_url():
    url = os.environ.get("EXPERIMENTKIT_TEST_MYSQL")
    if not url:
        pytest.skip(
            "MariaDB/MySQL tests need EXPERIMENTKIT_TEST_MYSQL "
            "(e.g. mysql+pymysql://root@127.0.0.1:3306/test)"
        )
    return url


@pytest.fixture
def python():
    """The interpreter running the tests, for subprocess runs of example scripts."""
    return sys.executable


@pytest.fixture(autouse=True)
def _root_log_level_restored():
    """``--loglevel`` sets the root logger's level for the whole process, as in Sacred; a test that
    passes it must not hide the warnings later tests check for."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
