"""TensorBoard both ways: export runs as event files, import logdirs, mirror a live run.

Event files are written and read with the ``tensorboard`` package itself (its ``EventFileWriter``,
its protobuf classes and its ``EventAccumulator``), never with hand-made protobuf.  Scalars are
written the way TensorFlow 2 writes them, as rank-0 tensors of the ``scalars`` plugin, but in
float64, so a value read back is the value logged (TensorBoard's older ``simple_value`` is float32).
The config goes in as TensorBoard hparams (flattened to dotted names), so the HParams tab shows it.
"""

from __future__ import annotations

import functools
import glob
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UsageError
from ..observers.base import RunObserver
from .recording import (
    ForeignRun,
    attach_metrics,
    flatten,
    imported_sources,
    record,
    to_datetime,
    to_epoch,
    unflatten,
)

__all__ = [
    "TensorBoardObserver",
    "EventRun",
    "read_logdir",
    "import_logdir",
    "export_runs",
    "ImportOutcome",
    "run_dir_name",
    "FILE_SUFFIX",
]

#: Suffix of the event files experimentkit writes; a new export replaces only these.
FILE_SUFFIX = ".experimentkit"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]+")


def _require() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise UsageError(
            "TensorBoard support needs the tensorboard package: pip install 'experimentkit[tensorboard]'"
        ) from None


# ---- writing -------------------------------------------------------------------------------------
class _EventWriter:
    """One run directory's event file: scalars as float64 tensors, config as hparams."""

    def __init__(self, directory: str) -> None:
        _require()
        from tensorboard.compat.proto import (
            event_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
            types_pb2,
        )
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2, summary_pb2
        self._scalar = functools.partial(
            tensor_pb2.TensorProto,
            dtype=types_pb2.DT_DOUBLE,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        )
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
            data_class=summary_pb2.DATA_CLASS_SCALAR,
        )
        self._described: set = set()
        self._writer = EventFileWriter(directory, filename_suffix=FILE_SUFFIX)

    def scalars(self, tag: str, steps: Iterable[Any], values: Iterable[Any], stamps: Iterable[float]) -> int:
        count = 0
        make = self._scalar
        for step, value, stamp in zip(steps, values, stamps):
            number = math.nan if value is None else float(value)
            meta = None
            if tag not in self._described:  # TensorBoard reads the plugin from the first event
                self._described.add(tag)
                meta = self._metadata
            summary = self._summary.Summary(
                value=[self._summary.Summary.Value(tag=tag, metadata=meta, tensor=make(double_val=[number]))]
            )
            self._writer.add_event(self._event.Event(wall_time=stamp, step=int(step), summary=summary))
            count += 1
        return count

    def hparams(self, config: dict, trial_id: str, start: Optional[float]) -> None:
        from tensorboard.plugins.hparams import summary_v2

        flat = {key: _hparam_value(value) for key, value in flatten(config).items()}
        summary = summary_v2.hparams_pb(flat, trial_id=trial_id, start_time_secs=start)
        self._writer.add_event(self._event.Event(wall_time=start or 0.0, summary=summary))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _hparam_value(value: Any) -> Any:
    """hparams hold numbers, strings and bools; anything else is shown as text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "None" if value is None else str(value)


def run_dir_name(run_id: Any, experiment: Optional[str]) -> str:
    """``<id>_<experiment>``, safe as one path component."""
    return _UNSAFE.sub("_", f"{run_id}_{experiment or 'run'}").strip("._") or str(run_id)


def export_runs(runs: Iterable[Any], logdir: str) -> list:
    """Write each run's metrics (steps and wall times kept) and config into
    ``logdir/<id>_<experiment>/``; returns ``[(run id, directory, points)]``.

    Exporting again replaces what an earlier export wrote there (and nothing else).
    """
    _require()
    done = []
    for run in runs:
        directory = os.path.join(logdir, run_dir_name(run.id, run.experiment_name))
        os.makedirs(directory, exist_ok=True)
        for old in glob.glob(os.path.join(glob.escape(directory), f"*tfevents*{FILE_SUFFIX}")):
            os.unlink(old)
        writer = _EventWriter(directory)
        start = to_epoch(run.start_time) if run.start_time else None
        writer.hparams(run.config, trial_id=str(run.id), start=start)
        points = 0
        for name in run.metric_names():
            series = run.metric(name)
            stamps = [to_epoch(moment) for moment in series.timestamps]
            points += writer.scalars(name, series.steps, series.values, stamps)
        writer.close()
        done.append((run.id, directory, points))
    return done


# ---- reading -------------------------------------------------------------------------------------
@dataclass
class EventRun:
    """The scalars, hparams, images and histograms of one directory of event files."""

    directory: str  # absolute, real path
    #: ``{tag: (steps, values, wall times)}``
    scalars: dict = field(default_factory=dict)
    hparams: dict = field(default_factory=dict)
    #: ``[(kind, tag, step, wall time, payload)]``: kind "image" with the PNG bytes, or "dict"
    #: with a histogram as ``{"buckets": [[left, right, count], ...], ...}``
    media: list = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(len(values) for _, values, _ in self.scalars.values())

    def span(self) -> tuple:
        stamps = [stamp for _, _, walls in self.scalars.values() for stamp in walls]
        stamps += [wall for _, _, _, wall, _ in self.media]
        return (min(stamps), max(stamps)) if stamps else (None, None)


def _event_dirs(logdir: str) -> list:
    found = set()
    for root, _dirs, files in os.walk(logdir):
        if any("tfevents" in name for name in files):
            found.add(root)
    return sorted(found)


def read_logdir(logdir: str) -> list:
    """Every directory below ``logdir`` (itself included) that holds event files, with all its
    scalars (TF1 ``simple_value`` and TF2/float64 tensor scalars alike) and hparams."""
    _require()
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.hparams import metadata as hp_metadata
    from tensorboard.util import tensor_util

    if not os.path.isdir(logdir):
        raise UsageError(f"no TensorBoard logdir at '{logdir}' (not a directory)")
    runs = []
    everything = {
        ea.SCALARS: 0,
        ea.TENSORS: 0,
        ea.IMAGES: 0,
        ea.AUDIO: 1,
        ea.HISTOGRAMS: 0,
        ea.COMPRESSED_HISTOGRAMS: 1,
    }
    for directory in _event_dirs(logdir):
        acc = ea.EventAccumulator(directory, size_guidance=everything)
        acc.Reload()
        run = EventRun(os.path.realpath(directory))
        for tag in acc.Tags()["scalars"]:
            events = acc.Scalars(tag)
            run.scalars[tag] = (
                [e.step for e in events],
                [e.value for e in events],
                [e.wall_time for e in events],
            )
        for tag in acc.Tags()["tensors"]:
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            if plugin == "scalars":
                events = acc.Tensors(tag)
                run.scalars[tag] = (
                    [e.step for e in events],
                    [tensor_util.make_ndarray(e.tensor_proto).item() for e in events],
                    [e.wall_time for e in events],
                )
            elif plugin in ("images", "histograms"):
                for e in acc.Tensors(tag):
                    run.media += _tensor_media(
                        plugin, tag, e.step, e.wall_time, tensor_util.make_ndarray(e.tensor_proto)
                    )
        for tag in acc.Tags()["images"]:
            for e in acc.Images(tag):
                if _is_png(e.encoded_image_string):
                    run.media.append(("image", tag, e.step, e.wall_time, e.encoded_image_string))
        for tag in acc.Tags()["histograms"]:
            for e in acc.Histograms(tag):
                run.media.append(("dict", tag, e.step, e.wall_time, _tf1_histogram(e.histogram_value)))
        content = _plugin_content(acc, "hparams")
        start_info = content.get(hp_metadata.SESSION_START_INFO_TAG)
        if start_info is not None:
            info = hp_metadata.parse_session_start_info_plugin_data(start_info)
            run.hparams = {name: _from_hparam(value) for name, value in info.hparams.items()}
        if run.scalars or run.hparams or run.media:
            runs.append(run)
    return runs


_PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(data: bytes) -> bool:
    """A PNG with its header chunk (other formats, GIF videos among them, are not imported)."""
    return data.startswith(_PNG) and len(data) > 25


def _tensor_media(plugin: str, tag: str, step: int, wall: float, array: Any) -> list:
    """TensorFlow 2's image and histogram summaries, stored as tensors."""
    if plugin == "images":  # [width, height, encoded image, ...]: several images per step
        pngs = [bytes(b) for b in array.reshape(-1)[2:] if _is_png(bytes(b))]
        if len(pngs) == 1:
            return [("image", tag, step, wall, pngs[0])]
        return [("image", f"{tag}/{number}", step, wall, png) for number, png in enumerate(pngs)]
    rows = array.reshape(-1, 3).tolist() if array.size else []  # [[left, right, count], ...]
    return [("dict", tag, step, wall, {"buckets": rows})]


def _tf1_histogram(value: Any) -> dict:
    """A ``HistogramProto`` (``torch.utils.tensorboard``, tensorboardX, TensorFlow 1) as buckets
    ``[left, right, count]`` beside its summary statistics."""
    limits, counts = list(value.bucket_limit), list(value.bucket)
    lefts = [value.min, *limits[:-1]]
    return {
        "buckets": [[left, right, count] for left, right, count in zip(lefts, limits, counts)],
        "min": value.min,
        "max": value.max,
        "num": value.num,
        "sum": value.sum,
        "sum_squares": value.sum_squares,
    }


def _media_artifacts(run: EventRun, directory: str) -> list:
    """Write ``run``'s images and histograms into ``directory`` as the files ``log_image`` and
    ``log_dict`` store; returns ``[(artifact name, path, metadata, content type)]``."""
    from .. import media

    artifacts: dict = {}  # the same tag and step written twice: the last one wins, as in TensorBoard
    for number, (kind, tag, step, wall, payload) in enumerate(run.media):
        name = media.artifact_name(kind, tag, step)
        path = os.path.join(directory, f"{number}-{name}")
        metadata: dict = {"media": kind, "name": tag, "step": int(step), "wall_time": wall}
        if kind == "image":
            with open(path, "wb") as f:
                f.write(payload)
            metadata["shape"] = _png_shape(payload)
        else:
            metadata["source"] = "tensorboard histogram"
            metadata.update(media.encode("dict", payload, path))
        artifacts.pop(name, None)
        artifacts[name] = (name, path, metadata, media.KINDS[kind][1])
    return list(artifacts.values())


def _png_shape(png: bytes) -> list:
    """``[height, width, channels]`` from a PNG header (as ``log_image`` records it)."""
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(png[25], 3)
    return [height, width, channels]


def _plugin_content(acc: Any, plugin: str) -> dict:
    try:
        return acc.PluginTagToContent(plugin)
    except KeyError:  # no event of that plugin in this directory
        return {}


def _from_hparam(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "bool_value":
        return value.bool_value
    if kind == "string_value":
        return value.string_value
    return None


@dataclass
class ImportOutcome:
    """What importing one event directory did: ``action`` is imported, attached or skipped."""

    directory: str
    action: str
    run_id: Optional[str]
    points: int
    reason: str = ""
    media: int = 0  # images and histograms stored as artifacts


def _recorded_logdirs(target: str) -> dict:
    """``{real path of a logdir: run id}`` for runs that recorded TensorBoard logdirs
    (``info.tensorflow.logdirs``, written by ``stflow.LogFileWriter``)."""
    from ..errors import StoreError
    from ..query import open_store

    try:
        store = open_store(target)
    except StoreError:
        return {}
    found: dict = {}
    with store:
        for run in store.runs():
            logdirs = (run.info.get("tensorflow") or {}).get("logdirs") or []
            for logdir in logdirs if isinstance(logdirs, list) else []:
                if isinstance(logdir, str):
                    found[os.path.realpath(logdir)] = run.id
    return found


def import_logdir(logdir: str, target: str, experiment: Optional[str] = None, attach: bool = True) -> list:
    """Import every run directory of ``logdir`` into the store ``target``.

    A directory already imported is skipped (so importing twice adds nothing).  With ``attach``,
    a directory that a recorded run logged to (``info.tensorflow.logdirs``) gets its scalars added
    to that run instead of becoming a new one (metric names the run already has are left alone).
    """
    runs = read_logdir(logdir)
    if not runs:
        raise UsageError(f"no TensorBoard event files with scalars or hparams below '{logdir}'")
    root = os.path.realpath(logdir)
    seen = imported_sources(target)
    owners = _recorded_logdirs(target) if attach else {}
    outcomes = []
    for run in runs:
        source = f"tensorboard:{run.directory}"
        if source in seen:
            outcomes.append(ImportOutcome(run.directory, "skipped", seen[source], 0, "imported before"))
            continue
        owner = owners.get(run.directory)
        if owner is not None:
            outcomes.append(_attach(target, owner, run))
            continue
        relative = os.path.relpath(run.directory, root)
        name = relative if relative != "." else os.path.basename(root)
        first, last = run.span()
        start = to_datetime(first) if first is not None else to_datetime(os.path.getmtime(run.directory))
        config = {"logdir": name, **unflatten(run.hparams)}
        with tempfile.TemporaryDirectory(prefix="experimentkit-import-") as scratch:
            foreign = ForeignRun(
                source=source,
                experiment=experiment or os.path.basename(root),
                config=config,
                start_time=start,
                stop_time=to_datetime(last) if last is not None else start,
                metrics=run.scalars,
                info={"tensorflow": {"logdirs": [run.directory]}},
                artifacts=_media_artifacts(run, scratch),
            )
            run_id = record(target, foreign)
        outcomes.append(
            ImportOutcome(run.directory, "imported", run_id, run.points, media=len(foreign.artifacts))
        )
    return outcomes


def _attach(target: str, run_id: str, run: EventRun) -> ImportOutcome:
    from ..query import open_store

    with open_store(target) as store:
        have = set(store.get(run_id).metric_names())
    fresh = {tag: series for tag, series in run.scalars.items() if tag not in have}
    if not fresh:
        return ImportOutcome(
            run.directory, "skipped", run_id, 0, "the recorded run already has these metrics"
        )
    attach_metrics(target, run_id, fresh)
    return ImportOutcome(
        run.directory, "attached", run_id, sum(len(values) for _, values, _ in fresh.values())
    )


# ---- live mirror ---------------------------------------------------------------------------------
class TensorBoardObserver(RunObserver):
    """Mirrors a run's metrics into a TensorBoard logdir while it runs.

    Points arrive with each heartbeat's ``log_metrics`` event, on the dispatcher's thread, so
    ``log_scalar`` costs nothing more.  Each run writes ``<logdir>/<id>_<experiment>/``; it runs
    after the storing observers (low priority) so that it sees the id they assigned.
    """

    priority = -100

    def __init__(self, logdir: str) -> None:
        _require()
        self.logdir = os.path.abspath(logdir)
        self.directory: Optional[str] = None
        self._writer: Optional[_EventWriter] = None

    def started_event(
        self,
        ex_info: dict,
        command: str,
        host_info: dict,
        start_time: Any,
        config: dict,
        meta_info: dict,
        _id: Any,
    ) -> Any:
        label = _id if _id is not None else str(meta_info.get("uid", "run"))[:8]
        self.directory = os.path.join(self.logdir, run_dir_name(label, ex_info.get("name")))
        self._writer = _EventWriter(self.directory)
        self._writer.hparams(config, trial_id=str(label), start=to_epoch(start_time))
        return _id

    def log_metrics(self, metrics_by_name: dict, info: Any) -> None:
        if self._writer is None:
            return
        for name, columns in metrics_by_name.items():
            self._writer.scalars(
                name,
                columns["steps"],
                columns["values"],
                [to_epoch(moment) for moment in columns["timestamps"]],
            )

    def heartbeat_event(self, info: Any, captured_out: Any, beat_time: Any, result: Any) -> None:
        if self._writer is not None:
            self._writer.flush()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def completed_event(self, stop_time: Any, result: Any) -> None:
        self._close()

    def interrupted_event(self, interrupt_time: Any, status: Any) -> None:
        self._close()

    def failed_event(self, fail_time: Any, fail_trace: Any) -> None:
        self._close()
