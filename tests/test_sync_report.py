"""What ``experimentkit sync`` prints and keeps: the results table, where progress is recorded, and
the refusal to call an unregistered factory (in-process, so mutation testing sees them)."""

from __future__ import annotations

import os

import pytest

from experimentkit.journal import write_journal
from experimentkit.sync import SyncResult, build_observer, format_results, sync
from tests.test_dispatch_support import Flaky
from tests.test_sync_edges import STARTED

T0 = STARTED[1]["start_time"]


def test_the_table_has_one_row_a_journal_then_each_reason_once():
    results = [
        SyncResult(
            "/fb/abc-0-Sql.jsonl",
            "SqlObserver",
            "abcdef1234567",
            "synced",
            delivered=3,
            remaining=0,
            run_id=7,
            backend="pg://u:***@h",
        ),
        SyncResult("/fb/x.jsonl", "?", "?", "failed", message="unreadable journal: boom"),
        SyncResult(
            "/fb/y.jsonl", "M", None, "skipped", remaining=2, skipped=["log_table 'p' (ValueError: v)"]
        ),
    ]
    assert format_results(results).split("\n") == [
        "journal          run              backend       delivered  remaining  status",
        "abc-0-Sql.jsonl  abcdef12 (id 7)  pg://u:***@h  3          0          synced",
        "x.jsonl          ?                -             0          0          failed",
        "y.jsonl          ?                -             0          2          skipped",
        "x.jsonl: unreadable journal: boom",
        "y.jsonl: skipped log_table 'p' (ValueError: v)",
    ]


@pytest.mark.parametrize(
    "kwargs, shown",
    [
        ({"url": "postgresql://me:hunter2@db.example/exps"}, "postgresql://me:***@db.example/exps"),
        ({"basedir": "/runs", "name": "x"}, "/runs"),
        ({"name": "in-memory"}, "in-memory"),
        ({"client": None}, "m:factory"),
    ],
)
def test_the_backend_column_names_where_events_go_without_the_password(tmp_path, kwargs, shown):
    path = str(tmp_path / "j.jsonl")
    write_journal(
        path, {"run_uid": "u", "observer": "X", "replay_spec": {"factory": "m:factory", "kwargs": kwargs}}, []
    )
    [result] = sync(str(tmp_path), dry_run=True)
    assert result.backend == shown


def test_progress_is_kept_next_to_the_journal_and_archived_with_it(tmp_path):
    flaky = Flaky()
    events = [
        STARTED,
        ("log_metrics", {"metrics_by_name": {}, "info": {}}),
        ("completed_event", {"stop_time": T0, "result": 1}),
    ]
    write_journal(
        str(tmp_path / "u-0-Flaky.jsonl"),
        {"run_uid": "u", "observer": "Flaky", "replay_spec": flaky.replay_spec()},
        events,
    )
    flaky.failures["log_metrics"] = 1
    [first] = sync(str(tmp_path))
    assert (first.status, first.delivered, first.remaining) == ("failed", 1, 2)
    assert sorted(os.listdir(tmp_path)) == ["u-0-Flaky.jsonl", "u-0-Flaky.progress.json"]
    [second] = sync(str(tmp_path))
    assert (second.status, second.delivered, second.remaining, second.run_id) == ("synced", 2, 0, 1)
    assert sorted(os.listdir(tmp_path / "synced")) == ["u-0-Flaky.jsonl", "u-0-Flaky.progress.json"]
    assert flaky.event_names == ["started_event", "log_metrics", "completed_event"]


def test_an_unregistered_factory_is_refused_and_never_imported():
    with pytest.raises(
        PermissionError, match=r"^refusing to call the replay factory 'os:system': it is not a registered"
    ):
        build_observer({"factory": "os:system", "kwargs": {"command": "true"}})
    with pytest.raises(
        ValueError, match=r"^replay factory must look like 'package.module:callable', not ':x'$"
    ):
        build_observer({"factory": ":x"})
    observer = build_observer(
        {"factory": "tests.test_sync_edges:Picky", "kwargs": {"priority": 4}},
        trust=["tests.test_sync_edges:Picky"],
    )
    assert type(observer).__name__ == "Picky" and observer.priority == 4


def test_several_journals_are_synced_in_one_go_into_one_archive(tmp_path):
    observers = [Flaky(), Flaky()]
    for i, observer in enumerate(observers):
        header = {"run_uid": f"u{i}", "observer": "Flaky", "replay_spec": observer.replay_spec()}
        write_journal(str(tmp_path / f"u{i}-0-Flaky.jsonl"), header, [STARTED])
    results = sync(str(tmp_path))
    assert [(r.status, r.delivered) for r in results] == [("synced", 1), ("synced", 1)]
    assert sorted(os.listdir(tmp_path / "synced")) == [
        "u0-0-Flaky.jsonl",
        "u0-0-Flaky.progress.json",
        "u1-0-Flaky.jsonl",
        "u1-0-Flaky.progress.json",
    ]
    assert [o.event_names for o in observers] == [["started_event"], ["started_event"]]


def test_discard_gives_a_journal_up_with_its_kept_files_and_progress(tmp_path):
    from experimentkit.sync import discard

    journal = tmp_path / "u-0-Flaky.jsonl"
    spec = {"factory": "m:f", "kwargs": {"url": "postgresql://me:hunter2@db/exps"}}
    write_journal(
        str(journal), {"run_uid": "u1234567890", "observer": "Flaky", "replay_spec": spec}, [STARTED] * 3
    )
    (tmp_path / "u-0-Flaky.progress.json").write_text('{"delivered": 1}')
    (tmp_path / "u-0-Flaky.files").mkdir()
    (tmp_path / "u-0-Flaky.files" / "0-model.bin").write_bytes(b"w")
    (tmp_path / "other.jsonl").write_text("")
    result = discard(str(journal))
    assert (result.journal, result.observer, result.run_uid, result.status) == (
        str(journal),
        "Flaky",
        "u1234567890",
        "discarded",
    )
    assert (result.remaining, result.backend) == (2, "postgresql://me:***@db/exps")
    assert os.listdir(tmp_path) == ["other.jsonl"]


def test_a_factory_registered_by_an_installed_package_is_called_without_trust(tmp_path, monkeypatch):
    dist = tmp_path / "picky_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: picky-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[experimentkit.replay_factories]\npicky = tests.test_sync_edges : Picky\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    observer = build_observer({"factory": "tests.test_sync_edges:Picky", "kwargs": {"priority": 2}})
    assert type(observer).__name__ == "Picky" and observer.priority == 2
    with pytest.raises(
        PermissionError, match=r"^refusing to call the replay factory 'tests.test_sync_edges:Refusing'"
    ):
        build_observer({"factory": "tests.test_sync_edges:Refusing"})


def test_a_refused_artifact_is_named_in_the_report(tmp_path):
    from tests.test_sync_edges import header

    events = [
        STARTED,
        ("artifact_event", {"name": "model.bin", "filename": "/nowhere/model.bin", "metadata": None}),
    ]
    write_journal(str(tmp_path / "j.jsonl"), header("tests.test_sync_edges:Picky", "art"), events)
    [result] = sync(str(tmp_path), trust=["tests.test_sync_edges:Picky"])
    assert result.status == "synced"
    assert result.skipped == ["artifact 'model.bin' (FileNotFoundError: /nowhere/model.bin)"]
