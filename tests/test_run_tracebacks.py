"""Filtered tracebacks (fail_trace and the command line) and the public testing helpers."""

import pytest

from experimentkit.errors import SacredError
from experimentkit.tracebacks import FILTERED_HEADER, INTERNAL_HEADER, format_filtered_traceback


def _raise_through_experimentkit(fn):
    """Call fn from inside an experimentkit frame (the Run), so the trace has internal frames."""
    from experimentkit.testing import make_run

    run = make_run(fn, capture_mode="no", beat_interval=0)
    try:
        run()
    except BaseException as exc:  # noqa: BLE001
        return exc, run
    raise AssertionError("did not raise")


def user_code():
    raise KeyError("user")


def test_user_exception_is_filtered():
    exc, run = _raise_through_experimentkit(user_code)
    lines = format_filtered_traceback(exc)
    assert lines[0] == FILTERED_HEADER
    text = "".join(lines)
    assert "user_code" in text and "KeyError: 'user'" in text
    assert "/experimentkit/" not in text
    assert run.fail_trace[0] == FILTERED_HEADER and run.fail_trace[1:] == lines[2:]
    full = "".join(format_filtered_traceback(exc, "never"))
    assert full.startswith("Traceback (most recent call last):") and "/experimentkit/run.py" in full


def test_chained_exceptions_are_filtered_too():
    def chained():
        try:
            user_code()
        except KeyError as err:
            raise RuntimeError("wrapped") from err

    exc, _ = _raise_through_experimentkit(chained)
    text = "".join(format_filtered_traceback(exc))
    assert text.count(FILTERED_HEADER) == 2
    assert "direct cause" in text and "/experimentkit/" not in text


def test_exception_from_inside_experimentkit_shows_everything():
    def bad_capture():
        from experimentkit.testing import make_run

        make_run(lambda: None, nonsense=1)  # raises inside experimentkit/testing.py

    exc, _ = _raise_through_experimentkit(bad_capture)
    lines = format_filtered_traceback(exc)
    assert lines[0] == INTERNAL_HEADER
    assert "/experimentkit/testing.py" in "".join(lines)
    assert format_filtered_traceback(exc, "always")[0] == FILTERED_HEADER


def test_sacred_error_filter_setting_is_respected():
    class Always(SacredError):
        pass

    def raises():
        raise Always("x", filter_traceback="never")

    exc, _ = _raise_through_experimentkit(raises)
    assert "/experimentkit/run.py" in "".join(format_filtered_traceback(exc))


def test_capture_events_with_a_real_experiment():
    experiment = pytest.importorskip("experimentkit.experiment")
    from experimentkit.testing import capture_events

    ex = experiment.Experiment("captured")

    @ex.config
    def config():
        lr = 0.5  # noqa: F841

    @ex.main
    def main(lr, _run):
        _run.log_scalar("lr", lr)
        return lr * 2

    run, observer = capture_events(ex, config_updates={"lr": 1.5})
    assert run.result == 3.0 and ex.observers == []
    assert observer.run.config["lr"] == 1.5
    assert observer.run.metrics["lr"]["values"] == [1.5]
    assert observer.event_names[0] == "started_event" and observer.event_names[-1] == "completed_event"

    @ex.command
    def boom():
        raise ValueError("no")

    run, observer = capture_events(ex, command_name="boom", raise_errors=False)
    assert observer.run.status == "FAILED" and "ValueError: no" in "".join(observer.run.fail_trace)
    with pytest.raises(ValueError):
        capture_events(ex, command_name="boom")
