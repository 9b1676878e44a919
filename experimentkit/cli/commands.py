"""The ``experimentkit`` subcommands, each a function of the parsed arguments and an open store."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, Callable

from ..errors import UsageError, suggest
from ..query import Order, open_store, parse_order, parse_row_where, parse_where
from ..query.base import CATALOGUED_ROOTS, parse_key
from . import output

__all__ = ["run"]


def run(args: argparse.Namespace, target: str) -> int:
    """Dispatch to the command; sync needs no store and serve opens its own (on its worker
    thread); commands from ``main.COMMAND_MODULES`` carry their own handler."""
    handler = getattr(args, "handler", None)
    if handler is not None:
        return handler(args, target)
    if args.command == "sync":
        return cmd_sync(args)
    if args.command == "serve":
        return cmd_serve(args, target)
    if args.command == "show":
        _check_show_target(args)
        if args.sweep is not None:  # show --sweep ID is sweep-show ID
            from .sweep import cmd_sweep_show

            args.format = "table" if args.format == "text" else args.format
            return cmd_sweep_show(args, target)
    args.store_target = target
    with open_store(target) as store:
        return _COMMANDS[args.command](args, store)


def _check_show_target(args: argparse.Namespace) -> None:
    """``show`` takes a run or ``--sweep ID``: exactly one of them."""
    if args.sweep is not None and args.run is not None:
        raise UsageError(
            f"show takes a run or --sweep ID, not both (got run {args.run} and --sweep {args.sweep})"
        )
    if args.sweep is None and args.run is None:
        raise UsageError("show needs a run id (experimentkit show 3) or --sweep ID")
    if args.sweep is None and (args.metrics or args.objective or args.min):
        raise UsageError("--metrics, --objective and --min apply to show --sweep ID")


# ---- shared pieces -------------------------------------------------------------------------------
def _orders(args: argparse.Namespace, row: bool = False) -> list:
    orders = []
    for key in args.sort:
        order = parse_order(key, row=row)
        if args.desc and not key.lstrip().startswith("+"):
            order = Order(order.key, descending=True, row=row)
        orders.append(order)
    return orders


def _columns(args: argparse.Namespace, fallback: Callable[[], list], store: Any = None) -> list:
    """``--columns`` (``id`` first, added when missing), else ``fallback()``.  Run keys are
    checked: a malformed key, or a config/info/meta/metrics key no run has, is an error."""
    if not args.columns:
        return fallback()
    columns = [c.strip() for c in args.columns.split(",") if c.strip()]
    if store is not None:
        for column in columns:
            if column == "duration":
                continue
            key = parse_key(column)  # malformed keys fail here, with a suggestion
            if key.root in CATALOGUED_ROOTS and key.path and not store.has_key(key):
                raise store.unknown_key(key)
        columns = list(dict.fromkeys(["id", *columns]))
    return columns


def _confirm_columns(args: argparse.Namespace, store: Any, records: Sequence[Any], columns: list) -> None:
    """A ``--columns`` key that no listed run has may be a stale catalogue entry (runs deleted by
    hand): the store checks, and refuses it as it refuses a key it never had."""
    if args.columns:
        keys = [parse_key(c) for c in columns if c not in ("id", "duration")]
        store.confirm_keys(store.absent_keys(keys, records))


def _sort_columns(args: argparse.Namespace) -> list:
    """The sort keys as ``ls`` columns (``metrics.loss`` for the last value)."""
    columns = []
    for order in _orders(args):
        key = order.parsed_key
        last_metric = key.root == "metrics" and key.aggregate == "last"
        columns.append(f"metrics.{key.path[0]}" if last_metric else key.text)
    return columns


def _listing(args: argparse.Namespace, store: Any) -> list:
    query = store.runs().where(*[parse_where(w) for w in args.where]).order_by(*_orders(args))
    return query.limit(args.limit).all()


def _emit(
    fmt: str, headers: list, rows: list, json_data: Any, out: Any = None, required: Sequence[str] = ()
) -> None:
    out = out or sys.stdout
    if fmt == "json":
        output.write_json(json_data, out)
    elif fmt == "csv":
        output.write_csv(headers, rows, out)
    else:
        out.write(output.render_table(headers, rows, required=required) + "\n")


def _run_rows(records: Sequence[Any], columns: Sequence[str]) -> list:
    rows = [[output.run_value(r, c) for c in columns] for r in records]
    if "status" in columns:  # a run with a file that cannot be read is marked
        at = list(columns).index("status")
        for row, record in zip(rows, records):
            if getattr(record, "damaged", None) and row[at] != "DAMAGED":
                row[at] = f"{row[at]} (damaged)"
    return rows


def _get(store: Any, run_id: str) -> Any:
    return store.get(run_id)


# ---- listing commands ----------------------------------------------------------------------------
def cmd_ls(args: argparse.Namespace, store: Any) -> int:
    records = _listing(args, store)
    sort_columns = _sort_columns(args)
    if args.format == "csv":
        columns = _columns(args, lambda: output.all_columns(records), store)
    else:
        columns = _columns(args, lambda: output.default_columns(records, sort_columns), store)
    required = output.required_columns(sort_columns) if not args.columns else columns
    _confirm_columns(args, store, records, columns)
    _emit(
        args.format, columns, _run_rows(records, columns), [r.to_dict() for r in records], required=required
    )
    return 0


def cmd_export(args: argparse.Namespace, store: Any) -> int:
    records = _listing(args, store)
    columns = _columns(args, lambda: output.all_columns(records), store)
    _confirm_columns(args, store, records, columns)
    data = [r.to_dict() for r in records]
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            _emit(args.format, columns, _run_rows(records, columns), data, out)
        print(f"exported {len(records)} runs to {args.output}", file=sys.stderr)
    else:
        _emit(args.format, columns, _run_rows(records, columns), data)
    return 0


def cmd_rows(args: argparse.Namespace, store: Any) -> int:
    where, order = [parse_row_where(w) for w in args.where], _orders(args, row=True)
    store.check_rows(args.run, args.table, where, order, args.limit)
    rows = store.rows(args.run, args.table, where=where, order=order, limit=args.limit)
    columns = _columns(args, lambda: list(dict.fromkeys(k for r in rows for k in r)))
    _emit(args.format, columns, [[r.get(c) for c in columns] for r in rows], rows)
    return 0


def cmd_best(args: argparse.Namespace, store: Any) -> int:
    name = args.metric[len("metrics.") :] if args.metric.startswith("metrics.") else args.metric
    minimize, note = store.goal_note(name, args.minimize)
    record = store.best(name, minimize=minimize, where=[parse_where(w) for w in args.where])
    print(note, file=sys.stderr)
    if record is None:
        raise UsageError(f"no run matching the filters has a value for the metric '{name}'")
    value = record.metrics[name]["last"] if name in record.metrics else None
    headers = ["id", "experiment", "status", f"metrics.{name}"]
    row = [record.id, record.experiment_name, record.status, value]
    _emit(args.format, headers, [row], record.to_dict())
    return 0


# ---- one run -------------------------------------------------------------------------------------
def _full(record: Any) -> dict:
    data = record.to_dict()
    data.update(
        experiment=record.experiment,
        host=record.host,
        meta=record.meta,
        info=record.info,
        fail_trace=record.fail_trace,
        artifacts=record.artifacts,
        metrics=record.metrics,
        tables=record.tables(),
    )
    return data


def cmd_show(args: argparse.Namespace, store: Any) -> int:
    record = _get(store, args.run)
    if args.format == "json":
        data = _full(record)
        data["captured_out"] = record.captured_out()
        output.write_json(data, sys.stdout)
        return _damage_status(record)
    out = sys.stdout
    ex = record.experiment
    lines = [
        f"run {record.id}  {ex.get('name', '')}  {record.status}"
        + (f" (stored as {record.raw_status})" if record.raw_status != record.status else "")
    ]
    if record.damaged:  # what could not be read, where; the rest is shown
        lines.append("damaged (shown: what could be read; nothing was changed):")
        lines += [f"  {note}" for note in record.damaged]
    for label, value in (
        ("command", record.command),
        ("started", record.start_time),
        ("stopped", record.stop_time),
        ("heartbeat", record.heartbeat),
        ("duration", record.duration),
        ("host", record.host.get("hostname")),
        ("result", record.result),
        ("tags", ", ".join(record.tags)),
        ("notes", record.notes),
        ("comment", record.meta.get("comment")),
        ("script", ex.get("mainfile")),
        ("base_dir", ex.get("base_dir")),
    ):
        if value not in (None, "", []):
            text = value if label == "duration" else output.cell(value)
            lines.append(f"  {label + ':':<11}{text}")
    lines.append("config:")
    lines += [
        f"  {k} = {json.dumps(v, default=str)}" for k, v in sorted(output.flatten(record.config).items())
    ]
    if record.metrics:
        lines.append("metrics:")
        lines.append(
            output.render_table(
                ["  name", "last", "min", "max", "count"],
                [
                    [f"  {n}", s.get("last"), s.get("min"), s.get("max"), s.get("count")]
                    for n, s in sorted(record.metrics.items())
                ],
            )
        )
    for title, value in (
        ("info", record.info),
        ("meta", {k: v for k, v in record.meta.items() if k != "options"}),
    ):
        if value:
            lines.append(f"{title}:")
            lines += [
                f"  {k} = {json.dumps(v, default=str)}" for k, v in sorted(output.flatten(value).items())
            ]
    for title, items in (
        ("sources", [s[0] for s in ex.get("sources") or []]),
        ("dependencies", ex.get("dependencies") or []),
        (
            "repositories",
            [
                f"{r.get('url')} @ {r.get('commit')}" + (" (dirty)" if r.get("dirty") else "")
                for r in ex.get("repositories") or []
            ],
        ),
        ("artifacts", record.artifacts),
        ("tables", record.tables()),
        ("resources", [f"{r.get('path')} (md5 {r.get('md5') or 'unknown'})" for r in record.resources]),
    ):
        if items:
            lines.append(f"{title}: " + ", ".join(map(str, items)))
    if record.fail_trace:
        lines.append("fail trace:")
        lines.append("".join(record.fail_trace).rstrip("\n"))
    captured = record.captured_out()
    if captured:
        lines.append("captured output:")
        lines.append(captured.rstrip("\n"))
    out.write("\n".join(lines) + "\n")
    return _damage_status(record)


def _damage_status(record: Any) -> int:
    """Exit status 1 (and one line on stderr) when part of the run could not be read."""
    if not record.damaged:
        return 0
    print(f"experimentkit: warning: run {record.id} is damaged: {'; '.join(record.damaged)}", file=sys.stderr)
    return 1


def cmd_compare(args: argparse.Namespace, store: Any) -> int:
    if len(args.runs) < 2:
        raise UsageError("compare needs at least two runs")
    records = [_get(store, run_id) for run_id in args.runs]
    flat = [output.flatten(r.config) for r in records]
    keys = sorted({k for f in flat for k in f})

    def differs(key: str) -> bool:
        return len({json.dumps(f.get(key), sort_keys=True, default=str) for f in flat}) > 1

    shown = [k for k in keys if args.all or differs(k)]
    metrics = sorted({n for r in records for n in r.metrics})
    ids = [r.id for r in records]
    if args.format == "json":
        output.write_json(
            {
                "runs": ids,
                "config": {k: {r.id: f.get(k) for r, f in zip(records, flat)} for k in shown},
                "metrics": {n: {r.id: r.metrics.get(n) for r in records} for n in metrics},
            },
            sys.stdout,
        )
        return 0
    config_rows = [[f"config.{k}", *[f.get(k) for f in flat]] for k in shown]
    metric_rows = [
        [f"metrics.{n}", *[(r.metrics.get(n) or {}).get("last") for r in records]] for n in metrics
    ]
    headers = ["key", *[f"run {i}" for i in ids]]
    if args.format == "csv":
        output.write_csv(headers, config_rows + metric_rows, sys.stdout)
        return 0
    if not config_rows:
        print("config: identical" if keys else "config: empty")
    else:
        print(output.render_table(headers, config_rows))
    if metric_rows:
        print()
        print(output.render_table(["metric (last)", *headers[1:]], metric_rows))
    return 0


# ---- annotations ---------------------------------------------------------------------------------
def cmd_tag(args: argparse.Namespace, store: Any) -> int:
    tags = store.add_tags(args.run, args.tags)
    print(f"run {args.run} tags: {', '.join(tags)}")
    return 0


def cmd_untag(args: argparse.Namespace, store: Any) -> int:
    tags = store.remove_tags(args.run, args.tags)
    print(f"run {args.run} tags: {', '.join(tags) or '(none)'}")
    return 0


def cmd_note(args: argparse.Namespace, store: Any) -> int:
    store.get(args.run)
    store.set_note(args.run, args.text)
    print(f"run {args.run} note {'set' if args.text else 'cleared'}")
    return 0


def cmd_delete(args: argparse.Namespace, store: Any) -> int:
    records = [store.get(run_id) for run_id in args.runs]
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("refusing to delete without --yes when stdin is not a terminal")
        listing = ", ".join(f"{r.id} ({r.experiment_name}, {r.status})" for r in records)
        sys.stderr.write(f"Delete {len(records)} run(s): {listing}? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    deleted = store.delete([r.id for r in records])
    print(f"deleted {len(deleted)} run(s): {', '.join(map(str, deleted))}")
    return 0


# ---- other ---------------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace) -> int:
    try:
        from ..sync import sync
    except ImportError as exc:
        raise UsageError(f"sync is not available in this installation ({exc})") from None
    from ..sync import format_results

    if args.discard:
        return _discard_journal(args)
    kwargs = {"fallback_dir": args.fallback_dir} if args.fallback_dir else {}
    if args.force:
        kwargs["force"] = True
    if args.trust:
        kwargs["trust"] = args.trust
    results = sync(**kwargs)
    if results:
        print(format_results(results))
    else:
        print("nothing to sync")
    # Scripts and cron jobs must be able to tell that something is still waiting in the fallback dir.
    return 1 if any(result.status == "failed" for result in results) else 0


def _discard_journal(args: argparse.Namespace) -> int:
    """``sync --discard JOURNAL``: a name in the fallback directory or a path; asks first."""
    from ..sync import _default_dir, discard, format_results

    path = args.discard
    if not os.path.exists(path):
        folder = _default_dir(args.fallback_dir)
        candidate = os.path.join(folder, os.path.basename(path))
        if not os.path.exists(candidate):
            names = [n for n in os.listdir(folder) if n.endswith(".jsonl")] if os.path.isdir(folder) else []
            raise UsageError(f"no journal {path!r} in {folder}{suggest(path, names)}")
        path = candidate
    if not path.endswith(".jsonl"):
        raise UsageError(f"{path!r} is not a fallback journal (*.jsonl)")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("sync --discard deletes undelivered events; confirm with --yes")
        answer = input(f"Delete {path} and the events it has not delivered? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept")
            return 1
    try:
        result = discard(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(format_results([result]))
    return 0


def cmd_rerun(args: argparse.Namespace, store: Any) -> int:
    from .rerun import rerun

    return rerun(
        store.get(args.run),
        python=args.python,
        dry_run=args.dry_run,
        store_target=getattr(args, "store_target", None),
    )


def cmd_plot(args: argparse.Namespace, store: Any) -> int:
    from ..plotting import metric_figure, save_figure

    name = args.metric[len("metrics.") :] if args.metric.startswith("metrics.") else args.metric
    if args.sweep is not None or args.kind == "params":
        from ..sweep.plots import plot_sweep_command

        return plot_sweep_command(args, store, name)
    notes: list = []
    also = [m.strip() for value in getattr(args, "also", []) for m in value.split(",") if m.strip()]
    also = [m[len("metrics.") :] if m.startswith("metrics.") else m for m in also]
    fig = metric_figure(
        store,
        name,
        kind=args.kind,
        runs=args.runs,
        where=[parse_where(w) for w in args.where],
        minimize=args.minimize,
        notes=notes,
        also=also,
    )
    path = save_figure(fig, args.output)
    for note in notes:
        print(note, file=sys.stderr)
    print(f"wrote {path}")
    return 0


def cmd_serve(args: argparse.Namespace, target: str) -> int:
    from ..dashboard.server import serve

    return serve(
        target,
        host=args.host,
        port=args.port,
        open_browser=args.open,
        token=args.token,
        allow_writes=args.allow_writes,
    )


_COMMANDS = {
    "ls": cmd_ls,
    "show": cmd_show,
    "compare": cmd_compare,
    "best": cmd_best,
    "tag": cmd_tag,
    "untag": cmd_untag,
    "note": cmd_note,
    "export": cmd_export,
    "rows": cmd_rows,
    "delete": cmd_delete,
    "rerun": cmd_rerun,
    "plot": cmd_plot,
}
