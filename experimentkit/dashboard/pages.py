"""HTML rendering of the dashboard pages.

Functions here only turn already-loaded data into markup; they never touch a store.  The one rule:
every value that comes from a run (config, output, tags, names, ids, error messages) passes through
:func:`esc` (``html.escape`` with quotes) before it reaches the page, and every id or name put in a
URL is percent-encoded first.  There is no inline script, so the Content Security Policy can forbid
all scripts.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Optional
from urllib.parse import quote, urlencode

from ..cli.output import cell
from . import svg

__all__ = ["esc", "run_href", "artifact_href", "page", "error_page", "run_list_page", "run_page",
           "compare_page", "progress_page"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1f2328}
header{background:#24292f;padding:8px 16px}header a{color:#fff;margin-right:16px;text-decoration:none}
main{padding:12px 16px}h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#f6f8fa}tr:hover td{background:#f6f8fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:480px;white-space:pre-wrap}
.error{background:#ffebe9;border:1px solid #ff8182;padding:8px;margin:8px 0}
.status{font-weight:600}.s-DEAD{color:#fff;background:#cf222e;padding:0 4px}
.s-FAILED{color:#cf222e}.s-COMPLETED{color:#1a7f37}.s-RUNNING{color:#0969da}
.s-INTERRUPTED,.s-TIMEOUT{color:#9a6700}
.tree,.tree ul{list-style:none;padding-left:16px;margin:0}.tree .k{color:#8250df}
.tag{background:#ddf4ff;border-radius:8px;padding:0 6px;margin-right:4px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0}
figcaption{font-weight:600}svg.chart{font-size:10px;background:#fff}
form.query textarea{width:40em;height:3.2em}form.query label{margin-right:12px}
.muted{color:#656d76}
"""


def esc(value: Any) -> str:
    """Escaped text of a value: ``None`` is empty, floats short, dicts/lists as JSON."""
    return escape(cell(value))


def _full(value: Any) -> str:
    """Escaped complete text of a value (no shortening), for detail views."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, _dt.datetime):
        return escape(value.strftime("%Y-%m-%d %H:%M:%S"))
    return escape(json.dumps(value, default=str))


def run_href(run_id: Any) -> str:
    return "/run/" + quote(str(run_id), safe="")


def artifact_href(run_id: Any, name: str) -> str:
    return f"{run_href(run_id)}/artifact/{quote(name, safe='')}"


def _time(value: Optional[_dt.datetime]) -> str:
    return escape(value.strftime("%Y-%m-%d %H:%M:%S")) if value else ""


def _duration(value: Optional[_dt.timedelta]) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _status(record: Any) -> str:
    return f'<span class="status s-{escape(record.status)}">{escape(record.status)}</span>'


def _tags(tags: Sequence[Any]) -> str:
    return "".join(f'<span class="tag">{esc(t)}</span>' for t in tags)


def _num_class(value: Any) -> str:
    return ' class="num"' if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def page(title: str, body: str) -> bytes:
    """A whole document around ``body`` (``title`` is escaped here)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)} · experimentkit</title><style>{_CSS}</style></head><body>"
            '<header><a href="/">runs</a><a href="/progress">progress</a></header>'
            f"<main>{body}</main></body></html>\n").encode()


def error_page(status: int, message: str) -> bytes:
    """The page for 4xx/5xx answers: the one-line message, escaped, and nothing else."""
    return page(f"{status}", f"<h1>{status}</h1><p class=\"error\">{escape(message)}</p>")


def _tree(value: Any) -> str:
    """Nested dicts as a nested list; leaves as JSON text."""
    if isinstance(value, Mapping) and value:
        items = "".join(f'<li><span class="k">{escape(str(k))}</span>: {_tree(v)}</li>'
                        for k, v in value.items())
        return f'<ul class="tree">{items}</ul>'
    return _full(value)


def _query_form(form: Mapping[str, str], error: Optional[str]) -> str:
    def field(name: str) -> str:
        return escape(form.get(name, ""))

    parts = [
        '<form class="query" method="get" action="/">',
        f'<label>where <textarea name="where" placeholder="config.lr &lt; 0.05 &amp;&amp; '
        f'status == COMPLETED">{field("where")}</textarea></label>',
        f'<label>sort <input name="sort" value="{field("sort")}" '
        f'placeholder="-metrics.val.accuracy"></label>',
        f'<label>limit <input name="limit" size="5" value="{field("limit")}"></label>',
        f'<label>columns <input name="columns" value="{field("columns")}" '
        f'placeholder="config.lr,config.batch"></label>',
        '<button type="submit">show</button></form>',
    ]
    if error:
        parts.append(f'<p class="error">{escape(error)}</p>')
    return "".join(parts)


def run_list_page(records: Sequence[Any], columns: Sequence[str], values: Sequence[Sequence[Any]],
                  form: Mapping[str, str], total: Optional[int], error: Optional[str] = None
                  ) -> bytes:
    """The run table; ``values[i]`` holds the ``columns`` of ``records[i]``."""
    body = ["<h1>Runs</h1>", _query_form(form, error)]
    if error is None:
        shown = f"{len(records)} of {total} runs" if total is not None else f"{len(records)} runs"
        body.append(f'<p class="muted">{escape(shown)}</p>')
        head = "".join(f"<th>{escape(c)}</th>" for c in
                       ["", "id", "experiment", "status", "start (UTC)", "duration", "tags",
                        *columns])
        rows = []
        for record, row in zip(records, values):
            cells = [
                f'<td><input type="checkbox" name="ids" value="{escape(str(record.id))}"></td>',
                f'<td><a href="{escape(run_href(record.id))}">{escape(str(record.id))}</a></td>',
                f"<td>{esc(record.experiment_name)}</td>", f"<td>{_status(record)}</td>",
                f"<td>{_time(record.start_time)}</td>",
                f'<td class="num">{_duration(record.duration)}</td>',
                f"<td>{_tags(record.tags)}</td>",
            ]
            cells += [f"<td{_num_class(v)}>{esc(v)}</td>" for v in row]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        body.append('<form method="get" action="/compare">'
                    f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                    '<p><button type="submit">compare selected</button></p></form>')
    return page("runs", "".join(body))


def _summary(record: Any) -> str:
    rows = [("status", _status(record) + (f" (stored as {escape(record.raw_status)})"
                                          if record.raw_status != record.status else "")),
            ("experiment", esc(record.experiment_name)), ("command", esc(record.command)),
            ("started", _time(record.start_time)), ("stopped", _time(record.stop_time)),
            ("heartbeat", _time(record.heartbeat)), ("duration", _duration(record.duration)),
            ("host", esc(record.host.get("hostname"))), ("result", _full(record.result)),
            ("tags", _tags(record.tags)), ("notes", escape(record.notes or "")),
            ("comment", esc(record.meta.get("comment")))]
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _experiment(ex: Mapping[str, Any]) -> str:
    parts = ["<table>"]
    for key in ("name", "mainfile", "base_dir"):
        parts.append(f"<tr><th>{key}</th><td>{esc(ex.get(key))}</td></tr>")
    sources = ", ".join(esc(s[0] if isinstance(s, (list, tuple)) and s else s)
                        for s in ex.get("sources") or [])
    deps = ", ".join(esc(d) for d in ex.get("dependencies") or [])
    repos = "<br>".join(
        f"{esc(r.get('url'))} @ {esc(r.get('commit'))}{' (dirty)' if r.get('dirty') else ''}"
        for r in ex.get("repositories") or [] if isinstance(r, Mapping))
    for key, text in (("sources", sources), ("dependencies", deps), ("git", repos)):
        parts.append(f"<tr><th>{key}</th><td>{text}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def _metrics(record: Any, series: Mapping[str, Any]) -> str:
    if not record.metrics:
        return "<p class=\"muted\">no metrics</p>"
    head = "<tr><th>metric</th><th>last</th><th>min</th><th>max</th><th>count</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f'<td class="num">{esc(s.get(k))}</td>' for k in ("last", "min", "max", "count"))
        + "</tr>" for name, s in sorted(record.metrics.items()))
    charts = "".join(
        f"<figure><figcaption>{escape(name)}</figcaption>"
        f"{svg.line_chart(s.steps, s.values, name)}</figure>"
        for name, s in sorted(series.items()))
    return f'<table>{head}{rows}</table><div class="charts">{charts}</div>'


def _sample_table(record: Any, name: str, rows: Sequence[Mapping[str, Any]], more: bool,
                  sort: str) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    anchor = "table-" + quote(name, safe="")

    def header(column: str) -> str:
        key = f"-{column}" if sort == column else column
        href = f"{run_href(record.id)}?{urlencode({'table': name, 'sort': key})}#{anchor}"
        arrow = " ▲" if sort == column else " ▼" if sort == f"-{column}" else ""
        return f'<th><a href="{escape(href)}">{escape(column)}</a>{arrow}</th>'

    body = "".join("<tr>" + "".join(f"<td{_num_class(r.get(c))}>{esc(r.get(c))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    note = f" (first {len(rows)} rows)" if more else ""
    return (f'<h3 id="{escape(anchor)}">{escape(name)}{escape(note)}</h3>'
            f"<table><tr>{''.join(header(c) for c in columns)}</tr>{body}</table>")


def _media(record: Any) -> str:
    """Images, figures, texts and dicts logged with ``_run.log_image`` ..., one row per name with a
    link per step (names and steps come from the artifact names: no store call)."""
    from ..media import parse_artifact_name

    steps: dict = {}
    for artifact in record.artifacts:
        parsed = parse_artifact_name(str(artifact))
        if parsed is not None:
            steps.setdefault(parsed[0], []).append((parsed[1], str(artifact)))
    if not steps:
        return ""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>"
        + " ".join(f'<a href="{escape(artifact_href(record.id, artifact))}">{step}</a>'
                   for step, artifact in sorted(items))
        + "</td></tr>" for name, items in sorted(steps.items()))
    return f"<h2>Media</h2><table><tr><th>name</th><th>steps</th></tr>{rows}</table>"


def run_page(record: Any, series: Mapping[str, Any], tables: Mapping[str, tuple],
             captured: str, captured_clipped: bool, sort_by_table: Mapping[str, str]) -> bytes:
    """Everything recorded for one run.  ``tables`` maps a table name to ``(rows, more)``."""
    rid = escape(str(record.id))
    body = [f"<h1>Run {rid} <small>{esc(record.experiment_name)}</small></h1>", _summary(record),
            "<h2>Config</h2>", _tree(record.config) if record.config else "<p>empty</p>",
            "<h2>Metrics</h2>", _metrics(record, series)]
    if record.artifacts:
        links = "".join(f'<li><a href="{escape(artifact_href(record.id, str(a)))}">'
                        f"{escape(str(a))}</a></li>" for a in record.artifacts)
        body.append(f"<h2>Artifacts</h2><ul>{links}</ul>")
        body.append(_media(record))
    if tables:
        body.append("<h2>Per-sample tables</h2>")
        body += [_sample_table(record, name, rows, more, sort_by_table.get(name, ""))
                 for name, (rows, more) in tables.items()]
    if record.fail_trace:
        body.append(f"<h2>Fail trace</h2><pre>{escape(''.join(map(str, record.fail_trace)))}</pre>")
    body.append("<h2>Captured output</h2>")
    if captured_clipped:
        body.append('<p class="muted">long output: showing the end only</p>')
    body.append(f"<pre>{escape(captured)}</pre>" if captured else '<p class="muted">none</p>')
    body += ["<h2>Experiment</h2>", _experiment(record.experiment)]
    for title, value in (("Host", record.host), ("Meta", record.meta), ("Info", record.info)):
        if value:
            body += [f"<h2>{title}</h2>", _tree(value)]
    return page(f"run {record.id}", "".join(body))


def compare_page(records: Sequence[Any], config_rows: Sequence[tuple], metric_rows:
                 Sequence[tuple], show_all: bool, ids_param: str) -> bytes:
    """Runs side by side: ``config_rows`` are ``(key, [value per run])``, ``metric_rows`` likewise
    with last values."""
    head = "<tr><th></th>" + "".join(
        f'<th><a href="{escape(run_href(r.id))}">run {escape(str(r.id))}</a></th>'
        for r in records) + "</tr>"
    status = "<tr><th>status</th>" + "".join(f"<td>{_status(r)}</td>" for r in records) + "</tr>"
    experiment = "<tr><th>experiment</th>" + "".join(
        f"<td>{esc(r.experiment_name)}</td>" for r in records) + "</tr>"

    def rows(items: Sequence[tuple]) -> str:
        return "".join(f"<tr><th>{escape(key)}</th>"
                       + "".join(f"<td{_num_class(v)}>{esc(v)}</td>" for v in values) + "</tr>"
                       for key, values in items)

    toggle = urlencode({"ids": ids_param, **({} if show_all else {"all": "1"})})
    label = "only differences" if show_all else "show equal entries too"
    body = [f"<h1>Compare {len(records)} runs</h1>", f"<table>{head}{status}{experiment}</table>",
            f'<h2>Config</h2><p><a href="/compare?{escape(toggle)}">{label}</a></p>',
            f"<table>{head}{rows(config_rows)}</table>" if config_rows
            else "<p>identical</p>",
            "<h2>Metrics (last value)</h2>",
            f"<table>{head}{rows(metric_rows)}</table>" if metric_rows else "<p>none</p>"]
    return page("compare", "".join(body))


def progress_page(metric: str, minimize: bool, where: str, names: Sequence[str],
                  points: Sequence[tuple], error: Optional[str] = None) -> bytes:
    """The best-so-far chart; ``points`` as :func:`svg.progress_chart` takes them."""
    options = "".join(f'<option value="{escape(n)}"{" selected" if n == metric else ""}>'
                      f"{escape(n)}</option>" for n in names)
    body = ["<h1>Is the project progressing?</h1>",
            '<form class="query" method="get" action="/progress">',
            f'<label>metric <select name="metric">{options}</select></label>',
            f'<label><input type="checkbox" name="min" value="1"{" checked" if minimize else ""}>'
            " lower is better</label>",
            f'<label>where <textarea name="where">{escape(where)}</textarea></label>',
            '<button type="submit">show</button></form>']
    if error:
        body.append(f'<p class="error">{escape(error)}</p>')
    elif metric:
        label = f"best {metric} so far ({'lower' if minimize else 'higher'} is better)"
        body += [f"<p class=\"muted\">{len(points)} runs logged {escape(metric)}; each dot is a "
                 "run at the time it ended, the line the best value reached so far.</p>",
                 svg.progress_chart(points, label, minimize)]
    return page("progress", "".join(body))
