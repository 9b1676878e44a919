"""``ex.optimize`` / ``--optuna N``: an Optuna study proposes configs, each trial is a recorded run.

The trials run in this process (Optuna's ``n_jobs`` threads; each run sees its own active run and
gets its own observer copies, see :mod:`experimentkit.context`).  Every ``log_scalar`` of the
objective metric is reported to the trial as an intermediate value, so Optuna's pruner can stop a
bad trial: its run ends with the status PRUNED (not FAILED).  The objective value is the metric's
last logged value (or the run's numeric result when it never logged it).  The trials form one
sweep (``meta.sweep``); the study's storage may be the same SQL database as the runs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from typing import Any, Optional

from ..errors import TrialPruned, UsageError
from .records import books_for_observers, utc_iso

__all__ = ["optimize", "TrialPruned", "optimize_commandline"]


class _RunFailed(Exception):
    """A trial's run failed: the trial is marked failed and the study goes on."""


def _require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UsageError("--optuna needs optuna: pip install 'experimentkit[optuna]'") from None
    return optuna


def _suggest(trial: Any, key: str, spec: Any) -> Any:
    from .space import RANDOM_KINDS, _random_dimension

    if isinstance(spec, (list, tuple)):
        return trial.suggest_categorical(key, list(spec))
    if isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)) in RANDOM_KINDS:
        kind, args = _random_dimension(key, spec)
        if kind == "choice":
            return trial.suggest_categorical(key, list(args))
        if kind == "int":
            return trial.suggest_int(key, int(args[0]), int(args[1]))
        return trial.suggest_float(key, float(args[0]), float(args[1]), log=kind == "loguniform")
    return spec  # a fixed value


def _check_space(space: Mapping) -> None:
    from .space import RANDOM_KINDS, _random_dimension

    if not space:
        raise UsageError("optimize needs a space, e.g. {'lr': {'loguniform': [1e-4, 1e-1]}}")
    for key, spec in space.items():
        if isinstance(spec, (list, tuple)) and not spec:
            raise UsageError(f"sweep '{key}': the axis has no values")
        if isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)) in RANDOM_KINDS:
            _random_dimension(str(key), spec)


def _first_point(space: Mapping) -> dict:
    """A config of the space's first values, to check the keys before any trial runs."""
    point = {}
    for key, spec in space.items():
        if isinstance(spec, (list, tuple)):
            point[key] = spec[0]
        elif isinstance(spec, Mapping) and len(spec) == 1:
            ((kind, args),) = spec.items()
            args = list(args) if isinstance(args, (list, tuple)) else [args]
            point[key] = int(args[0]) if kind == "int" else args[0]
        else:
            point[key] = spec
    return point


def optimize(
    ex: Any,
    objective: str,
    trials: int,
    space: Mapping,
    direction: str = "minimize",
    *,
    n_jobs: int = 1,
    storage: Any = None,
    study_name: Optional[str] = None,
    sampler: Any = None,
    pruner: Any = None,
    command: Optional[str] = None,
    named_configs: Any = (),
    options: Optional[dict] = None,
    command_line: Optional[list] = None,
    books: Optional[list] = None,
) -> Any:
    """Run ``trials`` Optuna trials of ``ex``; returns the ``optuna.Study``.

    ``objective`` is a metric name (``val.accuracy``); ``space`` maps config keys to a list
    (categorical) or ``{"uniform"|"loguniform"|"int"|"choice": [...]}``; ``storage`` is any Optuna
    storage URL (``sqlite:///runs.db`` may be the runs' own database).
    """
    from ..config.paths import set_by_dotted_path
    from .commandline import check_direction
    from .runner import check_tasks
    from .space import Task

    optuna = _require_optuna()
    direction = check_direction(direction)
    if int(trials) < 1:
        raise UsageError(f"--optuna needs at least 1 trial, not {trials}")
    objective = objective[len("metrics.") :] if objective.startswith("metrics.") else objective
    _check_space(space)
    options = dict(options or {})
    named = [named_configs] if isinstance(named_configs, str) else list(named_configs or ())
    first: dict = {}
    for key, value in _first_point(space).items():
        set_by_dotted_path(first, key, value)
    check_tasks(ex, command, [Task(0, {}, first, named)], options)
    books = books_for_observers(ex.observers) if books is None else books
    if not books:
        raise UsageError("a sweep records its runs: add an observer (-F DIR, -s URL or -m DB)")
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            direction=direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UsageError(
            f"cannot open the Optuna storage {_safe(storage)}: {type(exc).__name__}: {first_line}"
        ) from None
    record = {
        "experiment": ex.path,
        "command": command,
        "command_line": command_line or list(sys.argv),
        "space": {"optuna": {k: v if not isinstance(v, tuple) else list(v) for k, v in space.items()}},
        "tasks": [],
        "total": int(trials),
        "launcher": "optuna",
        "jobs": int(n_jobs),
        "launcher_options": {"study": study.study_name, "storage": _safe(storage)},
        "status": "RUNNING",
        "start_time": utc_iso(),
        "stop_time": None,
        "counts": {},
        "objective": objective,
        "direction": direction,
    }
    sweep_id = None
    for book in books:
        sweep_id = book.create(record, sweep_id)
    study.set_user_attr("experimentkit_sweep", sweep_id)
    lock = threading.Lock()
    counts: dict = {}
    tasks: list = []

    def run_trial(trial: Any) -> float:
        values = {key: _suggest(trial, key, spec) for key, spec in space.items()}
        updates: dict = {}
        for key, value in values.items():
            set_by_dotted_path(updates, key, value)
        run = ex.resolve(
            command,
            updates,
            named,
            options=options,
            meta_info={
                "sweep": {"id": sweep_id, "index": trial.number},
                "optuna": {"study": study.study_name, "trial": trial.number},
            },
        )
        if n_jobs != 1 and run.capture_mode != "no":
            run.capture_mode = "thread"
        last: list = []
        original = run.log_scalar

        def log_scalar(name: str, value: Any, step: Any = None) -> None:
            original(name, value, step)
            if name == objective:
                number = float(value)
                last[:] = [number]
                trial.report(number, run._next_step[name] - 1)
                if trial.should_prune():
                    raise TrialPruned(f"pruned by Optuna at step {run._next_step[name] - 1}")

        run.log_scalar = log_scalar
        status = "FAILED"
        try:
            run()
            status = run.status
        except TrialPruned:
            status = "PRUNED"
            raise optuna.TrialPruned() from None
        except KeyboardInterrupt:
            status = "INTERRUPTED"
            raise
        except Exception as exc:
            raise _RunFailed(f"run {run._id} failed: {type(exc).__name__}: {exc}") from None
        finally:
            with lock:
                counts[status] = counts.get(status, 0) + 1
                tasks.append(
                    {
                        "index": trial.number,
                        "values": values,
                        "updates": updates,
                        "named_configs": named,
                        "run_id": run._id,
                    }
                )
                for book in books:
                    _update(book, sweep_id, {"counts": dict(counts), "tasks": list(tasks)})
        if last:
            return last[0]
        if isinstance(run.result, (int, float)) and not isinstance(run.result, bool):
            return float(run.result)
        raise _RunFailed(f"run {run._id} never logged '{objective}' and returned no number")

    status = "COMPLETED"
    try:
        study.optimize(run_trial, n_trials=int(trials), n_jobs=int(n_jobs), catch=(_RunFailed,))
    except KeyboardInterrupt:
        status = "INTERRUPTED"
    if status == "COMPLETED" and counts.get("FAILED"):
        status = "FAILED"
    for book in books:
        _update(
            book,
            sweep_id,
            {"status": status, "stop_time": utc_iso(), "counts": dict(counts), "tasks": list(tasks)},
        )
    if status == "INTERRUPTED":
        raise KeyboardInterrupt
    return study


def _safe(storage: Any) -> Optional[str]:
    if storage is None or not isinstance(storage, str):
        return None if storage is None else type(storage).__name__
    from ..backends.sql.observer import _safe_url

    return _safe_url(storage) if "://" in storage else storage


def _update(book: Any, sweep_id: Any, changes: dict) -> None:
    from .runner import _safe_update

    _safe_update(book, sweep_id, changes)


def optimize_commandline(ex: Any, parsed: Any, flags: Any, argv: list, jobs: int, launcher_args: dict) -> int:
    """``--optuna N``: the space from the ``with`` axes (categorical) and the sweep file's random
    dimensions; ``--launcher-arg storage=URL`` / ``study=NAME``."""
    from .records import books_for_options
    from .space import Axis, load_sweep_file, space_from_words

    if not flags.objective:
        raise UsageError("--optuna needs --objective=METRIC (and --direction=maximize|minimize)")
    unknown = set(launcher_args) - {"storage", "study"}
    if unknown:
        raise UsageError(
            f"--optuna accepts --launcher-arg storage=URL and study=NAME, not {sorted(unknown)[0]}"
        )
    try:
        trials = int(flags.optuna)
    except ValueError:
        raise UsageError(f"--optuna needs a number of trials, not {flags.optuna!r}") from None
    built = space_from_words(list(parsed.options.get("UPDATE") or []))
    if flags.sweep_file:
        built = load_sweep_file(flags.sweep_file, built)
    space: dict = {}
    named: list = []
    fixed_words = []
    for item in built.items:
        if isinstance(item, Axis):
            if item.key is None:
                raise UsageError("--optuna cannot sweep named configs; give them without commas")
            space[item.key] = list(item.values)
        elif hasattr(item, "key"):
            space[item.key] = item.value
        else:
            fixed_words.append(item)
    from ..config import parse_with_args
    from ..config.paths import iterate_flattened

    fixed_updates, named = parse_with_args(fixed_words)
    for key, value in iterate_flattened(fixed_updates):
        space.setdefault(key, value)
    for key, (kind, args) in built.random.items():
        space[key] = {kind: list(args)}
    options = dict(parsed.options)
    books = books_for_options(options) or None
    try:
        study = optimize(
            ex,
            flags.objective,
            trials,
            space,
            flags.direction or "minimize",
            n_jobs=jobs,
            storage=launcher_args.get("storage"),
            study_name=launcher_args.get("study"),
            command=parsed.command,
            named_configs=named,
            options=options,
            command_line=list(argv),
            books=books,
        )
    except KeyboardInterrupt:
        print("Interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    sweep_id = study.user_attrs.get("experimentkit_sweep")
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    states: dict = {}
    for t in study.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    print(f"Sweep {sweep_id} (Optuna study {study.study_name}): {summary}", file=sys.stderr)
    if completed:
        print(f"  best: {flags.objective}={study.best_value} with {study.best_params}", file=sys.stderr)
    return 0 if not states.get("FAIL") else 1
