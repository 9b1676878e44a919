"""MLflow both ways, through MLflow's own client (``pip install 'experimentkit[mlflow]'``).

What maps to what:

=====================  ==================================================================
MLflow                 experimentkit
=====================  ==================================================================
experiment name        experiment name
params (strings)       config, typed back (``"0.1"`` → 0.1, ``"true"`` → True); dotted
                       names nest (``model.lr`` → ``config.model.lr``)
metrics (history)      metrics, with steps and timestamps (MLflow keeps milliseconds)
tags                   ``info.mlflow.tags`` (all), and run tags: ``k`` for ``k=""/true``,
                       else ``k=v``; ``mlflow.note.content`` ↔ the run's note
status                 FINISHED ↔ COMPLETED, FAILED ↔ FAILED, KILLED ↔ INTERRUPTED
start/end time         start/stop time
artifacts              artifacts (paths kept, sub-directories included)
=====================  ==================================================================

Both directions are idempotent: an imported run remembers its MLflow run
(``meta.imported_from``), an exported one carries the tag ``experimentkit.uid``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

from ..errors import UsageError, suggest
from .recording import (
    ForeignRun,
    flatten,
    imported_sources,
    record,
    to_datetime,
    to_epoch,
    unflatten,
)

__all__ = ["import_mlflow", "export_mlflow", "Outcome", "typed_param"]

_FROM_MLFLOW = {
    "FINISHED": "COMPLETED",
    "FAILED": "FAILED",
    "KILLED": "INTERRUPTED",
    "RUNNING": "RUNNING",
    "SCHEDULED": "RUNNING",
}
_TO_MLFLOW = {
    "COMPLETED": "FINISHED",
    "FAILED": "FAILED",
    "INTERRUPTED": "KILLED",
    "TIMEOUT": "KILLED",
    "DEAD": "FAILED",
}
_NOTE_TAG = "mlflow.note.content"
_UID_TAG = "experimentkit.uid"
_PARAM_LIMIT = 6000  # MLflow's limit on a param value's length
_BATCH = 1000  # MLflow's limit on metrics per log_batch call


@dataclass
class Outcome:
    """What happened to one run: ``action`` is imported, exported or skipped."""

    action: str
    source_id: str  # the MLflow run id
    run_id: Optional[str]  # the experimentkit run id
    points: int
    reason: str = ""


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UsageError("MLflow import/export needs MLflow: pip install 'experimentkit[mlflow]'") from None
    return MlflowClient(tracking_uri=tracking_uri)


def _safe_uri(uri: str) -> str:
    """The tracking URI without its password (it is stored in ``meta.imported_from``)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def typed_param(text: str) -> Any:
    """An MLflow param (always a string) as the value it most likely was."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _experiments(client: Any, names: Optional[list]) -> list:
    found = client.search_experiments()
    if not names:
        return found
    by_name = {experiment.name: experiment for experiment in found}
    for name in names:
        if name not in by_name:
            hint = suggest(name, list(by_name))
            raise UsageError(
                f"no MLflow experiment named {name!r}{hint}; it has: {', '.join(sorted(by_name)) or 'none'}"
            )
    return [by_name[name] for name in names]


def _all_runs(client: Any, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _artifacts(client: Any, run_id: str, into: str) -> list:
    """Download every artifact of an MLflow run; ``[(relative path, local file)]``."""
    files, pending = [], [None]
    while pending:
        path = pending.pop()
        for entry in client.list_artifacts(run_id, path):
            if entry.is_dir:
                pending.append(entry.path)
            else:
                files.append((entry.path, client.download_artifacts(run_id, entry.path, into)))
    return sorted(files)


def _tags(tags: dict) -> tuple:
    user = {k: v for k, v in tags.items() if not k.startswith("mlflow.") and k != _UID_TAG}
    labels = [k if v in ("", "true", "True") else f"{k}={v}" for k, v in sorted(user.items())]
    return labels, user


def import_mlflow(tracking_uri: str, target: str, experiments: Optional[list] = None) -> list:
    """Record every run of the MLflow store at ``tracking_uri`` (or of the named experiments) into
    the store ``target``; runs imported before are skipped."""
    client = _client(tracking_uri)
    safe = _safe_uri(tracking_uri)
    seen = imported_sources(target)
    outcomes = []
    for experiment in _experiments(client, experiments):
        for run in _all_runs(client, experiment.experiment_id):
            mlflow_id = run.info.run_id
            source = f"mlflow:{safe}#{mlflow_id}"
            if source in seen:
                outcomes.append(Outcome("skipped", mlflow_id, seen[source], 0, "imported before"))
                continue
            folder = tempfile.mkdtemp(prefix="experimentkit-mlflow-")
            try:  # recording copies the artifacts, so the download folder can go afterwards
                foreign = _read_run(client, experiment.name, run, source, folder)
                run_id = record(target, foreign)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            outcomes.append(Outcome("imported", mlflow_id, run_id, foreign.points))
    return outcomes


def _read_run(client: Any, experiment: str, run: Any, source: str, folder: str) -> ForeignRun:
    """One MLflow run as a :class:`ForeignRun` (artifacts downloaded into ``folder``)."""
    metrics = {}
    for key in run.data.metrics:
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))
        metrics[key] = (
            [m.step for m in history],
            [m.value for m in history],
            [m.timestamp / 1000.0 for m in history],
        )
    labels, user_tags = _tags(run.data.tags)
    return ForeignRun(
        source=source,
        experiment=experiment,
        config=unflatten({k: typed_param(v) for k, v in run.data.params.items()}),
        start_time=to_datetime(run.info.start_time / 1000.0),
        stop_time=to_datetime(run.info.end_time / 1000.0) if run.info.end_time else None,
        status=_FROM_MLFLOW.get(run.info.status, "COMPLETED"),
        metrics=metrics,
        info={"mlflow": {"run_id": run.info.run_id, "run_name": run.info.run_name, "tags": user_tags}},
        tags=labels,
        notes=run.data.tags.get(_NOTE_TAG, ""),
        artifacts=_artifacts(client, run.info.run_id, folder),
    )


def export_mlflow(records: list, tracking_uri: str, experiment: Optional[str] = None) -> list:
    """Write ``records`` into the MLflow store at ``tracking_uri``; runs exported before (same
    ``experimentkit.uid`` tag) and runs that were imported from that same store are skipped."""
    client = _client(tracking_uri)
    safe = _safe_uri(tracking_uri)
    outcomes = []
    for run in records:
        uid = run.meta.get("uid") or f"{run.id}"
        origin = run.meta.get("imported_from")
        if isinstance(origin, str) and origin.startswith(f"mlflow:{safe}#"):
            outcomes.append(
                Outcome("skipped", origin.rsplit("#", 1)[1], run.id, 0, "it came from this MLflow store")
            )
            continue
        name = experiment or run.experiment_name or "Default"
        found = client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else client.create_experiment(name)
        existing = client.search_runs([experiment_id], f"tags.`{_UID_TAG}` = '{uid}'", max_results=1)
        if existing:
            outcomes.append(Outcome("skipped", existing[0].info.run_id, run.id, 0, "exported before"))
            continue
        outcomes.append(_export_run(client, experiment_id, run, uid))
    return outcomes


def _export_run(client: Any, experiment_id: str, run: Any, uid: str) -> Outcome:
    from mlflow.entities import Metric, Param, RunTag

    tags = {_UID_TAG: str(uid), **{label.partition("=")[0]: label.partition("=")[2] for label in run.tags}}
    if run.notes:
        tags[_NOTE_TAG] = run.notes
    start_ms = int(round(to_epoch(run.start_time) * 1000)) if run.start_time else None
    created = client.create_run(
        experiment_id, start_time=start_ms, run_name=f"{run.id}_{run.experiment_name or 'run'}"
    )
    mlflow_id = created.info.run_id
    params = [Param(key, str(value)[:_PARAM_LIMIT]) for key, value in flatten(run.config).items()]
    client.log_batch(mlflow_id, params=params, tags=[RunTag(k, v) for k, v in tags.items()])
    points = 0
    for name in run.metric_names():
        series = run.metric(name)
        batch = [
            Metric(
                name,
                float("nan") if value is None else float(value),
                int(round(to_epoch(moment) * 1000)),
                int(step),
            )
            for step, value, moment in zip(series.steps, series.values, series.timestamps)
        ]
        for begin in range(0, len(batch), _BATCH):
            client.log_batch(mlflow_id, metrics=batch[begin : begin + _BATCH])
        points += len(batch)
    folder = tempfile.mkdtemp(prefix="experimentkit-mlflow-")
    try:
        for name in run.artifacts:
            target = os.path.join(folder, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)  # names may hold folders
            local = run.copy_artifact(name, target)
            client.log_artifact(mlflow_id, str(local), os.path.dirname(name) or None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    end_ms = int(round(to_epoch(run.stop_time) * 1000)) if run.stop_time else None
    status = _TO_MLFLOW.get(run.status)
    if status is not None:
        client.set_terminated(mlflow_id, status=status, end_time=end_ms)
    return Outcome("exported", mlflow_id, run.id, points)
