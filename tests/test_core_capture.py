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
