"""Every core dependency declared in setup.cfg is imported by the package: a declared dependency is
used or removed."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT_NAMES = {"docopt-ng": "docopt", "jsonpickle": "jsonpickle", "numpy": "numpy"}


def _core_requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lines = parser["options"]["install_requires"].split("\n")
    return [re.split(r"[<>=!~ ;\[]", line.strip(), maxsplit=1)[0] for line in lines if line.strip()]


def test_every_core_dependency_is_imported_somewhere():
    source = "\n".join(p.read_text() for p in (ROOT / "experimentkit").rglob("*.py"))
    requirements = _core_requirements()
    assert set(requirements) == set(IMPORT_NAMES), "update IMPORT_NAMES with the new dependency"
    for requirement in requirements:
        name = IMPORT_NAMES[requirement]
        assert re.search(rf"^\s*(import {name}\b|from {name}\b)", source, re.M), (
            f"{requirement} is declared in setup.cfg but never imported"
        )
