"""HTML rendering of the dashboard pages.

Functions here only turn already-loaded data into markup; they never touch a store.  The rules:
every value that comes from a run (config, output, tags, names, ids, error messages) passes through
:func:`esc` (``html.escape`` with quotes) before it reaches the page, every id or name put in a URL
is percent-encoded first, and chart data travels as JSON in ``<script type="application/json">``
blocks (never executed; ``<``, ``>`` and ``&`` written as ``\\u`` escapes so no value can close the
block).  The only scripts are the package's own static files, so the Content Security Policy can
say ``script-src 'self'``.

A :class:`View` says how assets are referenced: from ``/static/`` on the server, or inlined (with
artifacts as ``data:`` URIs) for the self-contained files ``experimentkit report`` writes.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any, Optional
from urllib.parse import quote, urlencode

from ..cli.output import cell

__all__ = [
    "View",
    "esc",
    "run_href",
    "artifact_href",
    "page",
    "error_page",
    "run_list_page",
    "run_page",
    "compare_page",
    "progress_page",
    "json_block",
    "source_page",
    "source_href",
    "runs_where_href",
    "sweep_href",
    "sweeps_page",
    "sweep_page",
]

#: The static files every page loads (in this order).
SCRIPTS = ("uPlot.iife.min.js", "dashboard.js")
STYLES = ("uPlot.min.css", "dashboard.css")


@dataclass
class View:
    """How a page refers to its assets.  ``static``: one self-contained file (CSS and JS inlined,
    images from ``images``, no server links); ``settings``: the server's write settings."""

    static: bool = False
    settings: Any = None
    images: dict = field(default_factory=dict)  # (run_id, name) -> data: URI, for static pages

    @property
    def writes(self) -> bool:
        return bool(self.settings and self.settings.allow_writes and not self.static)


def static_text(name: str) -> str:
    """The text of one of the package's static files."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


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


def json_block(element_id: str, value: Any) -> str:
    """Data for the page's script, in a block no value can break out of."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{escape(element_id)}">{text}</script>'


def run_href(run_id: Any) -> str:
    return "/run/" + quote(str(run_id), safe="")


def sweep_href(sweep_id: Any) -> str:
    return "/sweep/" + quote(str(sweep_id), safe="")


def source_href(run_id: Any, relpath: str) -> str:
    return f"{run_href(run_id)}/source/{quote(relpath, safe='')}"


def runs_where_href(expression: str) -> str:
    """The runs table filtered by one ``--where`` expression."""
    return "/?" + urlencode({"where": expression})


def artifact_href(run_id: Any, name: str, inline: bool = False) -> str:
    return f"{run_href(run_id)}/artifact/{quote(name, safe='')}" + ("?inline=1" if inline else "")


def _image_src(view: View, run_id: Any, name: str) -> str:
    if view.static:
        return view.images.get((str(run_id), name), "")
    return artifact_href(run_id, name, inline=True)


def data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


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


def _value_cell(value: Any) -> str:
    if isinstance(value, _dt.timedelta):
        return f'<td class="num">{_duration(value)}</td>'
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return f"<td>{_tags(value)}</td>"
    return f"<td{_num_class(value)}>{esc(value)}</td>"


def _sweep_cell(value: Any) -> str:
    """The runs table's sweep column: a link to the sweep's page."""
    if value is None or value == "":
        return "<td></td>"
    return f'<td class="num"><a class="sweep-link" href="{escape(sweep_href(value))}">{esc(value)}</a></td>'


def page(title: str, body: str, view: Optional[View] = None, live: str = "", refresh: int = 0) -> bytes:
    """A whole document around ``body`` (``title`` is escaped here); ``refresh``: reload every
    that many seconds (a meta refresh, no script)."""
    view = view or View()
    if view.static:
        styles = "".join(f"<style>{static_text(s)}</style>" for s in STYLES)
        scripts = "".join(
            "<script>" + static_text(s).replace("</script", "<\\/script") + "</script>" for s in SCRIPTS
        )
        nav = '<header><span class="brand">experimentkit report</span></header>'
    else:
        styles = "".join(f'<link rel="stylesheet" href="/static/{s}">' for s in STYLES)
        scripts = "".join(f'<script src="/static/{s}" defer></script>' for s in SCRIPTS)
        nav = (
            '<header><a href="/">runs</a><a href="/sweeps">sweeps</a><a href="/progress">progress</a>'
            + ('<span class="mode">writes allowed</span>' if view.writes else "")
            + "</header>"
        )
    live_attr = f' data-live="{escape(live)}"' if live and not view.static else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · experimentkit</title>"
        + (f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh and not view.static else "")
        + '<link rel="icon" href="data:,">'
        f"{styles}"
        f"{scripts if not view.static else ''}</head><body>{nav}"
        f"<main{live_attr}>{body}</main>{scripts if view.static else ''}</body></html>\n"
    ).encode()


def error_page(status: int, message: str) -> bytes:
    """The page for 4xx/5xx answers: the one-line message, escaped, and nothing else."""
    return page(f"{status}", f'<h1>{status}</h1><p class="error">{escape(message)}</p>')


def _tree(value: Any) -> str:
    """Nested dicts as a nested list; leaves as JSON text."""
    if isinstance(value, Mapping) and value:
        items = "".join(
            f'<li><span class="k">{escape(str(k))}</span>: {_tree(v)}</li>' for k, v in value.items()
        )
        return f'<ul class="tree">{items}</ul>'
    return _full(value)


# ---- the runs table -----------------------------------------------------------------------------
_STATUS_CHOICES = ("", "RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT", "QUEUED", "DEAD")
_FIXED = (
    ("id", "id"),
    ("experiment", "experiment"),
    ("status", "status"),
    ("start_time", "start (UTC)"),
    ("duration", "duration"),
    ("tags", "tags"),
)


def _list_url(form: Mapping[str, str], **changes: str) -> str:
    state = {k: v for k, v in {**form, **changes}.items() if v}
    return "/?" + urlencode(state) if state else "/"


def _query_form(form: Mapping[str, str], candidates: Sequence[str], error: Optional[str]) -> str:
    def value(name: str) -> str:
        return escape(form.get(name, ""))

    statuses = "".join(
        f'<option value="{s}"{" selected" if form.get("status") == s else ""}>{s or "any status"}</option>'
        for s in _STATUS_CHOICES
    )
    chosen = {c.strip() for c in form.get("columns", "").split(",") if c.strip()}
    boxes = "".join(
        f'<label><input type="checkbox" name="columns" value="{escape(c)}"'
        f"{' checked' if c in chosen else ''}> {escape(c)}</label>"
        for c in dict.fromkeys([*chosen, *candidates])
    )
    parts = [
        '<form class="query" id="run-filter" method="get" action="/">',
        f'<label>where <textarea name="where" placeholder="config.lr &lt; 0.05 &amp;&amp; '
        f'metrics.loss.min &lt; 0.2">{value("where")}</textarea></label>',
        f'<label>status <select name="status">{statuses}</select></label>',
        f'<label>tag <input name="tag" size="10" value="{value("tag")}"></label>',
        f'<label>experiment <input name="experiment" size="12" value="{value("experiment")}"></label>',
        f'<label>per page <input name="per" size="4" value="{value("per")}"></label>',
        f'<input type="hidden" name="sort" value="{value("sort")}">',
        f'<input type="hidden" name="ids" class="ek-selection" value="{value("ids")}">',
        '<button type="submit" id="apply-filter">show</button>',
        f'<details class="columns"><summary>columns</summary><div>{boxes}</div></details>',
        "</form>",
    ]
    if error:
        parts.append(f'<p class="error">{escape(error)}</p>')
    return "".join(parts)


def _sort_header(form: Mapping[str, str], key: str, label: str) -> str:
    current = form.get("sort", "")
    if current == key:
        new, arrow, state = f"-{key}", " ▲", "ascending"
    elif current == f"-{key}":
        new, arrow, state = key, " ▼", "descending"
    else:
        new, arrow, state = key, "", "none"
    href = _list_url(form, sort=new, page="")
    return (
        f'<th aria-sort="{state}" data-key="{escape(key)}"><a class="sort keep-selection" '
        f'href="{escape(href)}">{escape(label)}</a>{arrow}</th>'
    )


def _compare_matching(form: Mapping[str, str], total: Optional[int]) -> str:
    """A link comparing every run the filters match (a sweep), when there are filters."""
    where = [line for line in form.get("where", "").splitlines() if line.strip()]
    if form.get("status"):
        where.append(f"status == {form['status']}")
    if form.get("tag"):
        where.append(f"tags contains {json.dumps(form['tag'])}")
    if form.get("experiment"):
        where.append(f"experiment == {json.dumps(form['experiment'])}")
    if not where or not total or total < 2:
        return ""
    label = f"compare all {total} matching runs" if total <= 200 else "compare the first 200 matching runs"
    href = "/compare?" + urlencode({"where": "\n".join(where)})
    return f' <a id="compare-matching" href="{escape(href)}">{label}</a>'


def run_list_page(
    records: Sequence[Any],
    columns: Sequence[str],
    values: Sequence[Sequence[Any]],
    form: Mapping[str, str],
    total: Optional[int],
    candidates: Sequence[str],
    error: Optional[str] = None,
) -> bytes:
    """The runs table (one page of it); ``values[i]`` holds the ``columns`` of ``records[i]``."""
    body = ["<h1>Runs</h1>", _query_form(form, candidates, error)]
    if error is None:
        per = int(form.get("per") or 50)
        page_no = int(form.get("page") or 1)
        pages_total = max(1, -(-(total or 0) // per))
        first = (page_no - 1) * per + 1 if records else 0
        nav = [
            f'<span class="muted" id="count">runs {first}–{first + len(records) - 1 if records else 0}'
            f" of {total}</span>"
        ]
        if page_no > 1:
            nav.append(
                f'<a rel="prev" class="keep-selection" '
                f'href="{escape(_list_url(form, page=str(page_no - 1)))}">‹ previous</a>'
            )
        if page_no < pages_total:
            nav.append(
                f'<a rel="next" class="keep-selection" '
                f'href="{escape(_list_url(form, page=str(page_no + 1)))}">next ›</a>'
            )
        nav.append(f'<span class="muted">page {page_no} of {pages_total}</span>')
        selected = [i for i in form.get("ids", "").split(",") if i]
        nav.append(f'<span id="selected-count">{len(selected)} selected</span>')
        if selected:
            nav.append(
                f'<a id="clear-selection" href="{escape(_list_url(form, ids=""))}">clear selection</a>'
            )
        body.append(f'<p class="pager">{" ".join(nav)}</p>')
        head = (
            '<th><input type="checkbox" id="select-all" title="select all"></th>'
            + "".join(_sort_header(form, key, label) for key, label in _FIXED)
            + "".join(_sort_header(form, c, c) for c in columns)
        )
        rows = []
        on_page = {str(r.id) for r in records}
        elsewhere = ",".join(i for i in selected if i not in on_page)
        for record, row in zip(records, values):
            tick = " checked" if str(record.id) in selected else ""
            cells = [
                f'<td><input type="checkbox" name="ids" value="{escape(str(record.id))}"{tick}></td>',
                f'<td><a href="{escape(run_href(record.id))}">{escape(str(record.id))}</a></td>',
                f"<td>{esc(record.experiment_name)}</td>",
                f"<td>{_status(record)}</td>",
                f"<td>{_time(record.start_time)}</td>",
                f'<td class="num">{_duration(record.duration)}</td>',
                f"<td>{_tags(record.tags)}</td>",
            ]
            cells += [_sweep_cell(v) if c == "sweep" else _value_cell(v) for c, v in zip(columns, row)]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        body.append(
            '<form method="get" action="/compare" id="selection">'
            f'<input type="hidden" name="ids" id="selected-elsewhere" '
            f'value="{escape(elsewhere)}">'
            '<p><button type="submit" id="compare-selected">compare selected</button>'
            ' <button type="submit" formaction="/progress" name="from" value="table">'
            f"progress</button>{_compare_matching(form, total)}</p>"
            f'<table id="runs"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></form>"
        )
    return page("runs", "".join(body))


# ---- charts -------------------------------------------------------------------------------------
def _chart_section(chart_data: Sequence[Mapping[str, Any]], element_id: str = "ek-charts") -> str:
    if not chart_data:
        return '<p class="muted">no metrics</p>'
    controls = (
        '<div class="chart-controls"><label>x <select class="ek-x">'
        '<option value="step">step</option><option value="time">wall time</option>'
        '<option value="relative">relative time</option></select></label>'
        '<label><input type="checkbox" class="ek-log"> log scale</label>'
        '<label>smoothing <input type="range" class="ek-smooth" min="0" max="0.99" '
        'step="0.01" value="0"></label>'
        '<span class="muted">drag to zoom, double-click to reset, shift-drag or wheel '
        "to pan/zoom, click a legend entry to hide a series</span></div>"
    )
    figures = "".join(
        f'<figure class="chart-box"><figcaption>{escape(c["title"])}'
        + (
            ' <span class="muted">('
            + ", ".join(f"{s['count']} points" for s in c["series"])
            + ", downsampled on the server)</span>"
            if any(s["count"] > len(s["value"]) for s in c["series"])
            else ""
        )
        + f'</figcaption><div class="ek-chart" data-source="{escape(element_id)}" '
        f'data-index="{i}"></div></figure>'
        for i, c in enumerate(chart_data)
    )
    return (
        f'<div class="chart-group">{controls}<div class="charts">{figures}</div>'
        f"{json_block(element_id, chart_data)}</div>"
    )


# ---- one run ------------------------------------------------------------------------------------
def _summary(record: Any, view: View) -> str:
    rows = [
        (
            "status",
            f'<span id="live-status">{_status(record)}</span>'
            + (f" (stored as {escape(record.raw_status)})" if record.raw_status != record.status else ""),
        ),
        ("experiment", esc(record.experiment_name)),
        ("command", esc(record.command)),
        ("started", _time(record.start_time)),
        ("stopped", _time(record.stop_time)),
        ("heartbeat", _time(record.heartbeat)),
        ("duration", _duration(record.duration)),
        ("host", esc(record.host.get("hostname"))),
        ("result", _full(record.result)),
        ("tags", f'<span id="tags">{_tags(record.tags)}</span>' + _tag_form(record, view)),
        ("notes", f'<span id="notes">{escape(record.notes or "")}</span>' + _note_form(record, view)),
        ("comment", esc(record.meta.get("comment"))),
    ]
    sweep = record.meta.get("sweep") if isinstance(record.meta, Mapping) else None
    if isinstance(sweep, Mapping) and sweep.get("id") is not None:
        target = (
            f'<a class="sweep-link" href="{escape(sweep_href(sweep["id"]))}">sweep {esc(sweep["id"])}</a>'
            if not view.static
            else f"sweep {esc(sweep['id'])}"
        )
        rows.insert(2, ("sweep", f"{target}, task #{esc(sweep.get('index'))}"))
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _csrf(view: View) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(view.settings.csrf)}">'


def _tag_form(record: Any, view: View) -> str:
    if not view.writes:
        return ""
    removes = "".join(
        f'<label><input type="checkbox" name="remove" value="{esc(t)}"> {esc(t)}</label>' for t in record.tags
    )
    return (
        f'<form class="edit" id="tag-form" method="post" '
        f'action="{escape(run_href(record.id))}/tags">{_csrf(view)}'
        '<input name="add" id="tag-input" placeholder="new tag(s), comma separated">'
        f"{(' remove: ' + removes) if removes else ''}"
        '<button type="submit" id="tag-save">save tags</button></form>'
    )


def _note_form(record: Any, view: View) -> str:
    if not view.writes:
        return ""
    return (
        f'<form class="edit" id="note-form" method="post" '
        f'action="{escape(run_href(record.id))}/note">{_csrf(view)}'
        f'<textarea name="note" id="note-input">{escape(record.notes or "")}</textarea>'
        '<button type="submit" id="note-save">save note</button></form>'
    )


def _source_entry(record: Any, entry: Any, view: View) -> str:
    """A recorded source file: its path (a link to the stored copy) and what the store noted."""
    if not isinstance(entry, (list, tuple)) or not entry:
        return esc(entry)
    name = esc(entry[0])
    if not view.static:
        name = f'<a class="source" href="{escape(source_href(record.id, str(entry[0])))}">{name}</a>'
    return name + (f' <span class="muted">{esc(entry[1])}</span>' if len(entry) > 1 else "")


def _experiment(record: Any, view: View) -> str:
    ex = record.experiment
    parts = ["<table>"]
    for key in ("name", "mainfile", "base_dir"):
        parts.append(f"<tr><th>{key}</th><td>{esc(ex.get(key))}</td></tr>")
    sources = "<br>".join(_source_entry(record, s, view) for s in ex.get("sources") or [])
    deps = ", ".join(esc(d) for d in ex.get("dependencies") or [])
    repos = "<br>".join(
        f"{esc(r.get('url'))} @ {esc(r.get('commit'))}{' (dirty)' if r.get('dirty') else ''}"
        for r in ex.get("repositories") or []
        if isinstance(r, Mapping)
    )
    for key, text in (("sources", sources), ("dependencies", deps), ("git", repos)):
        parts.append(f"<tr><th>{key}</th><td>{text}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def _resources(record: Any, view: View) -> str:
    """The files the run opened as resources, with their md5 and a link to every run that used the
    same content (``resources.md5 == ...``)."""
    rows = []
    for entry in record.resources:
        md5 = entry.get("md5")
        link = ""
        if md5 and not view.static:
            href = runs_where_href(f"resources.md5 == {json.dumps(str(md5))}")
            link = f'<a class="same-resource" href="{escape(href)}">runs using this file</a>'
        rows.append(
            f"<tr><td>{esc(entry.get('path'))}</td><td><code>{esc(md5)}</code></td><td>{link}</td></tr>"
        )
    return '<table id="resources"><tr><th>path</th><th>md5</th><th></th></tr>' + "".join(rows) + "</table>"


def source_page(record: Any, relpath: str, text: str) -> bytes:
    """One stored source file of a run, as escaped text."""
    body = (
        f'<h1><a href="{escape(run_href(record.id))}">Run {escape(str(record.id))}</a>: '
        f"{escape(relpath)}</h1>"
        f'<pre class="source-text" id="source">{escape(text)}</pre>'
    )
    return page(f"{relpath} of run {record.id}", body)


def _diff(item: Mapping[str, Any]) -> str:
    """A unified diff, escaped, with added/removed/hunk lines marked for colour."""
    title = (
        f"<h3>{escape(item['path'])}: run {escape(str(item['old']))} → run {escape(str(item['new']))}</h3>"
    )
    if "error" in item:
        return f'{title}<p class="error">{escape(item["error"])}</p>'
    if not item["lines"]:
        return f'{title}<p class="muted">identical</p>'
    lines = []
    for line in item["lines"]:
        cls = (
            "hunk"
            if line.startswith("@@")
            else "file"
            if line.startswith(("---", "+++"))
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else ""
        )
        lines.append(f'<span class="d-{cls}">{escape(line)}</span>' if cls else escape(line))
    return f'{title}<pre class="diff">' + "\n".join(lines) + "</pre>"


def _metric_table(record: Any) -> str:
    if not record.metrics:
        return ""
    head = "<tr><th>metric</th><th>last</th><th>min</th><th>max</th><th>count</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        + "".join(f'<td class="num">{esc(s.get(k))}</td>' for k in ("last", "min", "max", "count"))
        + "</tr>"
        for name, s in sorted(record.metrics.items())
    )
    return f"<table>{head}{rows}</table>"


def _csv_table(text: str) -> str:
    import csv
    import io

    dialect = "excel-tab" if "\t" in text.split("\n", 1)[0] else "excel"
    rows = list(csv.reader(io.StringIO(text), dialect=dialect))[:201]
    if not rows:
        return '<p class="muted">empty</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:200])
    more = '<p class="muted">first 199 rows</p>' if len(rows) > 200 else ""
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>{more}'


def artifact_preview(record: Any, preview: Mapping[str, Any], view: View) -> str:
    """One artifact: images inline, text/JSON/CSV as text or a table, HTML as text plus a
    sandboxed frame that cannot run scripts; everything with a download link."""
    name, kind = preview["name"], preview["kind"]
    link = (
        ""
        if view.static
        else f' <a class="download" href="{escape(artifact_href(record.id, name))}">download</a>'
    )
    head = f"<figcaption>{escape(name)}{link}</figcaption>"
    if kind == "image":
        src = _image_src(view, record.id, name)
        inner = (
            f'<img class="artifact-image" alt="{escape(name)}" src="{escape(src)}">'
            if src
            else '<p class="muted">not included</p>'
        )
    elif kind in ("text", "json", "html", "csv"):
        clip = '<p class="muted">showing the start only</p>' if preview.get("clipped") else ""
        if kind == "csv":
            inner = _csv_table(preview["text"]) + clip
        else:
            inner = f"<pre>{escape(preview['text'])}</pre>{clip}"
        if kind == "html":
            inner = (
                f"<details><summary>rendered in a sandbox (no scripts)</summary>"
                f'<iframe class="sandboxed" sandbox="" srcdoc="{escape(preview["text"])}">'
                f"</iframe></details>{inner}"
            )
    elif kind == "error":
        inner = f'<p class="error">{escape(preview["text"])}</p>'
    else:
        inner = '<p class="muted">binary file: no preview</p>'
    return f'<figure class="artifact" data-kind="{escape(kind)}">{head}{inner}</figure>'


def _sample_table(
    record: Any, name: str, state: Mapping[str, Any], artifacts: Sequence[str], view: View
) -> str:
    rows = state["rows"]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    anchor = "table-" + quote(name, safe="")
    sort = state["sort"]
    images = {a for a in artifacts if _is_image(a)}

    def href(**changes: str) -> str:
        params = {"table": name, "where": state["where"], "sort": sort, "page": state["page"], **changes}
        return f"{run_href(record.id)}?{urlencode({k: v for k, v in params.items() if v})}#{anchor}"

    def header(column: str) -> str:
        key = f"-{column}" if sort == column else column
        arrow = " ▲" if sort == column else " ▼" if sort == f"-{column}" else ""
        if view.static:
            return f"<th>{escape(column)}</th>"
        return f'<th><a href="{escape(href(sort=key, page=""))}">{escape(column)}</a>{arrow}</th>'

    def value(v: Any) -> str:
        if isinstance(v, str) and v in images:
            src = _image_src(view, record.id, v)
            return f'<td><img class="thumb" alt="{escape(v)}" src="{escape(src)}"><br>{escape(v)}</td>'
        return f"<td{_num_class(v)}>{esc(v)}</td>"

    body = "".join("<tr>" + "".join(value(r.get(c)) for c in columns) + "</tr>" for r in rows)
    page_no = int(state["page"])
    pager = []
    if not view.static:
        if page_no > 1:
            pager.append(f'<a href="{escape(href(page=str(page_no - 1)))}">‹ previous</a>')
        pager.append(f"rows {(page_no - 1) * 100 + 1 if rows else 0}–{(page_no - 1) * 100 + len(rows)}")
        if state["more"]:
            pager.append(f'<a href="{escape(href(page=str(page_no + 1)))}">next ›</a>')
    search = (
        ""
        if view.static
        else (
            f'<form class="query" method="get" action="{escape(run_href(record.id))}#{anchor}">'
            f'<input type="hidden" name="table" value="{escape(name)}">'
            f'<input type="hidden" name="sort" value="{escape(sort)}">'
            f'<label>where <input name="where" size="40" value="{escape(state["where"])}" '
            'placeholder="prob &gt; 0.5"></label><button type="submit">filter</button></form>'
        )
    )
    error = f'<p class="error">{escape(state["error"])}</p>' if state.get("error") else ""
    return (
        f'<h3 id="{escape(anchor)}">{escape(name)}</h3>{search}{error}'
        f'<p class="pager">{" ".join(pager)}</p>'
        f'<div class="scroll"><table class="samples"><tr>'
        f"{''.join(header(c) for c in columns)}</tr>{body}</table></div>"
    )


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
        + " ".join(
            f'<a href="{escape(artifact_href(record.id, artifact))}">{step}</a>'
            for step, artifact in sorted(items)
        )
        + "</td></tr>"
        for name, items in sorted(steps.items())
    )
    return f"<h2>Media</h2><table><tr><th>name</th><th>steps</th></tr>{rows}</table>"


def _is_image(name: str) -> bool:
    return name.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"))


def run_page(
    record: Any,
    chart_data: Sequence[Mapping[str, Any]],
    tables: Mapping[str, Any],
    captured: str,
    captured_clipped: bool,
    previews: Sequence[Mapping[str, Any]],
    settings: Any = None,
    view: Optional[View] = None,
) -> bytes:
    """Everything recorded for one run; a RUNNING run's page polls for new metrics and output."""
    view = view or View(settings=settings)
    rid = escape(str(record.id))
    download = (
        ""
        if view.static
        else (
            f'<p><a class="download" id="download-report" href="/report?'
            f'{escape(urlencode({"ids": str(record.id)}))}">download as one HTML file</a></p>'
        )
    )
    body = [
        f"<h1>Run {rid} <small>{esc(record.experiment_name)}</small></h1>",
        download,
        _summary(record, view),
        "<h2>Metrics</h2>",
        _metric_table(record),
        _chart_section(chart_data),
        "<h2>Config</h2>",
        _tree(record.config) if record.config else "<p>empty</p>",
    ]
    if previews:
        body.append(
            '<h2>Artifacts</h2><div class="artifacts">'
            + "".join(artifact_preview(record, p, view) for p in previews)
            + "</div>"
        )
    body.append(_media(record))
    if tables:
        body.append("<h2>Per-sample tables</h2>")
        body += [_sample_table(record, name, state, record.artifacts, view) for name, state in tables.items()]
    if record.fail_trace:
        body.append(f"<h2>Fail trace</h2><pre>{escape(''.join(map(str, record.fail_trace)))}</pre>")
    body.append("<h2>Captured output</h2>")
    if captured_clipped:
        body.append('<p class="muted">long output: showing the end only</p>')
    body.append(
        f'<pre id="output">{escape(captured)}</pre>'
        if captured
        else '<pre id="output" class="muted">none</pre>'
    )
    body += ["<h2>Experiment</h2>", _experiment(record, view)]
    if record.resources:
        body += ["<h2>Resources</h2>", _resources(record, view)]
    for title, value in (("Host", record.host), ("Meta", record.meta), ("Info", record.info)):
        if value:
            body += [f"<h2>{title}</h2>", _tree(value)]
    live = f"/api/live/{quote(str(record.id), safe='')}" if record.status == "RUNNING" else ""
    return page(f"run {record.id}", "".join(body), view, live=live)


# ---- several runs -------------------------------------------------------------------------------
def compare_page(
    data: Mapping[str, Any], show_all: bool, ids_param: str, view: Optional[View] = None
) -> bytes:
    """Runs side by side: config and metric tables, overlaid curves, dependency/git/source
    differences, parameters against results, and image artifacts next to each other."""
    view = view or View()
    records = data["records"]
    head = (
        "<tr><th></th>"
        + "".join(f'<th><a href="{escape(run_href(r.id))}">run {escape(str(r.id))}</a></th>' for r in records)
        + "</tr>"
    )
    status = "<tr><th>status</th>" + "".join(f"<td>{_status(r)}</td>" for r in records) + "</tr>"
    experiment = (
        "<tr><th>experiment</th>" + "".join(f"<td>{esc(r.experiment_name)}</td>" for r in records) + "</tr>"
    )
    tags = "<tr><th>tags</th>" + "".join(f"<td>{_tags(r.tags)}</td>" for r in records) + "</tr>"

    def rows(items: Sequence[tuple], diff: bool = True) -> str:
        out = []
        for key, values in items:
            texts = {json.dumps(v, sort_keys=True, default=str) for v in values}
            cls = ' class="differs"' if diff and len(texts) > 1 else ""
            out.append(
                f"<tr{cls}><th>{escape(key)}</th>"
                + "".join(f"<td{_num_class(v)}>{esc(v)}</td>" for v in values)
                + "</tr>"
            )
        return "".join(out)

    def table(items: Sequence[tuple], empty: str) -> str:
        return f"<table>{head}{rows(items)}</table>" if items else f"<p>{empty}</p>"

    toggle = urlencode({"ids": ids_param, **({} if show_all else {"all": "1"})})
    label = "only differences" if show_all else "show equal entries too"
    toggle_link = "" if view.static else f'<p><a href="/compare?{escape(toggle)}">{label}</a></p>'
    download = (
        ""
        if view.static
        else (
            f'<p><a class="download" id="download-report" href="/report?'
            f'{escape(urlencode({"ids": ids_param}))}">download as one HTML file</a></p>'
        )
    )
    body = [
        f"<h1>Compare {len(records)} runs</h1>",
        download,
        f"<table>{head}{status}{experiment}{tags}</table>",
        f"<h2>Config</h2>{toggle_link}",
        table(data["config_rows"], "identical"),
        "<h2>Metrics (last value)</h2>",
        table(data["metric_rows"], "none"),
        "<h2>Curves</h2>",
        _chart_section(data["charts"]),
    ]
    params = data["params"]
    if params["keys"] and params["metrics"]:
        options = "".join(f'<option value="{escape(m)}">{escape(m)}</option>' for m in params["metrics"])
        body += [
            "<h2>Parameters vs results</h2>",
            f'<p><label>metric <select id="ek-param-metric">{options}</select></label></p>',
            '<div class="charts" id="ek-scatter"></div>',
            "<h3>Parallel coordinates</h3>",
            '<canvas id="ek-parallel" width="900" height="320"></canvas>',
            json_block("ek-params", params),
        ]
    for title, key in (
        ("Dependencies", "dependencies"),
        ("Git", "repositories"),
        ("Source files (stored version)", "sources"),
    ):
        body += [f"<h2>{title}</h2>", table(data["other_rows"][key], "identical")]
    names = [name for name, _ in data["other_rows"]["sources"]]
    if names and not view.static:
        links = " ".join(
            f'<a class="diff-link" href="/compare?'
            f'{escape(urlencode({"ids": ids_param, "diff": name}))}#source-diff">'
            f"{escape(name)}</a>"
            for name in names
        )
        body.append(f"<p>diff against run {escape(str(records[0].id))}: {links}</p>")
    if data.get("source_diffs"):
        body.append(
            '<div id="source-diff">' + "".join(_diff(item) for item in data["source_diffs"]) + "</div>"
        )
    if any(data["images"]):
        cols = "".join(
            f'<div class="side"><h3>run {escape(str(r.id))}</h3>'
            + "".join(
                f'<figure><figcaption>{escape(a)}</figcaption><img class="artifact-image" '
                f'alt="{escape(a)}" src="{escape(_image_src(view, r.id, a))}"></figure>'
                for a in images
            )
            + "</div>"
            for r, images in zip(records, data["images"])
        )
        body.append(f'<h2>Image artifacts</h2><div class="side-by-side">{cols}</div>')
    if data.get("texts"):
        body.append("<h2>Text artifacts side by side</h2>")
        for name, previews, differs in data["texts"]:
            note = " (differs)" if differs else " (the same in every run)"
            cols = "".join(
                f'<div class="side"><h3>run {escape(str(r.id))}</h3>'
                + (
                    artifact_preview(r, dict(p, name=name), view)
                    if p is not None
                    else '<p class="muted">no such artifact</p>'
                )
                + "</div>"
                for r, p in zip(records, previews)
            )
            body.append(
                f'<h3 class="shared-artifact{" differs" if differs else ""}">{escape(name)}'
                f'<span class="muted">{note}</span></h3><div class="side-by-side texts">{cols}</div>'
            )
    return page("compare", "".join(body), view)


def progress_page(
    metric: str,
    minimize: bool,
    where: str,
    names: Sequence[str],
    data: Mapping[str, Any],
    error: Optional[str] = None,
    form: Optional[Mapping[str, str]] = None,
) -> bytes:
    """Best-so-far over wall-clock time, the runs as sorted bars, several metrics per run."""
    form = form or {}
    options = "".join(
        f'<option value="{escape(n)}"{" selected" if n == metric else ""}>{escape(n)}</option>' for n in names
    )
    body = [
        "<h1>Is the project progressing?</h1>",
        '<form class="query" method="get" action="/progress">',
        f'<label>metric <select name="metric">{options}</select></label>',
        f'<label>better <select name="min">{_direction_options(form.get("direction", ""))}</select></label>',
        f'<label>also show <input name="also" value="{escape(form.get("also", ""))}" '
        'placeholder="train.loss,val.loss"></label>',
        f'<label>where <textarea name="where">{escape(where)}</textarea></label>',
        '<button type="submit">show</button></form>',
    ]
    if error:
        body.append(f'<p class="error">{escape(error)}</p>')
    elif data:
        timeline = data["timeline"]
        body += [
            f"<h2>Best {escape(metric)} so far ({'lower' if minimize else 'higher'} is better)</h2>",
            f'<p class="muted" id="direction-note">{escape(form.get("note", ""))}</p>'
            if form.get("note")
            else "",
            f'<p class="muted">{len(timeline["time"])} runs logged {escape(metric)}; each '
            "dot is a run at the time it ended (click it to open the run), the line the best "
            "value reached so far.</p>",
            '<div id="ek-progress"></div>',
            json_block("ek-progress-data", data),
            "<h2>Runs sorted by " + escape(metric) + "</h2>",
            _bars(data),
        ]
    return page("progress", "".join(body))


def _bars(data: Mapping[str, Any]) -> str:
    """Horizontal bars per run (best first), one per shown metric, as plain HTML."""
    metrics = data["metrics"]
    values = [v for b in data["bars"] for v in b["values"].values() if v is not None]
    if not values:
        return '<p class="muted">no values</p>'
    low, high = min(0.0, min(values)), max(values)
    span = (high - low) or 1.0
    legend = "".join(f'<span class="bar m{i}">{escape(m)}</span> ' for i, m in enumerate(metrics))
    rows = []
    for bar in data["bars"][:500]:
        inner = "".join(
            f'<div class="bar-line" title="run {escape(str(bar["id"]))} {escape(m)} = {v:.6g}">'
            f'<div class="bar m{i}" style="width:{max(0.5, (v - low) / span * 90):.1f}%"></div>'
            f'<span class="v">{v:.4g}</span></div>'
            for i, m in enumerate(metrics)
            for v in [bar["values"].get(m)]
            if v is not None
        )
        rows.append(
            f'<tr><th><a href="{escape(bar["href"])}">run {escape(str(bar["id"]))}</a>'
            f'</th><td class="bars">{inner}</td></tr>'
        )
    more = f'<p class="muted">first 500 of {len(data["bars"])} runs</p>' if len(data["bars"]) > 500 else ""
    return f'<p>{legend}</p><table class="bar-table">{"".join(rows)}</table>{more}'


# ---- sweeps -------------------------------------------------------------------------------------
def _counts(counts: Mapping[str, int]) -> str:
    return " ".join(
        f'<span class="status s-{escape(str(status))}">{int(n)} {escape(str(status))}</span>'
        for status, n in sorted(counts.items())
    )


def _command_line(record: Mapping[str, Any]) -> str:
    words = record.get("command_line") or []
    if isinstance(words, list) and words:
        return " ".join(str(w) for w in words)
    return str(record.get("experiment") or "")


#: A RUNNING sweep's page reloads itself this often (seconds).
SWEEP_REFRESH_SECONDS = 10


def _direction_options(asked: str) -> str:
    """The choices of a "better" select: automatic (the metric's recorded goal, else its name),
    higher or lower; ``asked`` is the ``min`` parameter ("" automatic, "0", "1")."""
    choices = (("", "as the metric says"), ("0", "higher"), ("1", "lower"))
    return "".join(
        f'<option value="{value}"{" selected" if value == asked else ""}>{label}</option>'
        for value, label in choices
    )


def sweeps_page(records: Sequence[Mapping[str, Any]], supported: bool = True) -> bytes:
    """Every sweep of the store: id, command line, launcher, status, counts, start time."""
    body = ["<h1>Sweeps</h1>"]
    if not supported:
        body.append('<p class="muted">this store keeps no sweep records</p>')
    elif not records:
        body.append(
            '<p class="muted">no sweeps yet: <code>python train.py -F runs -M with lr=0.1,0.01</code> '
            "starts one (docs/sweeps.md)</p>"
        )
    else:
        rows = []
        for r in records:
            rows.append(
                "<tr>"
                f'<td class="num"><a href="{escape(sweep_href(r.get("id")))}">{esc(r.get("id"))}</a></td>'
                f"<td><code>{escape(_command_line(r))}</code></td>"
                f"<td>{esc(r.get('launcher'))} ×{esc(r.get('jobs'))}</td>"
                f'<td><span class="status s-{esc(r.get("status"))}">{esc(r.get("status"))}</span></td>'
                f'<td class="num">{esc(r.get("total"))}</td>'
                f"<td>{_counts(r.get('counts') or {})}</td>"
                f"<td>{esc(str(r.get('start_time') or '').replace('T', ' '))}</td>"
                "</tr>"
            )
        body.append(
            '<table id="sweeps"><thead><tr><th>id</th><th>command</th><th>launcher</th><th>status</th>'
            "<th>runs</th><th>counts</th><th>started (UTC)</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    return page("sweeps", "".join(body))


def sweep_page(data: Mapping[str, Any]) -> bytes:
    """One sweep: what it is, the swept values against every metric sorted by the objective
    (best run marked), and a parallel-coordinates chart over its runs."""
    record = data["record"]
    sweep_id = record.get("id")
    objective = data["objective"]
    facts = [
        ("status", f'<span class="status s-{esc(record.get("status"))}">{esc(record.get("status"))}</span>'),
        ("command", f"<code>{escape(_command_line(record))}</code>"),
        ("experiment", esc(record.get("experiment"))),
        ("launcher", f"{esc(record.get('launcher'))} (jobs {esc(record.get('jobs'))})"),
        ("started", esc(str(record.get("start_time") or "").replace("T", " "))),
        ("stopped", esc(str(record.get("stop_time") or "").replace("T", " "))),
        ("runs", f"{esc(record.get('total'))} tasks: {_counts(data['counts']) or 'none ran'}"),
    ]
    if record.get("resumed"):
        facts.append(("resumed", esc(", ".join(str(t) for t in record["resumed"]))))
    where = f"sweep == {sweep_id}"
    body = [
        f"<h1>Sweep {esc(sweep_id)}</h1>",
        '<table class="facts">'
        + "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in facts)
        + "</table>",
        f'<p><a href="{escape(runs_where_href(where))}">its runs in the table</a> · '
        f'<a href="/compare?{escape(urlencode({"where": where}))}">compare them</a> · '
        f'<a href="/progress?{escape(urlencode({"where": where}))}">progress</a></p>',
    ]
    if data["metrics"]:
        options = "".join(
            f'<option value="{escape(m)}"{" selected" if m == objective else ""}>{escape(m)}</option>'
            for m in data["metrics"]
        )
        directions = _direction_options(data.get("direction", ""))
        body.append(
            f'<form class="query" method="get" action="{escape(sweep_href(sweep_id))}">'
            f'<label>objective <select name="objective">{options}</select></label>'
            f'<label>better <select name="min">{directions}</select></label>'
            '<button type="submit">sort</button></form>'
        )
        if data["note"]:
            best = data["best"]
            marked = f"; * = best run {escape(str(best))}" if best is not None else ""
            body.append(f'<p class="muted" id="objective-note">{escape(data["note"])}{marked}</p>')
    headers = data["headers"]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    rows = []
    for row in data["rows"]:
        best_row = row[0] == "*"
        cells = [
            f'<td class="best-mark">{"★" if best_row else ""}</td>',
            f'<td class="num">{esc(row[1])}</td>',
        ]
        run_id = row[2]
        cells.append(
            f'<td class="num"><a href="{escape(run_href(run_id))}">{esc(run_id)}</a></td>'
            if run_id
            else "<td></td>"
        )
        cells.append(f'<td><span class="status s-{esc(row[3])}">{esc(row[3])}</span></td>')
        cells += [_value_cell(v) for v in row[4:]]
        mark = ' class="best"' if best_row else ""
        rows.append(f"<tr{mark}>{''.join(cells)}</tr>")
    body.append(
        f'<table id="sweep-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    params = data["params"]
    if params["keys"] and params["metrics"] and params["runs"]:
        options = "".join(
            f'<option value="{escape(m)}"{" selected" if m == objective else ""}>{escape(m)}</option>'
            for m in params["metrics"]
        )
        body += [
            "<h2>Parallel coordinates</h2>",
            f'<p><label>metric <select id="ek-param-metric">{options}</select></label> '
            '<span class="muted">one line per run, coloured by the metric (blue low, red high); '
            "the best run in black</span></p>",
            '<canvas id="ek-parallel" width="1000" height="340"></canvas>',
            "<h2>Metric against each swept value</h2>",
            '<div class="charts" id="ek-scatter"></div>',
            json_block("ek-params", params),
        ]
    running = record.get("status") == "RUNNING"
    if running:
        body.insert(
            1,
            f'<p class="muted" id="sweep-refresh">running: this page reloads every {SWEEP_REFRESH_SECONDS} s '
            "(a sweep whose process was killed stays RUNNING: resume it with --resume)</p>",
        )
    return page(f"sweep {sweep_id}", "".join(body), refresh=SWEEP_REFRESH_SECONDS if running else 0)
