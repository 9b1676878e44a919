"""``experimentkit export-tensorboard | import-tensorboard | export-mlflow | import-mlflow``.

Argument parsing only; the work is in :mod:`experimentkit.interop` (imported by the handlers).
"""

from __future__ import annotations

import argparse
from typing import Any, Callable

__all__ = ["add_commands"]


def add_commands(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = command("export-tensorboard", "write runs' metrics and configs as TensorBoard event files")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids (default: every run matched)")
    p.add_argument("--logdir", required=True, metavar="DIR", help="TensorBoard logdir to write")
    p.add_argument(
        "--where",
        "-w",
        action="append",
        default=[],
        metavar="EXPR",
        help="filter like 'experimentkit ls --where'",
    )
    p.set_defaults(handler=_export_tensorboard)

    p = command("import-tensorboard", "record the scalars of TensorBoard logdirs as runs")
    p.add_argument("logdir", metavar="LOGDIR")
    p.add_argument("--experiment", metavar="NAME", help="experiment name (default: LOGDIR's name)")
    p.add_argument(
        "--no-attach", action="store_true", help="always make new runs, also for logdirs a recorded run wrote"
    )
    p.set_defaults(handler=_import_tensorboard)

    p = command("import-mlflow", "record the runs of an MLflow tracking store as runs")
    p.add_argument(
        "tracking_uri", metavar="TRACKING_URI", help="e.g. sqlite:///mlflow.db, ./mlruns or http://host:5000"
    )
    p.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="NAME",
        help="only this MLflow experiment (repeatable; default: all)",
    )
    p.set_defaults(handler=_import_mlflow)

    p = command("export-mlflow", "write runs into an MLflow tracking store")
    p.add_argument("tracking_uri", metavar="TRACKING_URI")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids (default: every run matched)")
    p.add_argument("--where", "-w", action="append", default=[], metavar="EXPR")
    p.add_argument(
        "--experiment",
        metavar="NAME",
        help="MLflow experiment to write to (default: each run's experiment name)",
    )
    p.set_defaults(handler=_export_mlflow)


def _selected(store: Any, args: argparse.Namespace) -> list:
    """The runs named (an unknown id is an error naming it), narrowed by ``--where``."""
    from ..query import parse_where

    matched = store.runs().where(*[parse_where(text) for text in args.where]).all()
    if not args.runs:
        return matched
    wanted = [store.get(run_id) for run_id in args.runs]
    keep = {record.id for record in matched}
    return [record for record in wanted if record.id in keep]


def _export_tensorboard(args: argparse.Namespace, target: str) -> int:
    from ..interop.tensorboard import export_runs
    from ..query import open_store

    with open_store(target) as store:
        done = export_runs(_selected(store, args), args.logdir)
    for run_id, directory, points in done:
        print(f"run {run_id}: {points} points -> {directory}")
    print(f"exported {len(done)} run(s); view with: tensorboard --logdir {args.logdir}")
    return 0


def _import_tensorboard(args: argparse.Namespace, target: str) -> int:
    from ..interop.tensorboard import import_logdir

    outcomes = import_logdir(args.logdir, target, experiment=args.experiment, attach=not args.no_attach)
    for outcome in outcomes:
        why = f" ({outcome.reason})" if outcome.reason else ""
        media = f", {outcome.media} images/histograms" if outcome.media else ""
        print(
            f"{outcome.action} {outcome.directory}: run {outcome.run_id}, {outcome.points} points{media}{why}"
        )
    return 0


def _import_mlflow(args: argparse.Namespace, target: str) -> int:
    from ..interop.mlflow import import_mlflow

    outcomes = import_mlflow(args.tracking_uri, target, experiments=args.experiment or None)
    for outcome in outcomes:
        why = f" ({outcome.reason})" if outcome.reason else ""
        print(
            f"{outcome.action} mlflow run {outcome.source_id}: run {outcome.run_id}, "
            f"{outcome.points} points{why}"
        )
    print(
        f"{sum(o.action == 'imported' for o in outcomes)} imported, "
        f"{sum(o.action == 'skipped' for o in outcomes)} already there"
    )
    return 0


def _export_mlflow(args: argparse.Namespace, target: str) -> int:
    from ..interop.mlflow import export_mlflow
    from ..query import open_store

    with open_store(target) as store:
        outcomes = export_mlflow(_selected(store, args), args.tracking_uri, experiment=args.experiment)
    for outcome in outcomes:
        why = f" ({outcome.reason})" if outcome.reason else ""
        print(
            f"{outcome.action} run {outcome.run_id}: mlflow run {outcome.source_id}, "
            f"{outcome.points} points{why}"
        )
    return 0
