"""SQLAlchemy ORM classes over the SQL store's tables, for code written against Sacred's
``sacred.observers.sql_bases`` (``session.query(Run)...``).

The tables are :mod:`.schema`'s (Sacred's names and columns plus ours); the classes are mapped onto
them imperatively, so there is one definition of the layout.  ``to_json()`` gives each row in the shape
Sacred's classes give it.  The observer and the store do not use these classes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import orm

from . import schema

__all__ = [
    "Base",
    "Host",
    "Experiment",
    "Run",
    "Source",
    "Resource",
    "Repository",
    "Dependency",
    "Artifact",
    "Metric",
]

mapper_registry = orm.registry(metadata=schema.metadata)


class Base:
    """Common base of the mapped classes; ``Base.metadata`` holds every table of the store.

    Each class declares (annotations only) the columns and relationships the mapping below gives it,
    so code using them is type-checked."""

    metadata = schema.metadata
    registry = mapper_registry

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.to_json()!r}>"

    def to_json(self) -> Any:  # overridden by each class
        raise NotImplementedError


def _loads(text: Any) -> Any:
    return None if text is None else json.loads(text)


class Source(Base):
    """A source file of an experiment (content as text, deduplicated by name and md5)."""

    filename: str | None
    md5sum: str | None

    def to_json(self) -> list:
        return [self.filename, self.md5sum]


class Dependency(Base):
    """A package an experiment imported, with its version."""

    name: str | None
    version: str | None

    def to_json(self) -> str:
        return f"{self.name}=={self.version}"


class Repository(Base):
    """A version-control state of an experiment's sources."""

    url: str | None
    commit: str | None
    dirty: bool | None

    def to_json(self) -> dict:
        return {"url": self.url, "commit": self.commit, "dirty": self.dirty}


class Resource(Base):
    """An input file a run opened (content as bytes, deduplicated by name and md5)."""

    filename: str | None
    md5sum: str | None

    def to_json(self) -> dict:
        return {"filename": self.filename, "md5sum": self.md5sum}


class Artifact(Base):
    """A file a run produced; ``filename`` is its name in the run."""

    artifact_id: int
    filename: str | None

    def to_json(self) -> dict:
        return {"_id": self.artifact_id, "filename": self.filename}


class Host(Base):
    """A machine runs executed on."""

    cpu: str | None
    hostname: str | None
    os: str | None
    os_info: str | None
    python_version: str | None

    def to_json(self) -> dict:
        return {
            "cpu": self.cpu,
            "hostname": self.hostname,
            "os": [self.os, self.os_info],
            "python_version": self.python_version,
        }


class Experiment(Base):
    """An experiment (name plus sources, dependencies and repositories)."""

    name: str | None
    base_dir: str | None
    mainfile: str | None
    sources: list[Source]
    dependencies: list[Dependency]
    repositories: list[Repository]

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "name": self.name,
            "base_dir": self.base_dir,
            "sources": [s.to_json() for s in self.sources],
            "dependencies": [d.to_json() for d in self.dependencies],
        }
        if self.repositories:
            out["repositories"] = [r.to_json() for r in self.repositories]
        if self.mainfile:
            out["mainfile"] = self.mainfile
        return out


class Metric(Base):
    """One logged metric point (experimentkit stores metrics in SQL; Sacred did not)."""

    name: str
    step: int | None
    value: float | None
    timestamp: datetime | None

    def to_json(self) -> dict:
        return {"name": self.name, "step": self.step, "value": self.value, "timestamp": self.timestamp}


class Run(Base):
    """A run; ``config``, ``info`` and ``meta`` columns hold JSON text."""

    run_id: str  # never NULL: the observer (and Sacred's) writes it with the row
    command: str | None
    start_time: datetime | None
    heartbeat: datetime | None
    stop_time: datetime | None
    queue_time: datetime | None
    status: str | None
    result: float | None
    meta: str | None
    config: str | None
    captured_out: str | None
    fail_trace: str | None
    resources: list[Resource]
    artifacts: list[Artifact]
    metrics: list[Metric]
    host: Host | None
    experiment: Experiment | None

    def to_json(self) -> dict:
        from .observer import _public_id

        return {
            "_id": _public_id(self.run_id),
            "command": self.command,
            "start_time": self.start_time,
            "heartbeat": self.heartbeat,
            "stop_time": self.stop_time,
            "queue_time": self.queue_time,
            "status": self.status,
            "result": self.result,
            "meta": _loads(self.meta),
            "resources": [r.to_json() for r in self.resources],
            "artifacts": [a.to_json() for a in self.artifacts],
            "host": self.host.to_json() if self.host is not None else None,
            "experiment": self.experiment.to_json() if self.experiment is not None else None,
            "config": _loads(self.config),
            "captured_out": self.captured_out,
            "fail_trace": self.fail_trace,
        }


mapper_registry.map_imperatively(Source, schema.source)
mapper_registry.map_imperatively(Dependency, schema.dependency)
mapper_registry.map_imperatively(Repository, schema.repository)
mapper_registry.map_imperatively(Resource, schema.resource)
mapper_registry.map_imperatively(Artifact, schema.artifact)
mapper_registry.map_imperatively(Host, schema.host)
mapper_registry.map_imperatively(Metric, schema.metric)
mapper_registry.map_imperatively(
    Experiment,
    schema.experiment,
    properties={
        "sources": orm.relationship(Source, secondary=schema.experiments_sources, viewonly=True),
        "dependencies": orm.relationship(
            Dependency, secondary=schema.experiments_dependencies, viewonly=True
        ),
        "repositories": orm.relationship(
            Repository, secondary=schema.experiments_repositories, viewonly=True
        ),
    },
)
mapper_registry.map_imperatively(
    Run,
    schema.run,
    properties={
        "host": orm.relationship(Host, viewonly=True),
        "experiment": orm.relationship(Experiment, viewonly=True),
        "resources": orm.relationship(Resource, secondary=schema.runs_resources, viewonly=True),
        "artifacts": orm.relationship(
            Artifact,
            viewonly=True,
            primaryjoin=schema.run.c.run_id == schema.artifact.c.run_id,
            order_by=schema.artifact.c.artifact_id,
        ),
        "metrics": orm.relationship(
            Metric,
            viewonly=True,
            primaryjoin=schema.run.c.run_id == orm.foreign(schema.metric.c.run_id),
            order_by=schema.metric.c.metric_id,
        ),
    },
)
