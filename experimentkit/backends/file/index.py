"""The query index of a file store: one SQLite row per run, kept in step with the run directories.

Parsing thousands of ``run.json``/``config.json``/metric files for every ``experimentkit ls`` is
what makes file storage slow to query, so :class:`RunIndex` keeps, per run, the listing fields,
the JSON documents (queried with SQLite's ``json_extract``) and a last/min/max/count summary per
metric, in ``<basedir>/.experimentkit-index.sqlite`` (in memory when that file cannot be
written).  Queries are compiled by the SQL stores' query compiler (``backends/sql/compiler.py``,
the ``SQLITE`` dialect over this index's tables: ``_LAYOUT``), so the semantics have one SQL
translation; only the top-k walk of a metric's summary index is written here.  The files stay the
truth: before each query :meth:`RunIndex.refresh` re-reads the run
directories that may have changed, found without a ``stat`` per run:

* the base directory's inode and mtime change whenever a run directory is made, removed or renamed
  (by any writer: our observer, Sacred's, a shell).  Only then is the base listed -- names, entry
  types and inodes come with the listing -- and new, removed and replaced run directories found;
* runs the index holds as QUEUED/RUNNING, not readable yet, or written too recently to trust
  ("watched" runs) have their directory and ``run.json``, ``info.json``, ``metrics.json``,
  ``metrics.jsonl`` stat-ed (inode, mtime_ns, size) at every refresh: the metric log grows by
  appends and Sacred rewrites its files in place, neither of which touches the base directory;
* a run that has ended is no longer watched.  Writers that change it afterwards (our observer when
  a replay reaches an ended run, tags and notes) append its id to the change journal
  ``<basedir>/.experimentkit-changes`` after the write; the index reads the journal from the offset
  it reached last time and re-reads the runs named there.  A removed, replaced or shortened journal
  makes the next refresh re-read every run;
* a signature containing an mtime from the last :data:`RACY_SECONDS` is not trusted (file times
  tick coarsely, so a write in the same tick could go unnoticed): the base is listed again, the run
  re-read, at the next refresh.

Each source is looked at before any run is read, so a change made while reading is seen next time.
Hand edits of an ended run's files are seen by ``refresh(full=True)`` (re-reads every run).

Reading a run directory is ordered so that a final status implies complete files (run.json is read
first; the observers write it last).  Stored data is decoded as plain JSON only.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Optional

from ...query.base import INT_TEXT, Filter, Key, Query, dotted_keys, resource_entries
from ...query.memory import parse_time, summarize
from ...query.semantics import id_sort_key
from ...serialize import safe_restore
from ..sql.compiler import SQLITE, JsonRoot, Layout, QueryCompiler, sqlite_time, where
from .schema import (
    ANNOTATIONS_FILE,
    CHANGES_FILE,
    CONFIG_FILE,
    INFO_FILE,
    LIVE_STATUSES,
    METRICS_FILE,
    METRICS_LOG,
    RESOURCES_DIR,
    RUN_FILE,
    SOURCES_DIR,
    json_problem,
    load_run_metrics,
    read_json,
    read_metric_summaries,
)

__all__ = ["RunIndex", "INDEX_FILE", "read_run_dir", "RACY_SECONDS", "is_run_name"]

#: The index file inside the base directory (a dot file: Sacred and the observer skip it).
INDEX_FILE = ".experimentkit-index.sqlite"
#: A recorded mtime this close to the scan time may hide a write made in the same clock tick.
RACY_SECONDS = 2.0
_SCHEMA_VERSION = 8  # 8: times as SQLAlchemy's SQLite text, for the query compiler
#: The sort rank of a metric aggregate's type (``_RANK``), kept beside it (``<agg>_r``) so that a
#: top-k by a metric walks the ``(name, <agg>_r, <agg>)`` index; NULL for a null aggregate.
_RANK_OF = {"integer": 0, "real": 0, "true": 0, "false": 0, "nan": 0, "text": 1, "other": 3}
#: Runs read and written per transaction while refreshing (bounds a cold build's memory).
_CHUNK = 2000
#: SQLite's page cache for the index (KiB): a cold build of 100,000 runs stays out of the disk.
_CACHE_KIB = 65536
#: What ``_read_runs`` gives for a directory without run.json: a run still starting, no rows.
_STARTING = "starting"
_LIVE_FILES = (RUN_FILE, INFO_FILE, METRICS_FILE, METRICS_LOG)
_JSON_COLUMNS = ("config", "result", "info", "meta", "host", "experiment")  # small ones first
_TEXT_COLUMNS = ("command", "notes")
_TIME_COLUMNS = ("start_time", "stop_time", "heartbeat")
_TABLES = ("runs", "docs", "sigs", "metrics", "loose", "keys", "state")
_CATALOGUED = ("config", "info", "meta")
_INT64 = 2**63
_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, id_int INTEGER, status TEXT NOT NULL, command TEXT, notes TEXT NOT NULL,
    start_time TEXT, stop_time TEXT, heartbeat TEXT, tags TEXT,
    config TEXT, result TEXT, info TEXT, meta TEXT, host TEXT, experiment TEXT);
CREATE TABLE docs (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE sigs (
    id TEXT PRIMARY KEY, ino INTEGER, dir_sig TEXT NOT NULL, file_sig TEXT NOT NULL, watch INTEGER NOT NULL
    ) WITHOUT ROWID;
CREATE INDEX sigs_watch ON sigs (watch) WHERE watch = 1;
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE metrics (
    run_id TEXT NOT NULL, name TEXT NOT NULL, last_t TEXT NOT NULL, last, min_t TEXT NOT NULL, min,
    max_t TEXT NOT NULL, max, count INTEGER NOT NULL, last_r INTEGER, min_r INTEGER, max_r INTEGER,
    PRIMARY KEY (run_id, name)) WITHOUT ROWID;
CREATE INDEX metrics_last ON metrics (name, last_r, last);
CREATE INDEX metrics_min ON metrics (name, min_r, min);
CREATE INDEX metrics_max ON metrics (name, max_r, max);
CREATE TABLE loose (
    run_id TEXT NOT NULL, col TEXT NOT NULL, PRIMARY KEY (run_id, col)) WITHOUT ROWID;
CREATE TABLE keys (
    root TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (root, name)) WITHOUT ROWID;
"""


def is_run_name(name: str) -> bool:
    """Whether a directory entry of the base directory can be a run (not a store folder or temp)."""
    return bool(name) and not name.startswith(".") and name not in (SOURCES_DIR, RESOURCES_DIR)


def _iso(value: _dt.datetime) -> str:
    """One fixed text form for times, so that SQL compares them as text correctly."""
    return value.isoformat(timespec="microseconds")


def _time(value: Any) -> Optional[str]:
    try:
        parsed = parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return None if parsed is None else _iso(parsed)


def _sql_time(text: Optional[str]) -> Optional[str]:
    """A document's time as the index keeps it: the text SQLAlchemy keeps in SQLite, which the
    query compiler's parameters compare with."""
    parsed = parse_time(text)
    return None if parsed is None else sqlite_time(parsed)


def read_run_dir(run_dir: str, run_id: str) -> Optional[dict]:
    """The run in ``run_dir`` as a JSON-ready document, or None while it is not readable (no
    run.json yet, or a file caught in the middle of an in-place rewrite by Sacred)."""
    damaged: list = []  # what cannot be read, file and line; the rest is read
    run_file = os.path.join(run_dir, RUN_FILE)
    try:
        entry = read_json(run_file)
    except NotADirectoryError:
        return None
    except ValueError as exc:
        if _size(run_file) == 0:  # truncated by Sacred's in-place rewrite: being written
            return None
        damaged.append(json_problem(RUN_FILE, exc))
        entry = {"status": DAMAGED}
    if entry is None:
        return None
    if not isinstance(entry, dict):
        damaged.append(f"{RUN_FILE}: not a JSON object")
        entry = {"status": DAMAGED}
    config = _read_part(run_dir, CONFIG_FILE, damaged)
    info = _read_part(run_dir, INFO_FILE, damaged)
    notes = _read_part(run_dir, ANNOTATIONS_FILE, damaged)
    summaries = read_metric_summaries(run_dir)
    if summaries is None:
        summaries = _summarize_run_metrics(run_dir, damaged)
    notes = notes if isinstance(notes, dict) else {}
    # Sacred's jsonpickle forms as plain values, so that indexed queries (info.acc > 0.9) see numbers
    config, info = safe_restore(config), safe_restore(info)
    return {
        "id": run_id,
        "status": entry.get("status") or "RUNNING",
        "experiment": entry.get("experiment") or {},
        "command": entry.get("command"),
        "config": config if isinstance(config, dict) else {},
        "info": info if isinstance(info, dict) else {},
        "host": entry.get("host") or {},
        "meta": entry.get("meta") or {},
        "start_time": _time(entry.get("start_time")),
        "stop_time": _time(entry.get("stop_time")),
        "heartbeat": _time(entry.get("heartbeat")),
        "result": safe_restore(entry.get("result")),
        "fail_trace": entry.get("fail_trace"),
        "tags": list(notes.get("tags") or []),
        "notes": str(notes.get("notes") or ""),
        "artifacts": list(entry.get("artifacts") or []),
        "metrics": summaries,
        "damaged": damaged,
        "resources": resource_entries(entry.get("resources")),
    }


#: The status ``ls`` shows for a run whose run.json cannot be read.
DAMAGED = "DAMAGED"


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _read_part(run_dir: str, name: str, damaged: list) -> dict:
    """A JSON object file of the run ({} when missing; described in ``damaged`` when broken)."""
    try:
        data = read_json(os.path.join(run_dir, name), {})
    except ValueError as exc:
        damaged.append(json_problem(name, exc))
        return {}
    if not isinstance(data, dict):
        damaged.append(f"{name}: not a JSON object")
        return {}
    return data


def _summarize_run_metrics(run_dir: str, damaged: Optional[list] = None) -> dict:
    """Summaries from every point (runs written by Sacred or older code, live or replayed runs);
    what cannot be read is described in ``damaged``."""
    metrics = load_run_metrics(run_dir, damaged)
    summaries = {}
    for name, series in (metrics or {}).items():
        values = list(series.get("values") or [])
        try:
            summaries[name] = summarize(values)
        except TypeError:  # values of mixed types have no min/max
            summaries[name] = {
                "last": values[-1] if values else None,
                "min": None,
                "max": None,
                "count": len(values),
            }
    return summaries


def _sig(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def _file_sig(run_dir: str, newest: list) -> str:
    parts = []
    for name in _LIVE_FILES:
        try:
            st = os.stat(os.path.join(run_dir, name))
        except OSError:
            parts.append("-")
            continue
        newest[0] = max(newest[0], st.st_mtime_ns)
        parts.append(_sig(st))
    return "|".join(parts)


def _dir_sig(st: os.stat_result) -> str:
    return f"{st.st_ino}:{st.st_mtime_ns}"


def _base_sig(basedir: str, racy_after: int) -> str:
    """The base directory's (inode, mtime): it changes when a run directory is made, removed or
    renamed.  "racy" when recent: a change in the same clock tick would leave it unchanged."""
    try:
        st = os.stat(basedir)
    except OSError:
        return "-"
    return "racy" if st.st_mtime_ns >= racy_after else _dir_sig(st)


def _list_runs(basedir: str) -> dict[str, int]:
    """``{name: inode}`` of the run directories, from the directory listing alone (the entry
    type and inode come with the names: no ``stat`` per run, except for symbolic links)."""
    runs: dict[str, int] = {}
    try:
        entries = os.scandir(basedir)
    except FileNotFoundError:
        return runs
    real_base = None
    with entries:
        for entry in entries:
            name = entry.name
            if not is_run_name(name):
                continue
            try:
                if not entry.is_dir():
                    continue
                if entry.is_symlink():  # a run directory linked in: only from inside
                    real_base = real_base or os.path.realpath(basedir) + os.sep
                    if not os.path.realpath(entry.path).startswith(real_base):
                        continue
                runs[name] = entry.inode()
            except OSError:
                continue
    return runs


class _JournalTail(NamedTuple):
    """What the change journal says since a refresh's journal state."""

    names: list[str]  # the runs named there
    state: dict[str, str]  # where the next refresh reads on
    cut: bool  # the journal was removed, replaced or cut since: what it said is lost


def _journal_tail(basedir: str, state: dict[str, str]) -> _JournalTail:
    """The runs named in the change journal since the offset in ``state`` (from its start when
    the journal was removed, replaced or cut since)."""
    seen_ino = state.get("journal_ino")
    offset = int(state.get("journal_offset") or 0)
    try:
        with open(os.path.join(basedir, CHANGES_FILE), "rb") as f:
            st = os.fstat(f.fileno())
            ino = str(st.st_ino)
            cut = seen_ino not in (None, "0", ino) or st.st_size < offset
            if cut or seen_ino != ino:
                offset = 0
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return _JournalTail([], {"journal_ino": "0", "journal_offset": "0"}, seen_ino not in (None, "0"))
    end = data.rfind(b"\n") + 1  # a line being appended is read next time
    names = []
    for line in data[:end].splitlines():
        try:
            name = json.loads(line)
        except ValueError:
            continue
        if isinstance(name, str):
            names.append(name)
    return _JournalTail(names, {"journal_ino": ino, "journal_offset": str(offset + end)}, cut)


def _strict_json(value: Any) -> tuple:
    """(JSON text SQLite can parse, whether the value had NaN/Infinity, which SQL cannot see)."""
    try:
        return json.dumps(value, allow_nan=False), False
    except ValueError:
        return json.dumps(_finite(value)), True


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _typed(value: Any) -> tuple:
    """A metric aggregate as (type name as SQLite's json_type spells it, SQL value)."""
    if value is None:
        return "null", None
    if isinstance(value, bool):
        return ("true" if value else "false"), int(value)
    if isinstance(value, int):
        return ("integer", value) if -_INT64 <= value < _INT64 else ("real", float(value))
    if isinstance(value, float):
        return ("nan", None) if math.isnan(value) else ("real", value)
    if isinstance(value, str):
        return "text", value
    return "other", json.dumps(value, sort_keys=True)


class RunIndex:
    """The SQLite index of one base directory (see the module docstring)."""

    def __init__(self, basedir: str, index_path: Optional[str] = None):
        self.basedir = basedir
        self._key_counts: Counter = Counter()  # how many more runs have each (root, name) key
        path = index_path or os.path.join(basedir, INDEX_FILE)
        conn = self._connect(path)
        if conn is None:  # the index cannot be written there: kept in memory
            path, conn = ":memory:", self._connect(":memory:")
        if conn is None:
            raise sqlite3.DatabaseError("cannot open an in-memory SQLite database")
        self.path = path
        self.conn: sqlite3.Connection = conn

    @staticmethod
    def _connect(path: str) -> Optional[sqlite3.Connection]:
        """Open (creating or rebuilding) the index; None when ``path`` cannot be written."""
        if path != ":memory:":
            folder = os.path.dirname(os.path.abspath(path))
            if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
                return None
        for attempt in range(2):
            conn = None
            try:
                conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
                if path != ":memory:":  # a rollback journal that is kept, not created and deleted at
                    conn.execute("PRAGMA journal_mode = PERSIST")  # each write: the base stays unchanged
                conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
                if conn.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                    conn.execute("BEGIN IMMEDIATE")  # another process may be building it too
                    if conn.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                        for table in _TABLES:
                            conn.execute(f"DROP TABLE IF EXISTS {table}")
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                return conn
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                corrupt = "not a database" in str(exc) or "malformed" in str(exc)
                if attempt == 0 and corrupt and path != ":memory:":
                    try:
                        os.unlink(path)
                        continue
                    except OSError:
                        pass
                return None
        return None

    def close(self) -> None:
        self.conn.close()

    # ---- keeping the index fresh ---------------------------------------------------------------
    def refresh(self, full: bool = False) -> dict:
        """Bring the index in step with the directory (see the module docstring); ``full`` re-reads
        every run directory, which also catches hand edits of ended runs.  Returns how many runs
        were re-read and dropped."""
        racy_after = time.time_ns() - int(RACY_SECONDS * 1e9)
        state = dict(self.conn.execute("SELECT key, value FROM state"))
        # what the journal, the listing and the watched runs say, each looked at before any run
        # is read, so that a change made while reading shows up at the next refresh
        names, journal_state, cut = _journal_tail(self.basedir, state)
        full = full or cut  # the journal was removed or cut: what it said since is unknown
        base_sig = _base_sig(self.basedir, racy_after)
        candidates: dict = {}  # run name -> inode from the listing (None: not listed)
        dropped: list = []
        if full or state.get("base") != base_sig or base_sig == "racy":
            known = dict(self.conn.execute("SELECT id, ino FROM sigs"))
            listing = _list_runs(self.basedir)
            candidates = {n: ino for n, ino in listing.items() if full or known.get(n, -1) != ino}
            dropped = [n for n in known if n not in listing]
        gone = set(dropped)
        watched = self.conn.execute("SELECT id, dir_sig, file_sig FROM sigs WHERE watch = 1")
        for name, dir_sig, file_sig in watched.fetchall():
            if name in candidates or name in gone:
                continue
            try:
                current = _dir_sig(os.stat(os.path.join(self.basedir, name)))
            except OSError:
                current = None
            if current != dir_sig or _file_sig(os.path.join(self.basedir, name), [0]) != file_sig:
                candidates[name] = None
        for name in names:
            if name not in candidates and name not in gone and is_run_name(name) and os.sep not in name:
                candidates[name] = None
        todo = sorted(candidates.items())  # in key order: the tables' B-trees grow at one end
        read = 0
        new_state = {"base": base_sig, **journal_state}
        for start in range(0, len(todo), _CHUNK):  # in chunks: a cold build holds few documents
            rows, lost = self._read_runs(todo[start : start + _CHUNK], racy_after)
            read += sum(1 for row in rows if isinstance(row[4], dict))
            dropped += lost
            if start + _CHUNK < len(todo):
                self._write(rows, lost)
            else:
                self._write(rows, dropped, new_state)
        if not todo and (dropped or any(state.get(k) != v for k, v in new_state.items())):
            self._write([], dropped, new_state)
        return {"read": read, "dropped": len(dropped)}

    def _read_runs(self, chunk: list, racy_after: int) -> tuple:
        """Read the runs named in ``chunk`` ((name, listed inode)): rows for ``_write`` and the
        names whose directory is gone."""
        rows, lost = [], []
        for name, ino in chunk:
            path = os.path.join(self.basedir, name)
            try:
                st = os.stat(path)
            except OSError:
                lost.append(name)
                continue
            newest = [st.st_mtime_ns]
            file_sig = _file_sig(path, newest)
            dir_sig = _dir_sig(st) if newest[0] < racy_after else "racy"
            doc: Any = read_run_dir(path, name)
            if doc is None and not os.path.exists(os.path.join(path, RUN_FILE)):
                doc = _STARTING  # no run yet (or not a run, e.g. _sweeps): watched by its signature
            elif doc is None:  # caught mid-rewrite: the old rows stay, read again next time
                dir_sig = "racy"
            rows.append((name, ino, dir_sig, file_sig, doc))
        return rows, lost

    def _write(self, rows: list, dropped: Iterable[str], state: Optional[dict] = None) -> None:
        """Store re-read runs (``(name, ino, dir_sig, file_sig, doc)``; doc None: caught
        mid-rewrite, the old rows stay; ``_STARTING``: no run.json, no rows), drop runs, save the
        refresh's ``state``."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        self._key_counts = Counter()
        try:
            dropped = list(dropped)
            for run_id in dropped:
                self._delete_rows(run_id)
                conn.execute("DELETE FROM sigs WHERE id = ?", (run_id,))
            for name, ino, dir_sig, file_sig, doc in rows:
                if ino is None:  # not listed this time: keep the inode the last listing saw
                    found = conn.execute("SELECT ino FROM sigs WHERE id = ?", (name,)).fetchone()
                    ino = found[0] if found else None
                conn.execute("DELETE FROM sigs WHERE id = ?", (name,))
                watch = not isinstance(doc, dict) or dir_sig == "racy" or doc["status"] in LIVE_STATUSES
                row = (name, ino, dir_sig, file_sig, int(watch))
                conn.execute("INSERT INTO sigs VALUES (?,?,?,?,?)", row)
                if doc is not None:
                    self._delete_rows(name)
                if isinstance(doc, dict):
                    self._insert(doc)
            deltas = sorted((root, name, n) for (root, name), n in self._key_counts.items() if n)
            conn.executemany(
                "INSERT INTO keys VALUES (?,?,?) ON CONFLICT (root, name) DO UPDATE SET n = n + excluded.n",
                deltas,
            )
            if any(n < 0 for *_, n in deltas):  # keys no run has any more
                conn.execute("DELETE FROM keys WHERE n <= 0")
            self._key_counts = Counter()
            if state is not None:
                conn.executemany("INSERT OR REPLACE INTO state VALUES (?,?)", sorted(state.items()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def run_dirs(self) -> int:
        """How many run directories the index knows (including runs still starting)."""
        return self.conn.execute("SELECT COUNT(*) FROM sigs").fetchone()[0]

    def _delete_rows(self, run_id: str) -> None:
        """Remove a run's rows, and count its keys out of the catalogue (a key goes with its last run)."""
        texts = self.conn.execute("SELECT config, info, meta FROM runs WHERE id = ?", (run_id,)).fetchone()
        if texts is not None:
            doc = {root: json.loads(text) if text else {} for root, text in zip(_CATALOGUED, texts)}
            names = self.conn.execute("SELECT name FROM metrics WHERE run_id = ?", (run_id,))
            self._key_counts.subtract(_catalogue_rows(dict(doc, metrics={row[0]: None for row in names})))
        for table in ("runs", "docs", "metrics", "loose"):
            column = "run_id" if table in ("metrics", "loose") else "id"
            self.conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (run_id,))

    def _insert(self, doc: dict) -> None:
        run_id = doc["id"]
        id_key = id_sort_key(run_id)
        id_int = id_key[1] if id_key[0] == 0 and -_INT64 <= id_key[1] < _INT64 else None
        loose = set()
        json_values = []
        for column in _JSON_COLUMNS:
            text, is_loose = _strict_json(doc[column])
            json_values.append(text)
            if is_loose:
                loose.add(column)
        tags, _ = _strict_json(doc["tags"])
        self.conn.execute(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                id_int,
                doc["status"],
                doc["command"],
                doc["notes"],
                *(_sql_time(doc[column]) for column in _TIME_COLUMNS),
                tags,
                *json_values,
            ),
        )
        self.conn.execute("INSERT INTO docs VALUES (?,?)", (run_id, json.dumps(doc)))
        rows = []
        for name, summary in doc["metrics"].items():
            cells = [_typed(summary.get(agg)) for agg in ("last", "min", "max")]
            if any(t == "other" for t, _ in cells):
                loose.add("metrics")
            ranks = [_RANK_OF.get(t) for t, _ in cells]
            rows.append((run_id, name, *(x for cell in cells for x in cell), summary["count"], *ranks))
        self.conn.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        self.conn.executemany("INSERT INTO loose VALUES (?,?)", [(run_id, c) for c in loose])
        self._key_counts.update(_catalogue_rows(doc))

    def forget(self, run_ids: Iterable[str]) -> None:
        """Drop runs from the index (their directories were deleted)."""
        self._write([], list(run_ids))

    # ---- querying: SQL from the query compiler (backends/sql/compiler.py) over ``_LAYOUT`` -----
    def _compile(self, q: Query, cutoff: _dt.datetime) -> _Compiled:
        """``q`` compiled over the index's tables; keys of a root some run holds only partly
        (NaN, a metric value that is a list: the ``loose`` table) are left to Python."""
        tr = QueryCompiler(SQLITE, cutoff, _LAYOUT, python_roots=self._loose_columns())
        pushed, terms, others, _ = tr.plan(q)  # SQLite parses every JSON text the index keeps
        return _Compiled(tr, [f for f, _ in pushed], [c for _, c in pushed], terms, others)

    def plan(self, q: Query, cutoff: _dt.datetime) -> dict:
        """The SQL for ``q`` and what it covers: ``sql``, ``params``, ``filtered`` (the filters
        it applies), ``ordered`` and ``limited`` (as ``apply_in_python`` takes them, unless a
        list or object value turns up among the rows: then Python orders), and ``others``
        (how many of the selected columns flag such values)."""
        c = self._compile(q, cutoff)
        flags = "".join(f", {o}" for o in c.others)
        sql = f"SELECT r.id{flags} FROM runs r{c.compiler.join_sql()}{where(c.conditions)}"
        ordered = c.terms is not None
        if c.terms is not None:
            sql += " ORDER BY " + ", ".join(c.terms)
        limited = ordered and len(c.filtered) == len(q.filters)
        if limited and (q.limit is not None or q.offset):
            limit = None if q.limit is None else max(int(q.limit), 0)
            sql += SQLITE.window(limit, max(int(q.offset or 0), 0))
        return {
            "sql": sql,
            "params": c.compiler.params,
            "filtered": c.filtered,
            "ordered": ordered,
            "limited": limited,
            "others": len(c.others),
        }

    def select(self, q: Query, cutoff: _dt.datetime) -> tuple:
        """Run what SQL can of ``q`` (ids first, then only those documents): ``(docs, filters
        applied, ordered, limited)`` for ``apply_in_python``."""
        ids = self._top_by_metric(q, cutoff)  # a walk applies every filter, the order, the window
        filtered, ordered, limited = list(q.filters), True, True
        if ids is None:
            plan = self.plan(q, cutoff)
            filtered, ordered, limited = plan["filtered"], plan["ordered"], plan["limited"]
            rows = self.conn.execute(plan["sql"], plan["params"]).fetchall()
            if plan["others"] and any(any(row[1:]) for row in rows):  # Python orders lists, objects
                if limited and (q.limit is not None or q.offset):  # every match, not the SQL window
                    every = self.plan(q.replace(order=(), limit=None, offset=0), cutoff)
                    rows = self.conn.execute(every["sql"], every["params"]).fetchall()
                ordered = limited = False
            ids = [row[0] for row in rows]
        found = dict(
            self.conn.execute(
                "SELECT id, doc FROM docs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
            )
        )
        docs = [json.loads(found[run_id]) for run_id in ids]
        return docs, filtered, ordered, limited

    def _top_by_metric(self, q: Query, cutoff: _dt.datetime) -> Optional[list]:
        """The ids of a top-k ordered by one metric aggregate (``-metrics.acc``), walking that
        metric's ``(name, rank, value)`` index from the best end and testing the filters on each
        run until k pass, instead of sorting every run; the same order as the compiler's ORDER BY
        (non-null values by type rank then value, then runs without a value, ties by id).  None
        when ``q`` is not such a query."""
        walk = self._walk(q, cutoff)
        if walk is None:
            return None
        key, tr, conditions, limit = walk
        agg, direction = key.aggregate, " DESC" if q.order[0].descending else ""
        cond = "".join(f" AND ({c})" for c in conditions)
        wanted = max(int(limit), 0) + max(int(q.offset or 0), 0)
        name, ties = tr.param(key.path[0]), ", ".join(tr.id_terms())
        ids = [
            row[0]
            for row in self.conn.execute(
                f"SELECT r.id FROM metrics o CROSS JOIN runs r{tr.join_sql()} WHERE o.name = {name} "
                f"AND o.{agg}_r IS NOT NULL AND r.id = o.run_id{cond} ORDER BY o.{agg}_r{direction}, "
                f"o.{agg}{direction}, {ties} LIMIT {wanted}",
                tr.params,
            )
        ]
        if len(ids) < wanted:  # then the runs where the metric is missing or null, by id
            rest = self.conn.execute(
                f"SELECT r.id FROM runs r LEFT JOIN metrics o ON o.run_id = r.id AND o.name = {name}"
                f"{tr.join_sql()} WHERE o.{agg}_r IS NULL{cond} ORDER BY {ties} LIMIT {wanted - len(ids)}",
                tr.params,
            )
            ids += [row[0] for row in rest]
        return ids[max(int(q.offset or 0), 0) :]

    def _walk(self, q: Query, cutoff: _dt.datetime) -> Optional[_Walk]:
        """How ``_top_by_metric`` answers ``q``, or None when it does not."""
        if len(q.order) != 1 or q.limit is None:
            return None
        key = q.order[0].parsed_key
        if key.root != "metrics" or key.aggregate not in ("last", "min", "max"):
            return None
        c = self._compile(q.replace(order=()), cutoff)
        if "metrics" in c.compiler.python_roots or len(c.filtered) != len(q.filters):
            return None
        return _Walk(key, c.compiler, c.conditions, q.limit)

    def top_walk(self, q: Query, cutoff: _dt.datetime) -> Optional[str]:
        """How a top-k query is answered by walking a metric's summary index (for ``explain``),
        or None when the plain query runs."""
        walk = self._walk(q, cutoff)
        if walk is None:
            return None
        key, agg = walk.key, walk.key.aggregate
        end = "highest" if q.order[0].descending else "lowest"
        return (
            f"walks the index metrics({agg}) of {key.path[0]!r} from the {end} value, "
            f"testing the filters on each run until {int(q.limit or 0) + max(int(q.offset or 0), 0)} pass"
        )

    def count(self, filters: Sequence[Filter], cutoff: _dt.datetime) -> Optional[int]:
        """How many runs match, or None when some filter cannot be evaluated in SQL."""
        c = self._compile(Query(filters=tuple(filters)), cutoff)
        if len(c.filtered) != len(filters):
            return None
        sql = f"SELECT COUNT(*) FROM runs r{c.compiler.join_sql()}{where(c.conditions)}"
        return self.conn.execute(sql, c.compiler.params).fetchone()[0]

    def has_key(self, key: Key) -> bool:
        """Whether some indexed run has ``key``: one lookup in the catalogue of every run's key
        paths (``keys``, written with the run's row).  A path through a list (``config.layers.0``)
        is not catalogued: it is left to the query, as a key some run has."""
        if key.root not in ("metrics", *_CATALOGUED):
            return True
        name = key.path[0] if key.root == "metrics" else ".".join(key.path)
        found = self.conn.execute("SELECT 1 FROM keys WHERE root = ? AND name = ? LIMIT 1", (key.root, name))
        if found.fetchone() is not None:
            return True
        return key.root != "metrics" and any(INT_TEXT.match(part) for part in key.path)

    def key_names(self, root: str) -> list:
        """Every key under ``root`` some indexed run has (for suggestions)."""
        rows = self.conn.execute("SELECT DISTINCT name FROM keys WHERE root = ?", (root,))
        return sorted(f"{root}.{row[0]}" for row in rows)

    def statuses(self) -> list:
        return sorted(row[0] for row in self.conn.execute("SELECT DISTINCT status FROM runs"))

    def _loose_columns(self) -> set:
        return {row[0] for row in self.conn.execute("SELECT DISTINCT col FROM loose")}


# --------------------------------------------------------------------------------------------------
# what the query compiler reads
# --------------------------------------------------------------------------------------------------
#: Where the index keeps each key of a run, for the query compiler: times as SQLAlchemy's SQLite
#: text (``sqlite_time``), ``id_int`` the integer of an integer-looking id, the JSON documents
#: whole (``experiment`` and ``host`` too), tags as a JSON list, and each metric aggregate with its
#: JSON type beside it (``<agg>_t``; text, bools, NaN are values too).
_LAYOUT = Layout(
    run_id="r.id",
    status="r.status",
    heartbeat="r.heartbeat",
    start_time="r.start_time",
    text=(("command", "r.command"), ("notes", "r.notes")),
    times=tuple((column, f"r.{column}") for column in _TIME_COLUMNS),
    json=tuple((column, JsonRoot(f"r.{column}", whole=True)) for column in _JSON_COLUMNS),
    id_number="r.id_int",
    typed_metrics=True,
    metric_table="metrics",
    tags_json="r.tags",
)


def _catalogue_rows(doc: dict) -> set:
    """``(root, path)`` for a run's metric names and every key path of its config/info/meta."""
    rows = {("metrics", name) for name in doc["metrics"]}
    for root in _CATALOGUED:
        cut = len(root) + 1
        rows.update((root, name[cut:]) for name in dotted_keys([doc[root]], root))
    return rows


class _Compiled(NamedTuple):
    """A query as the compiler gives it for the index."""

    compiler: QueryCompiler  # its parameters and joins
    filtered: list  # the filters SQL applies
    conditions: list  # their conditions
    terms: Optional[list]  # ORDER BY terms (None: Python orders)
    others: list  # SQL true where an order key's value is a list or object


class _Walk(NamedTuple):
    """A top-k by one metric aggregate as ``RunIndex._top_by_metric`` walks it."""

    key: Key  # the metric aggregate ordered by
    compiler: QueryCompiler  # the filters' joins and parameters
    conditions: list  # the filters' conditions
    limit: int  # the query's limit (k before the offset)
