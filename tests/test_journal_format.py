"""The journal's on-disk format and its edges, found missing by mutation testing: every type tag read
back as the same type, tags written by an earlier run still read, artifact copies that do not collide,
a journal whose delivered part is not replayed again, and /proc parsing of odd process names."""

from __future__ import annotations

import array
import datetime as dt
import json
import math
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from experimentkit.journal import (
    decode_value,
    encode_value,
    process_identity,
    read_journal,
    write_journal,
    writer_alive,
)
from tests.test_dispatch_support import Flaky, opened_dispatcher

T0 = dt.datetime(2024, 1, 1, 12, 30, 15, 250)
HEADER = {"run_uid": "u", "observer": "X", "replay_spec": None}


def round_trip(tmp_path, value):
    path = str(tmp_path / "j.jsonl")
    write_journal(path, HEADER, [("log_metrics", {"value": value})])
    [(event, kwargs)] = read_journal(path)[1]
    return kwargs["value"]


@pytest.mark.parametrize(
    "value",
    [
        T0,
        dt.date(2024, 2, 29),
        (1, "a", (2.5, None)),
        b"\x00\xff\n",
        0.5,
        math.inf,
        -math.inf,
        10**20,
        {1: "int key", (1, 2): "tuple key", "s": "str key"},
        {"$datetime": "not a date", "$tuple": [1]},  # user keys that look like tags
        {"$x": 1},
        [T0, (1,), {"a": b"b"}],
        True,
        None,
    ],
    ids=lambda value: type(value).__name__,
)
def test_every_tagged_type_is_read_back_as_itself(tmp_path, value):
    back = round_trip(tmp_path, value)
    assert back == value and type(back) is type(value)


def test_nested_values_keep_their_types(tmp_path):
    back = round_trip(tmp_path, {"k": [(T0, b"x")], 3: {(1,): math.inf}})
    assert back == {"k": [(T0, b"x")], 3: {(1,): math.inf}}
    assert type(back["k"][0]) is tuple and type(back[3][(1,)]) is float


def test_nan_and_bytearray_come_back_as_float_and_bytes(tmp_path):
    assert math.isnan(round_trip(tmp_path, math.nan))
    assert round_trip(tmp_path, bytearray(b"\x01\x02")) == b"\x01\x02"


def test_objects_without_a_tag_come_back_as_their_repr_even_when_they_have_tolist(tmp_path):
    # array.array has tolist() but is not numpy: it is kept as text, not turned into a list
    value = array.array("i", [1, 2])
    assert round_trip(tmp_path, value) == repr(value)


def test_the_tags_on_disk_are_the_documented_ones():
    # a journal outlives the process that wrote it: these spellings are the file format
    assert encode_value(0.5) == 0.5 and encode_value(2) == 2  # plain JSON numbers, no tag
    assert encode_value((1,)) == {"$tuple": [1]}
    assert encode_value(b"\xff") == {"$bytes": "/w=="}
    assert encode_value(math.inf) == {"$float": "inf"}
    assert encode_value({1: 2}) == {"$dict": [[1, 2]]}
    assert encode_value({"$a": 2}) == {"$dict": [["$a", 2]]}
    assert encode_value(T0) == {"$datetime": "2024-01-01T12:30:15.000250"}
    assert encode_value(dt.date(2024, 1, 2)) == {"$date": "2024-01-02"}
    assert encode_value(array.array("b")) == {"$repr": "array('b')"}


def test_a_journal_written_earlier_is_read_with_its_tags(tmp_path):
    kwargs = {
        "t": {"$tuple": [1, {"$bytes": "/w=="}]},
        "f": {"$float": "-inf"},
        "d": {"$dict": [[{"$tuple": [1]}, {"$date": "2024-01-02"}]]},
        "r": {"$repr": "<object>"},
        "w": {"$datetime": "2024-01-01T00:00:00"},
    }
    lines = [
        {"format": "experimentkit-journal", "version": 2, "run_uid": "u"},
        {"seq": 0, "event": "log_metrics", "kwargs": kwargs},
    ]
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    [(_, back)] = read_journal(str(path))[1]
    assert back == {
        "t": (1, b"\xff"),
        "f": -math.inf,
        "d": {(1,): dt.date(2024, 1, 2)},
        "r": "<object>",
        "w": dt.datetime(2024, 1, 1),
    }
    assert decode_value({"$tuple": [], "other": 1}) == {"$tuple": [], "other": 1}  # two keys: no tag


def outage(tmp_path, **flaky):
    observer = Flaky(**flaky)
    disp = opened_dispatcher(observer, tmp_path / "fallback")
    observer.down = True
    return observer, disp


def test_two_artifacts_with_one_name_in_one_outage_keep_both_contents(tmp_path):
    _, disp = outage(tmp_path)
    for folder, content in (("a", "first"), ("b", "second")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "model.pt").write_text(content)
        disp.emit("artifact_event", name="model.pt", filename=str(tmp_path / folder / "model.pt"))
    for folder in ("a", "b"):
        os.unlink(tmp_path / folder / "model.pt")  # temporary files: gone by the time sync runs
    events = read_journal(str(tmp_path / "fallback" / "u-0-Flaky.jsonl"))[1]
    assert [Path(kwargs["filename"]).read_text() for _, kwargs in events] == ["first", "second"]


def test_a_resource_is_journaled_by_its_path_not_copied(tmp_path):
    _, disp = outage(tmp_path)
    resource = tmp_path / "data.csv"
    resource.write_text("x\n")
    disp.emit("resource_event", filename=str(resource))
    [(_, kwargs)] = read_journal(str(tmp_path / "fallback" / "u-0-Flaky.jsonl"))[1]
    assert kwargs == {"filename": str(resource)}
    assert sorted(os.listdir(tmp_path / "fallback")) == ["u-0-Flaky.jsonl"]


def test_table_rows_delivered_as_one_merged_batch_are_not_replayed(tmp_path):
    observer, disp = outage(tmp_path)
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    disp.emit("log_table", name="t", rows=[{"i": 1}])  # merged with the first while buffered
    disp.emit("heartbeat_event", info={}, captured_out="", beat_time=T0, result=None)
    observer.down = False
    observer.failures = {"heartbeat_event": 10**6}  # the table goes through, the beat does not
    disp.retry()
    assert observer.run.tables["t"] == [{"i": 0}, {"i": 1}]
    events = read_journal(str(tmp_path / "fallback" / "u-0-Flaky.jsonl"))[1]
    assert [event for event, _ in events] == ["heartbeat_event"]


def test_an_unchanged_replay_spec_is_not_written_again(tmp_path):
    observer, disp = outage(tmp_path)
    disp.emit("log_table", name="t", rows=[{"i": 0}])
    disp.emit("heartbeat_event", info={}, captured_out="", beat_time=T0, result=None)
    observer.down = False
    observer.failures = {"heartbeat_event": 10**6}
    disp.retry()
    with open(tmp_path / "fallback" / "u-0-Flaky.jsonl") as fh:
        lines = [json.loads(line) for line in fh]
    assert lines[0]["replay_spec"] == observer.replay_spec()
    assert not any("replay_spec" in line for line in lines[1:])


def test_a_journal_is_written_in_its_own_directory_whatever_the_temp_dir(tmp_path, monkeypatch):
    # the temporary file is renamed into place: made elsewhere (another filesystem), rename fails
    other = tempfile.mkdtemp(dir="/dev/shm") if os.path.isdir("/dev/shm") else str(tmp_path / "t")
    try:
        monkeypatch.setattr(tempfile, "tempdir", other)
        write_journal(str(tmp_path / "j.jsonl"), HEADER, [("log_metrics", {"x": 1})])
        assert read_journal(str(tmp_path / "j.jsonl"))[1] == [("log_metrics", {"x": 1})]
        _, disp = outage(tmp_path)
        disp.emit("log_table", name="t", rows=[{"i": 0}])
        assert read_journal(str(tmp_path / "fallback" / "u-0-Flaky.jsonl"))[1][0][0] == "log_table"
        assert os.listdir(other) == []
    finally:
        os.rmdir(other)


@pytest.fixture
def odd_child(tmp_path):
    """A live process whose name has a non-ASCII letter, a parenthesis and spaces (as /proc shows it)."""
    name = "é) R 1 2 3"
    os.symlink("/bin/sleep", tmp_path / name)
    child = subprocess.Popen([str(tmp_path / name), "60"])
    try:
        yield child, name
    finally:
        child.kill()
        child.wait()


def test_process_identity_reads_the_start_time_past_an_odd_name(odd_child):
    child, name = odd_child
    with open(f"/proc/{child.pid}/stat", "rb") as fh:
        raw = fh.read()
    # the oracle knows the name, so it splits on it rather than searching for a parenthesis
    start_ticks = raw.split(f"({name}) ".encode())[1].split()[19].decode()
    assert process_identity(child.pid) == start_ticks
    assert writer_alive(child.pid, start_ticks) is True
    assert writer_alive(child.pid, str(int(start_ticks) + 1)) is False  # a reused pid


def test_asking_whether_a_writer_is_alive_does_not_signal_it(odd_child):
    child, _ = odd_child
    assert writer_alive(child.pid, process_identity(child.pid)) is True
    assert writer_alive(child.pid, None) is True
    child.kill()
    assert child.wait() == -signal.SIGKILL  # not SIGHUP: the probe sent the process no signal
