"""``ObjectStoreObserver``: writes Sacred's ``FileStorageObserver`` layout into an object store.

Layout under ``<basedir>/`` (the same names as the file store, so tools reading Sacred's S3 layout
keep working)::

    _sources/<stem>_<md5><ext>     _resources/<stem>_<md5><ext>
    <id>/run.json  config.json  cout.txt  info.json  metrics.json  <artifacts>  tables/<name>.jsonl

Objects cannot be appended to, so every write replaces a whole object (atomically, by the store):
``cout.txt`` always holds the whole output so far (Sacred's S3 observer kept only the last beat's
part), ``metrics.json`` all points so far.  A subclass supplies four primitives over its client.
Errors propagate, so the run's dispatcher retries the event and journals it if the store stays down.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import posixpath
import re
from typing import Any, Optional

from ...observers.base import RunObserver
from ...serialize import flatten

__all__ = ["ObjectStoreObserver", "join_key", "is_valid_bucket", "parse_bucket_url"]

_MAX_ID_ATTEMPTS = 100
_RESERVED = frozenset({"run.json", "config.json", "cout.txt", "info.json", "metrics.json"})


def join_key(*parts: str) -> str:
    """Join key parts with ``/`` (never the OS separator), dropping empty parts and stray slashes."""
    return posixpath.join(*[p.strip("/") for p in parts if p and p.strip("/")])


def parse_bucket_url(value: str, scheme: str, flag: str) -> tuple:
    """``(bucket, basedir)`` from ``<scheme>://<bucket>/path/to/exp`` (the value of ``flag``)."""
    from ...errors import UsageError

    match = re.fullmatch(scheme + r"://([^/]+)/(.+)", str(value).strip())
    if match is None:
        raise UsageError(f"{flag} must look like {scheme}://<bucket>/path/to/exp, not {value!r}")
    return match.group(1), match.group(2).strip("/")


def is_valid_bucket(name: str) -> bool:
    """S3's and GCS's common bucket-name rules: 3-63 characters of ``a-z0-9.-``, starting and ending
    with a letter or digit, no ``..``, not an IP address."""
    import re

    if not 3 <= len(name) <= 63 or ".." in name:
        return False
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return False
    return re.fullmatch(r"[a-z0-9][a-z0-9.\-]*[a-z0-9]", name) is not None


def _text(obj: Any) -> bytes:
    return json.dumps(flatten(obj), sort_keys=True, indent=2, allow_nan=True).encode("utf-8")


def _md5(filename: str) -> str:
    digest = hashlib.md5()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ObjectStoreObserver(RunObserver):
    """Sacred's file layout over ``_put``/``_get``/``_exists``/``_list_dirs`` of a subclass."""

    priority = 20

    def __init__(
        self,
        bucket: str,
        basedir: str,
        resource_dir: Optional[str] = None,
        source_dir: Optional[str] = None,
        priority: int = 20,
    ):
        if not is_valid_bucket(bucket):
            raise ValueError(
                f"Your chosen bucket name {bucket!r} doesn't follow the bucket naming "
                f"rules (3-63 characters of a-z, 0-9, '.', '-')"
            )
        self.bucket = bucket
        self.basedir = basedir.strip("/")
        self.resource_dir = resource_dir or join_key(self.basedir, "_resources")
        self.source_dir = source_dir or join_key(self.basedir, "_sources")
        self.priority = priority
        self.dir: Optional[str] = None
        self.run_entry: Optional[dict] = None
        self.config: Any = None
        self.info: Any = None
        self.cout = ""
        self.saved_metrics: dict = {}
        self.tables: dict = {}

    # ---- what a subclass provides ----------------------------------------------------------------
    def _put(self, key: str, data: bytes, content_type: Optional[str] = None) -> None:
        raise NotImplementedError

    def _get(self, key: str) -> Optional[bytes]:
        """The object's bytes, or None if it does not exist."""
        raise NotImplementedError

    def _exists(self, prefix: str) -> bool:
        """True if any object's key starts with ``prefix``."""
        raise NotImplementedError

    def _list_dirs(self, prefix: str) -> list:
        """The names of the "directories" directly under ``prefix`` (common prefixes)."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """Make sure the bucket exists (called before a new run directory is chosen)."""

    # ---- events ----------------------------------------------------------------------------------
    def queued_event(self, ex_info, command, host_info, queue_time, config, meta_info, _id):
        _id = self._claim_run_dir(_id)
        self.run_entry = {
            "experiment": dict(ex_info, sources=self._save_sources(ex_info)),
            "command": command,
            "host": dict(host_info),
            "meta": meta_info,
            "status": "QUEUED",
        }
        self.config, self.info = config, {}
        self._save_json("config.json", config)
        self._save_json("run.json", self.run_entry)
        return _id

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        _id = self._claim_run_dir(_id)
        self.run_entry = {
            "experiment": dict(ex_info, sources=self._save_sources(ex_info)),
            "command": command,
            "host": dict(host_info),
            "start_time": start_time,
            "meta": meta_info,
            "status": "RUNNING",
            "resources": [],
            "artifacts": [],
            "heartbeat": None,
        }
        self.config, self.info, self.cout = config, {}, ""
        self.saved_metrics, self.tables = {}, {}
        self._save_json("config.json", config)
        self._put(join_key(self.dir, "cout.txt"), b"", "text/plain")
        self._save_json("run.json", self.run_entry)
        return _id

    def heartbeat_event(self, info, captured_out, beat_time, result):
        self.info = info
        if captured_out is not None and captured_out != self.cout:
            self._put(join_key(self.dir, "cout.txt"), captured_out.encode("utf-8"), "text/plain")
            self.cout = captured_out
        if info:
            self._save_json("info.json", info)
        self.run_entry.update(heartbeat=beat_time, result=result)
        self._save_json("run.json", self.run_entry)

    def completed_event(self, stop_time, result):
        self.run_entry.update(stop_time=stop_time, result=result, status="COMPLETED")
        self._save_json("run.json", self.run_entry)

    def interrupted_event(self, interrupt_time, status):
        self.run_entry.update(stop_time=interrupt_time, status=status)
        self._save_json("run.json", self.run_entry)

    def failed_event(self, fail_time, fail_trace):
        self.run_entry.update(stop_time=fail_time, status="FAILED", fail_trace=fail_trace)
        self._save_json("run.json", self.run_entry)

    def resource_event(self, filename):
        store_path = self._find_or_save(filename, self.resource_dir)
        entry = [filename, store_path]
        if entry not in self.run_entry["resources"]:
            self.run_entry["resources"].append(entry)
            self._save_json("run.json", self.run_entry)

    def artifact_event(self, name, filename, metadata=None, content_type=None):
        if name in _RESERVED:
            raise FileExistsError(
                f"Cannot store the artifact {name!r}: the store uses that name "
                f"itself (reserved: {', '.join(sorted(_RESERVED))})."
            )
        with open(filename, "rb") as f:
            self._put(join_key(self.dir, name), f.read(), content_type)
        if name not in self.run_entry["artifacts"]:
            self.run_entry["artifacts"].append(name)
        if metadata is not None or content_type is not None:
            meta = self.run_entry.setdefault("artifact_meta", {})
            meta[name] = {"content_type": content_type, "metadata": metadata}
        self._save_json("run.json", self.run_entry)

    def log_metrics(self, metrics_by_name, info):
        if not metrics_by_name:
            return
        merged = {
            name: {key: list(series[key]) for key in ("steps", "values", "timestamps")}
            for name, series in self.saved_metrics.items()
        }
        for name, new in metrics_by_name.items():
            series = merged.setdefault(name, {"steps": [], "values": [], "timestamps": []})
            series["steps"] += list(new["steps"])
            series["values"] += list(new["values"])
            series["timestamps"] += [
                t.isoformat() if isinstance(t, _dt.datetime) else t for t in new["timestamps"]
            ]
        self._save_json("metrics.json", merged)
        self.saved_metrics = merged  # only once stored: a failed put is retried with the same batch

    def log_table(self, name: str, rows: list) -> None:
        lines = self.tables.get(name, []) + [json.dumps(flatten(row), sort_keys=True) for row in rows]
        self._put(
            join_key(self._run_dir(), "tables", f"{name}.jsonl"),
            "".join(line + "\n" for line in lines).encode("utf-8"),
            "application/x-ndjson",
        )
        self.tables[name] = lines

    def attach(self, _id: Any) -> None:
        """Re-open the stored run ``_id`` so replayed events extend it."""
        self.dir = join_key(self.basedir, str(_id))
        raw = self._get(join_key(self.dir, "run.json"))
        if raw is None:
            raise FileNotFoundError(f"Cannot attach to run {_id!r}: {self._where(self.dir)} has no run.json")
        self.run_entry = json.loads(raw)
        self.config = json.loads(self._get(join_key(self.dir, "config.json")) or b"null")
        self.info = json.loads(self._get(join_key(self.dir, "info.json")) or b"{}")
        self.cout = (self._get(join_key(self.dir, "cout.txt")) or b"").decode("utf-8", "replace")
        self.saved_metrics = json.loads(self._get(join_key(self.dir, "metrics.json")) or b"{}")
        self.tables = {}

    # ---- helpers ---------------------------------------------------------------------------------
    def _where(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    def _claim_run_dir(self, _id: Any) -> Any:
        """Choose ``<basedir>/<id>``: the given id, or one more than the largest numeric one."""
        self._prepare()
        given = _id is not None
        for _ in range(_MAX_ID_ATTEMPTS):
            if not given:
                numbers = [int(d) for d in self._list_dirs(self.basedir) if d.isdigit()]
                _id = max(numbers, default=0) + 1
            run_dir = join_key(self.basedir, str(_id))
            if not self._exists(run_dir + "/"):
                self.dir = run_dir
                return _id
            if given:
                raise FileExistsError(f"run directory {self._where(run_dir)} already exists")
        raise FileExistsError(f"could not claim a new run directory under {self._where(self.basedir)}")

    def _run_dir(self) -> str:
        """The started run's key prefix; the events that write under it only come after a start."""
        if self.dir is None:
            raise RuntimeError("the run has not started: no run directory yet")
        return self.dir

    def _save_json(self, name: str, obj: Any) -> None:
        self._put(join_key(self._run_dir(), name), _text(obj), "application/json")

    def _find_or_save(self, filename: str, store_dir: str) -> str:
        stem, ext = os.path.splitext(os.path.basename(filename))
        key = join_key(store_dir, f"{stem}_{_md5(filename)}{ext}")
        if not self._exists(key):
            with open(filename, "rb") as f:
                self._put(key, f.read())
        return key

    def _save_sources(self, ex_info: dict) -> list:
        base_dir = ex_info.get("base_dir") or ""
        saved = []
        for relpath, _md5sum in ex_info.get("sources") or ():
            key = self._find_or_save(os.path.join(base_dir, relpath), self.source_dir)
            saved.append([relpath, posixpath.relpath(key, self.basedir or ".")])
        return saved

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.bucket == other.bucket and self.basedir == other.basedir

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.bucket, self.basedir))
