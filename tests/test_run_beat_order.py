"""A heartbeat never delivers a table row ahead of a metric point that was logged before it."""

from __future__ import annotations

from experimentkit.context import current_run
from experimentkit.observers.memory import InMemoryObserver
from experimentkit.run import Run
from experimentkit.testing import make_run


class _Recorder(InMemoryObserver):
    """Keeps one global order of the points and rows it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list = []

    def log_metrics(self, metrics_by_name, info):
        for name, columns in metrics_by_name.items():
            self.arrivals.extend((name, v) for v in columns["values"])
        return super().log_metrics(metrics_by_name=metrics_by_name, info=info)

    def log_table(self, name, rows):
        self.arrivals.extend((name, row["i"]) for row in rows)
        return super().log_table(name=name, rows=rows)


def test_point_logged_before_a_row_arrives_no_later_than_the_row(monkeypatch, tmp_path):
    """The user's thread logs a point and then a row while a heartbeat is between its two
    drains (the race a loaded machine hits); the point must not reach observers after the row."""
    drains = {"n": 0}

    def interleave(original):
        def drain(self, *args):
            out = original(self, *args)
            drains["n"] += 1
            if drains["n"] == 1:  # the user thread runs right after the beat's first drain
                self.log_scalar("loss", 1.0)
                self.log_table("preds", [{"i": 1}])
            return out

        return drain

    monkeypatch.setattr(Run, "_drain_metrics", interleave(Run._drain_metrics))
    monkeypatch.setattr(Run, "_drain_tables", interleave(Run._drain_tables))
    recorder = _Recorder()

    def main():
        current_run()._beat()  # one periodic beat; the interleaved logging happens inside it

    run = make_run(
        main, {}, [recorder], capture_mode="no", beat_interval=0, fallback_dir=str(tmp_path / "fallback")
    )
    run()
    assert recorder.arrivals == [("loss", 1.0), ("preds", 1)]
