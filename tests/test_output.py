"""Captured output: the terminal-like filter, append-only incremental reads, and the three modes.

fd-mode tests run in a child interpreter, because they redirect the process's real file descriptors
(which pytest itself uses for its own capturing).
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experimentkit import Experiment, output
from experimentkit.errors import UsageError
from experimentkit.output import (
    CapturedOutput,
    UnknownCaptureModeError,
    apply_backspaces_and_linefeeds,
    capture_output,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def reference_filter(text):
    """A literal reading of the documented semantics, one character at a time."""
    lines = text.split("\n")
    result = []
    for i, line in enumerate(lines):
        chars, cursor = [], 0
        for j, char in enumerate(line):
            final_cr = char == "\r" and i == len(lines) - 1 and j == len(line) - 1
            if char == "\r" and not final_cr:
                cursor = 0
            elif char == "\b":
                cursor = max(0, cursor - 1)
            else:
                if final_cr:
                    cursor = len(chars)
                if cursor == len(chars):
                    chars.append(char)
                else:
                    chars[cursor] = char
                cursor += 1
        result.append("".join(chars))
    return "\n".join(result)


terminal_text = st.text(alphabet=st.sampled_from("ab\u00e9\u4e2d\r\b\n"), max_size=60)


# ---------------------------------------------------------------------------------- the filter


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("plain\n", "plain\n"),
        ("abc\rX", "Xbc"),
        (" 10%\r 50%\r100%\n", "100%\n"),
        ("abc\b\bZ\n", "aZc\n"),
        ("\b\bab", "ab"),
        ("line\r\nnext", "line\nnext"),
        ("progress 1\r", "progress 1\r"),  # a final carriage return is kept for the next chunk
        ("\r", "\r"),
        ("", ""),
    ],
)
def test_filter_examples(raw, shown):
    assert apply_backspaces_and_linefeeds(raw) == shown


@settings(deadline=None)
@given(terminal_text)
def test_filter_matches_reference(text):
    assert apply_backspaces_and_linefeeds(text) == reference_filter(text)


@pytest.fixture(scope="module")
def sacred_filter():
    return pytest.importorskip("sacred.utils").apply_backspaces_and_linefeeds


def test_filter_matches_sacred(sacred_filter):
    @settings(max_examples=200, deadline=None)
    @given(terminal_text)
    def check(text):
        assert apply_backspaces_and_linefeeds(text) == sacred_filter(text)

    check()


def test_filter_is_exported_where_sacred_users_import_it():
    from experimentkit.utils import apply_backspaces_and_linefeeds as from_utils

    assert from_utils is apply_backspaces_and_linefeeds


# ------------------------------------------------------------------ incremental, append-only reads


def feed(chunks, filter, fold_at=None):
    """Write chunks in sys mode, reading after each; return every read and the final text."""
    reads = []
    patch = (
        mock.patch.object(output, "_FOLD_PENDING_AT", fold_at)
        if fold_at is not None
        else mock.patch.object(output, "_FOLD_PENDING_AT", output._FOLD_PENDING_AT)
    )
    with patch, capture_output("sys", filter=filter) as out:
        for chunk in chunks:
            sys.stdout.write(chunk)
            reads.append(out.get())
    reads.append(out.get())
    return reads


def chunked(text, cuts):
    cuts = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


@settings(max_examples=150, deadline=None)
@given(
    terminal_text,
    st.lists(st.integers(min_value=0, max_value=200), max_size=8),
    st.sampled_from([None, 0, 3]),
)
def test_incremental_filter_equals_filtering_everything(text, cuts, fold_at):
    reads = feed(chunked(text, cuts), apply_backspaces_and_linefeeds, fold_at)
    for before, after in zip(reads, reads[1:]):
        assert after.startswith(before)  # append-only: observers may store just the new part
    written = ""
    for chunk, read in zip(chunked(text, cuts), reads):
        written += chunk
        complete = written[: written.rfind("\n") + 1]
        assert read == apply_backspaces_and_linefeeds(complete)  # only complete lines are shown
    assert reads[-1] == apply_backspaces_and_linefeeds(text)


@settings(deadline=None)
@given(st.text(max_size=40), st.lists(st.integers(min_value=0, max_value=60), max_size=5))
def test_without_filter_the_raw_text_is_kept(text, cuts):
    reads = feed(chunked(text, cuts), None)
    assert reads[-1] == text
    assert all(b.startswith(a) for a, b in zip(reads, reads[1:]))


def test_progress_bar_collapses_to_its_final_state():
    bar = [f"\r{p:3d}%|{'#' * (p // 10):<10}|" for p in range(0, 101, 5)]
    chunks = ["epoch 1\n", *bar, "\n", "done\n"]
    reads = feed(chunks, apply_backspaces_and_linefeeds)
    assert reads[1] == "epoch 1\n"  # the bar is held back while it is being redrawn
    assert reads[-1] == "epoch 1\n100%|##########|\ndone\n"


def test_a_bar_that_never_ends_its_line_is_folded_and_shown_at_the_end():
    # 10,000 redraws without a newline (~600 KB) are held back (and folded in memory meanwhile)
    updates = [f"\rstep {i:6d} loss {1 / (i + 1):.6f} " + "=" * (i % 40) for i in range(10000)]
    reads = feed(updates, apply_backspaces_and_linefeeds)
    assert reads[-2] == ""
    assert reads[-1] == apply_backspaces_and_linefeeds("".join(updates))
    assert reads[-1].startswith("step   9999 loss 0.000100 =======")


def test_each_read_filters_only_the_new_output():
    # Re-filtering everything at every read (what Sacred does) would take minutes here.
    lines = [f"epoch {i}: 50%\repoch {i}: 100%\n" for i in range(6000)]
    filtered = []

    def counting(text):
        filtered.append(len(text))
        return apply_backspaces_and_linefeeds(text)

    reads = feed(lines, counting)
    assert reads[-1] == "".join(f"epoch {i}: 100%\n" for i in range(6000))
    # the work is counted, not timed: each character goes through the filter about once
    assert sum(filtered) <= 2 * sum(map(len, lines))


def test_user_filter_sees_complete_lines_only():
    seen = []

    def keep_errors(text):
        seen.append(text)
        return "".join(line for line in text.splitlines(keepends=True) if "ERR" in line)

    reads = feed(["ok 1\nERR a", "bc\nok 2\n", "ERR tail"], keep_errors)
    assert reads == ["", "ERR abc\n", "ERR abc\n", "ERR abc\nERR tail"]
    assert seen == ["ok 1\n", "ERR abc\nok 2\n", "ERR tail"]


def test_no_mode_captures_nothing(capsys):
    with capture_output("no") as out:
        print("not captured")
    assert out.get() == ""
    assert capsys.readouterr().out == "not captured\n"


def test_sys_mode_tees_to_the_terminal_and_restores_streams(capsys):
    stdout, stderr = sys.stdout, sys.stderr
    with capture_output("sys") as out:
        print("to out")
        print("to err", file=sys.stderr)
    assert sys.stdout is stdout and sys.stderr is stderr
    assert out.get() == "to out\nto err\n"
    assert out.closed
    captured = capsys.readouterr()
    assert captured.out == "to out\n" and captured.err == "to err\n"


def test_sys_mode_restores_streams_after_an_exception():
    stdout = sys.stdout
    with pytest.raises(ZeroDivisionError), capture_output("sys") as out:
        print("before")
        1 / 0
    assert sys.stdout is stdout
    assert out.get() == "before\n"


def test_unknown_mode_is_a_usage_error_and_a_key_error():
    with pytest.raises(UnknownCaptureModeError) as info:
        capture_output("tee")
    assert isinstance(info.value, KeyError) and isinstance(info.value, UsageError)
    assert str(info.value) == ("Unknown capture mode 'tee'. Available options are ['fd', 'no', 'sys']")


def test_reads_from_another_thread_are_append_only():
    import threading

    out_box = {}
    with capture_output("sys") as out:
        stop = threading.Event()

        def reader():
            previous = ""
            while not stop.is_set():
                current = out.get()
                assert current.startswith(previous)
                previous = current
            out_box["ok"] = True

        thread = threading.Thread(target=reader)
        thread.start()
        for i in range(2000):
            sys.stdout.write(f"{i}\n")
        stop.set()
        thread.join()
    assert out_box == {"ok": True}
    assert out.get() == "".join(f"{i}\n" for i in range(2000))


def test_captured_output_repr():
    assert "0 chars" in repr(CapturedOutput())


# ------------------------------------------------------------------------- fd mode (in a child)


def run_child(body, tmp_path, mode="fd"):
    """Run ``body`` inside capture_output(mode) in a fresh interpreter; return (reads, process)."""
    result_file = tmp_path / "captured.json"
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent("""
        import json, os, subprocess, sys
        from experimentkit.output import capture_output, apply_backspaces_and_linefeeds
        MODE, RESULT = sys.argv[1], sys.argv[2]
        stdout_inode = os.fstat(1).st_ino
        reads = []
        try:
            with capture_output(MODE, filter=FILTER) as out:
        BODY
        finally:
            assert os.fstat(1).st_ino == stdout_inode, "fd 1 was not restored"
            print("after the capture")
            with open(RESULT, "w") as f:
                json.dump({"final": out.get(), "reads": reads}, f)
        """)
        .replace("BODY", textwrap.indent(textwrap.dedent(body), " " * 8))
        .replace("FILTER", "apply_backspaces_and_linefeeds" if "FOLD" in body else "None")
    )
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, str(script), mode, str(result_file)], capture_output=True, env=env, timeout=60
    )
    data = json.loads(result_file.read_text()) if result_file.exists() else None
    return data, proc


FD_BODY = """
    print("python print", flush=True)
    sys.stderr.write("python stderr\\n")
    os.write(1, b"raw fd write\\n")
    subprocess.run(["echo", "child process"], check=True)
    print("buffered at the end")
"""


def test_fd_mode_captures_child_processes_and_raw_writes(tmp_path):
    data, proc = run_child(FD_BODY, tmp_path, "fd")
    assert proc.returncode == 0, proc.stderr
    final = data["final"]
    for line in ["python print", "python stderr", "raw fd write", "child process", "buffered at the end"]:
        assert line + "\n" in final
    assert "after the capture" not in final
    # everything still reached the terminal, in order on stdout
    stdout = proc.stdout.decode()
    positions = [stdout.index(s) for s in ("python print", "raw fd write", "child process")]
    assert positions == sorted(positions)
    assert stdout.endswith("buffered at the end\nafter the capture\n")
    assert "python stderr" in proc.stderr.decode()


def test_sys_mode_misses_child_processes_and_raw_writes(tmp_path):
    data, proc = run_child(FD_BODY, tmp_path, "sys")
    assert proc.returncode == 0, proc.stderr
    assert data["final"] == "python print\npython stderr\nbuffered at the end\n"
    assert "child process" in proc.stdout.decode()


def test_fd_mode_decodes_utf8_split_across_writes(tmp_path):
    body = """
        snowman = "caf\\u00e9 \\u2603\\n".encode()
        for i in range(len(snowman)):
            os.write(1, snowman[i:i + 1])
        os.write(1, b"bad \\xff byte\\n")
    """
    data, proc = run_child(body, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert data["final"] == "caf\u00e9 \u2603\nbad \ufffd byte\n"


def test_fd_mode_reads_grow_while_running_and_final_read_is_complete(tmp_path):
    body = """
        import time
        for i in range(5):
            print(f"line {i}", flush=True)
            deadline = time.time() + 5
            while f"line {i}\\n" not in out.get() and time.time() < deadline:
                time.sleep(0.01)
            reads.append(out.get())
        os.write(1, b"unterminated tail")
    """
    data, proc = run_child(body, tmp_path)
    assert proc.returncode == 0, proc.stderr
    reads = data["reads"] + [data["final"]]
    assert all(b.startswith(a) for a, b in zip(reads, reads[1:]))
    assert all(f"line {i}\n" in reads[i] for i in range(5)), reads
    assert data["final"].endswith("line 4\nunterminated tail")


def test_fd_mode_folds_a_progress_bar_written_by_a_child(tmp_path):
    body = """
        # FOLD: captured with apply_backspaces_and_linefeeds
        import time
        code = ("import sys\\nfor p in range(0, 101, 10): sys.stderr.write(f'\\\\r{p:3d}%')"
                "; sys.stderr.flush()\\nsys.stderr.write('\\\\n')")
        subprocess.run([sys.executable, "-c", code], check=True)
        deadline = time.time() + 5
        while not out.get().endswith("100%\\n") and time.time() < deadline:
            time.sleep(0.01)
        print("finished")
    """
    data, proc = run_child(body, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert data["final"] == "100%\nfinished\n"
    assert "\r" in proc.stderr.decode()  # the terminal still saw the live redraws


@pytest.mark.parametrize("exception", ["RuntimeError('boom')", "KeyboardInterrupt()"])
def test_fd_mode_restores_descriptors_when_the_body_raises(tmp_path, exception):
    body = f"""
        print("before the error")
        raise {exception}
    """
    data, proc = run_child(body, tmp_path)
    assert proc.returncode != 0
    assert data["final"] == "before the error\n"  # the finally block asserted fd 1 was restored
    assert proc.stdout.decode().endswith("after the capture\n")


@pytest.mark.parametrize("first_mode", ["sys", "fd"])
def test_runs_starting_and_ending_together_in_threads_keep_every_line(first_mode):
    """Runs started from threads at the same moment, over and over: one captures in ``first_mode``
    (it started alone), the others in thread mode; each run's captured output holds every line it
    printed.  Thread switches are forced every microsecond so that installing and removing the
    stream wrappers interleave (an unlocked swap loses a run's first lines or all of them)."""
    import threading

    ex = Experiment("together", interactive=True)

    @ex.config
    def cfg():
        x = 0

    @ex.main
    def main(x):
        for i in range(5):
            print(f"x={x} line {i}")

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for round_ in range(40):
            barrier = threading.Barrier(3)
            runs: dict = {}

            def start(x, barrier=barrier, runs=runs):
                barrier.wait()
                runs[x] = ex.run(config_updates={"x": x}, options={"--capture": first_mode})

            threads = [threading.Thread(target=start, args=(x,)) for x in (1, 2, 3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for x, run in runs.items():
                # print() writes the text and its newline separately, so in the run whose capture
                # is shared, another thread's line can land between them: look for the texts
                own = [i for rx, i in re.findall(r"x=(\d) line (\d)", run.captured_out) if rx == str(x)]
                assert own == [str(i) for i in range(5)], (round_, x, run.captured_out)
    finally:
        sys.setswitchinterval(old_interval)
    assert not isinstance(sys.stdout, (output._Tee, output._Router))
