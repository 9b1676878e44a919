"""Captured output through ``ex.run()``: fd mode also sees Python streams not backed by fd 1/2."""

import os

import pytest

from experimentkit import Experiment
from experimentkit.observers import InMemoryObserver


@pytest.mark.parametrize("mode", ["fd", "sys"])
def test_output_is_captured_even_when_sys_stdout_is_replaced(mode):
    ex = Experiment("capture")
    observer = InMemoryObserver()
    ex.observers.append(observer)

    @ex.main
    def main():
        print("hello from main")
        if mode == "fd":
            os.write(1, b"raw fd write\n")

    run = ex.run(options={"--capture": mode})
    assert "hello from main" in run.captured_out
    assert mode == "sys" or "raw fd write" in run.captured_out
    assert observer.run.captured_out == run.captured_out


def test_failed_run_keeps_its_output():
    ex = Experiment("capture_fail")
    observer = InMemoryObserver()
    ex.observers.append(observer)

    @ex.main
    def main():
        print("before the crash")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        ex.run()
    assert observer.run.status == "FAILED"
    assert "before the crash" in observer.run.captured_out


def test_fd_capture_never_cuts_a_printed_line_with_a_log_line(tmp_path):
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "interleave.py"
    script.write_text(
        textwrap.dedent("""
        import logging
        from experimentkit import Experiment
        from experimentkit.observers import InMemoryObserver
        ex = Experiment("interleave")
        ex.observers.append(InMemoryObserver())

        @ex.main
        def main(_log):
            for i in range(200):
                print("alpha", i, "omega")
                _log.warning("log line %d", i)

        run = ex.run()
        bad = [ln for ln in run.captured_out.splitlines()
               if ln.startswith("alpha") and not ln.endswith("omega")]
        print("BAD", len(bad))
    """)
    )
    env = {"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "BAD 0" in done.stdout


def test_progress_bars_are_folded_by_default_and_raw_on_request():
    def run_with(filter_off):
        ex = Experiment("bars")
        observer = InMemoryObserver()
        ex.observers.append(observer)
        if filter_off:
            ex.captured_out_filter = None

        @ex.main
        def main():
            for i in range(3):
                print(f"\rprogress {i}/2", end="")
            print()
            print("done")

        ex.run(options={"--capture": "sys"})
        return observer.run.captured_out

    assert run_with(False) == "progress 2/2\ndone\n"
    assert "\rprogress 0/2\rprogress 1/2" in run_with(True)
