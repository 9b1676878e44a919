"""The shared store cases against the reference InMemoryStore (persisted through memory+json://)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from store_conformance import StoreConformance

from experimentkit.query import open_store
from experimentkit.query.memory import InMemoryStore


def write_store(path: Path, specs: list) -> str:
    """Write specs as a memory+json store file and return its URL."""
    path.write_text(json.dumps({"runs": specs}, default=str), encoding="utf-8")
    return f"memory+json://{path}"


class TestInMemoryStore(StoreConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def make_store(cls, tmp_path_factory: Any) -> Any:
        def make(specs: list, **store_kwargs: Any) -> InMemoryStore:
            path = tmp_path_factory.mktemp("mem") / "runs.json"
            return open_store(write_store(path, specs), **store_kwargs)

        return make

    @pytest.fixture
    def reopen(self) -> Any:
        return lambda store: InMemoryStore.from_json(store.path)
