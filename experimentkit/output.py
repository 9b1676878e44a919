"""Capturing what a run prints (stdout and stderr) so observers can store it.

Three modes, as in Sacred: ``"no"`` captures nothing, ``"sys"`` wraps ``sys.stdout``/``sys.stderr``
(only
Python-level writes are seen), ``"fd"`` redirects file descriptors 1 and 2 into pipes read by
background
threads (also sees C extensions and child processes).  Everything captured still reaches the
terminal.

The captured text only ever grows by appending, so an observer can keep a cursor and store just the
new
part at every heartbeat.  With a filter (for example :func:`apply_backspaces_and_linefeeds`), only
complete
lines are filtered and published; the unfinished last line is held back until it ends or the
capture stops.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import contextvars
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Callable, Optional

from .errors import UnknownCaptureModeError

__all__ = [
    "CAPTURE_MODES",
    "CapturedOutput",
    "UnknownCaptureModeError",
    "apply_backspaces_and_linefeeds",
    "capture_output",
]

CAPTURE_MODES = ("fd", "no", "sys")

# How long the end of an fd capture waits for the pipes to reach end-of-file.  Only a background
# child
# process that still holds the pipe makes this wait; its later output goes to the terminal only.
_EOF_GRACE_SECONDS = 1.0
# Held-back unfinished lines longer than this are folded (progress bars that never print a newline).
_FOLD_PENDING_AT = 4096


# ---------------------------------------------------------------------------------------- filtering


def _fold(line: str) -> tuple[str, int]:
    """Replay one line (no ``\\n``) on a virtual terminal line: return (visible text, cursor
    column)."""
    if "\b" not in line:
        if "\r" not in line:
            return line, len(line)
        visible = ""
        for segment in line.split("\r"):  # each carriage return restarts overwriting at column 0
            visible = segment + visible[len(segment) :]
        return visible, len(segment)
    chars: list[str] = []
    cursor = 0
    for char in line:
        if char == "\r":
            cursor = 0
        elif char == "\b":
            cursor = max(0, cursor - 1)
        else:
            if cursor == len(chars):
                chars.append(char)
            else:
                chars[cursor] = char
            cursor += 1
    return "".join(chars), cursor


def apply_backspaces_and_linefeeds(text: str) -> str:
    """Interpret ``\\b`` and ``\\r`` line by line the way a terminal shows them.

    A progress bar redrawn with carriage returns collapses to its last state.  A carriage return
    that ends
    the whole text is kept, so the result can still be joined with the next chunk of output (as in
    Sacred).
    """
    lines = text.split("\n")
    last = lines[-1]
    folded = [_fold(line)[0] for line in lines[:-1]]
    if last.endswith("\r"):
        folded.append(_fold(last[:-1])[0] + "\r")
    else:
        folded.append(_fold(last)[0])
    return "\n".join(folded)


def _compact_pending(pending: str) -> str:
    """Shorten a held-back line without changing how it folds once more text follows.

    The terminal state after a prefix is (visible text, cursor); ``visible + "\\r" +
    visible[:cursor]``
    reproduces exactly that state.  The last character stays raw because a final ``\\r`` is special.
    """
    visible, cursor = _fold(pending[:-1])
    state = visible if cursor == len(visible) else visible + "\r" + visible[:cursor]
    return state + pending[-1]


# --------------------------------------------------------------------------------------- the buffer


class CapturedOutput:
    """The output captured so far.  :meth:`get` returns it; each result extends the previous one."""

    def __init__(
        self, filter: Optional[Callable[[str], str]] = None, flush: Optional[Callable[[], None]] = None
    ):
        self._filter = filter
        self._flush = flush
        self._incoming: list[str] = []
        self._incoming_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._closed = False
        self._pending = ""  # raw unfinished last line, held back while a filter is set
        self._text = ""
        self._hidden: tuple = ()  # lines containing one of these reach the terminal only

    def hide(self, text: str) -> None:
        """Keep the line that will contain ``text`` (a log line experimentkit writes about its own
        observers) out of the captured output; it still reaches the terminal."""
        with self._incoming_lock:
            self._hidden += (text,)

    def _append(self, text: str) -> None:
        """Called by writers (tee proxies, pipe readers), possibly from several threads."""
        with self._incoming_lock:
            if self._hidden and any(hidden in text for hidden in self._hidden):
                text = "".join(
                    line
                    for line in text.splitlines(keepends=True)
                    if not any(hidden in line for hidden in self._hidden)
                )
            if not self._closed:
                self._incoming.append(text)

    def _close(self) -> None:
        with self._incoming_lock:
            self._closed = True

    @property
    def closed(self) -> bool:
        """True once the capture has ended; :meth:`get` then returns the complete output."""
        return self._closed

    def get(self) -> str:
        """Everything captured so far (filtered).  The work done is proportional to the new
        output."""
        if self._flush is not None and not self._closed:
            self._flush()
        with self._read_lock:
            with self._incoming_lock:
                chunks, self._incoming = self._incoming, []
                final = self._closed
            new = "".join(chunks)
            if self._filter is None:
                if new:
                    self._text += new
            elif new or (final and self._pending):
                self._text += self._filter_new(new, final)
            return self._text

    def _filter_new(self, new: str, final: bool) -> str:
        data = self._pending + new
        if final:
            self._pending = ""
            return self._filter(data) if data else ""  # type: ignore[misc]
        cut = data.rfind("\n") + 1
        complete, pending = data[:cut], data[cut:]
        if len(pending) > _FOLD_PENDING_AT and self._filter is apply_backspaces_and_linefeeds:
            pending = _compact_pending(pending)
        self._pending = pending
        return self._filter(complete) if complete else ""  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<CapturedOutput {len(self._text)} chars{' closed' if self._closed else ''}>"


# -------------------------------------------------------------------------------------------- modes


def capture_output(
    mode: str, filter: Optional[Callable[[str], str]] = None
) -> contextlib.AbstractContextManager[CapturedOutput]:
    """Context manager that captures stdout/stderr in ``mode`` and yields a :class:`CapturedOutput`.

    The mode is checked here, before anything is redirected, so a typo fails at once.
    """
    if mode not in CAPTURE_MODES + ("thread",):
        raise UnknownCaptureModeError(
            f"Unknown capture mode '{mode}'. Available options are {sorted(CAPTURE_MODES)}"
        )
    if mode == "no":
        return _capture_nothing(CapturedOutput(filter))
    if mode == "sys":
        return _capture_sys(CapturedOutput(filter))
    if mode == "thread":
        return _capture_routed(CapturedOutput(filter))
    return _capture_fd(filter)


@contextlib.contextmanager
def _capture_nothing(out: CapturedOutput) -> Iterator[CapturedOutput]:
    try:
        yield out
    finally:
        out._close()


class _Tee:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes through and records what was written."""

    def __init__(self, stream, sink: Callable[[str], None]):
        self._stream = stream
        self._sink = sink

    def write(self, text):
        written = self._stream.write(text)
        if isinstance(text, str):
            self._sink(text)
        return written

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


# Every capture that replaces or restores sys.stdout/sys.stderr does it under this lock: runs in
# threads start and end in any order, and an unlocked read-then-assign of sys.stdout in one thread
# can drop the wrapper another thread installed in between (its run then loses what it prints).
_streams_lock = threading.Lock()


@contextlib.contextmanager
def _capture_sys(out: CapturedOutput) -> Iterator[CapturedOutput]:
    with _streams_lock:
        tees = _Tee(sys.stdout, out._append), _Tee(sys.stderr, out._append)
        sys.stdout, sys.stderr = tees
    try:
        yield out
    finally:
        with _streams_lock:
            _unwrap("stdout", tees[0])
            _unwrap("stderr", tees[1])
        out._close()


def _unwrap(name: str, wrapper: _Tee | _Router) -> None:
    """Take ``wrapper`` out of ``sys.<name>``, also when another capture wrapped it meanwhile (runs
    in threads end in any order): the outer wrapper then writes to what ``wrapper`` wrote to.  That
    is ``wrapper._stream`` now, not the stream it wrapped at the start, which may be a capture that
    has ended since.  Called with ``_streams_lock`` held."""
    inner = wrapper._stream
    _retired.append(wrapper)
    if isinstance(wrapper, _Tee):
        wrapper._sink = _discard  # the run has ended: do not keep its captured text alive
    current = getattr(sys, name)
    if current is wrapper:
        setattr(sys, name, inner)
        return
    node = current
    while isinstance(node, (_Tee, _Router)):
        if node._stream is wrapper:
            node._stream = inner
            return
        node = node._stream


def _discard(text: str) -> None:
    """The sink of a wrapper whose capture has ended."""


# CPython 3.11's print() holds sys.stdout by a borrowed reference between writing the text and
# the newline; if another thread takes the wrapper out meanwhile and drops its last reference,
# print writes through freed memory (a segfault, seen with runs ending together in threads).
# Retired wrappers are therefore kept alive for a while, their sinks detached.
_retired: collections.deque = collections.deque(maxlen=256)


# ---- "thread": several runs capturing at once in one process ---------------------------------------
# One router stands in for sys.stdout/sys.stderr while any such capture is open; it writes through
# and hands the text to the capture of the run active in the writing context (a ContextVar), so
# each run gets only what its own thread or task printed.  Output of C code, subprocesses and
# threads started without the run's context is not captured (the run's meta says so).
_sink: contextvars.ContextVar = contextvars.ContextVar("experimentkit_output_sink", default=None)


class _RouterState:
    """How many captures are open, and the routers they installed on stdout/stderr."""

    users = 0
    routers: Optional[tuple[_Router, _Router]] = None


_router_state = _RouterState()


class _Router:
    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        written = self._stream.write(text)
        sink = _sink.get()
        if sink is not None and isinstance(text, str):
            sink(text)
        return written

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _capture_routed(out: CapturedOutput) -> Iterator[CapturedOutput]:
    with _streams_lock:
        if _router_state.users == 0:
            _router_state.routers = _Router(sys.stdout), _Router(sys.stderr)
            sys.stdout, sys.stderr = _router_state.routers
        _router_state.users += 1
    token = _sink.set(out._append)
    try:
        yield out
    finally:
        try:
            _sink.reset(token)
        except ValueError:
            _sink.set(None)
        with _streams_lock:
            _router_state.users -= 1
            if _router_state.users == 0 and _router_state.routers is not None:
                routers, _router_state.routers = _router_state.routers, None
                _unwrap("stdout", routers[0])
                _unwrap("stderr", routers[1])
        out._close()


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or odd replacement stream must not break the capture
            pass


_MAX_PARTIAL_LINE = 1 << 16  # a "line" longer than this is handed over without waiting for its end


class _PipeReader(threading.Thread):
    """Copies one pipe to the original file descriptor and into the captured text (UTF-8,
    replace)."""

    def __init__(self, read_fd: int, forward_fd: int, out: CapturedOutput):
        super().__init__(name=f"experimentkit-capture-{forward_fd}", daemon=True)
        self._read_fd = read_fd
        self._forward_fd = forward_fd
        self._out = out
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def run(self) -> None:
        forwarding = True
        partial = ""
        try:
            while True:
                data = os.read(self._read_fd, 65536)
                if not data:
                    break
                if forwarding:
                    forwarding = _write_all(self._forward_fd, data)
                partial += self._decoder.decode(data)
                # Hand over whole lines only, so the other stream's reader cannot cut a line in two.
                cut = max(partial.rfind("\n"), partial.rfind("\r"))
                if cut < 0 and len(partial) > _MAX_PARTIAL_LINE:
                    cut = len(partial) - 1
                if cut >= 0:
                    self._out._append(partial[: cut + 1])
                    partial = partial[cut + 1 :]
            partial += self._decoder.decode(b"", final=True)
            if partial:
                self._out._append(partial)
        finally:
            os.close(self._read_fd)
            os.close(self._forward_fd)


def _writes_to_fd(stream: object, fd: int) -> bool:
    """Whether ``stream`` ends up in file descriptor ``fd`` (so the fd pipe captures it)."""
    try:
        return stream.fileno() == fd  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of ``data``; False when the destination is gone (then only capture continues)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _capture_fd(filter: Optional[Callable[[str], str]]) -> Iterator[CapturedOutput]:
    out = CapturedOutput(filter, flush=_flush_std)
    _flush_std()
    try:
        saved = {fd: os.dup(fd) for fd in (1, 2)}
    except OSError:
        warnings.warn(
            "stdout/stderr have no file descriptors; capturing in 'sys' mode instead",
            RuntimeWarning,
            stacklevel=3,
        )
        with _capture_sys(CapturedOutput(filter)) as sys_out:
            yield sys_out
        return
    readers: list[_PipeReader] = []
    # Python streams that do not write to fds 1/2 (pytest's capture, some notebook kernels) bypass the
    # pipes; tee those at the Python level so their output is captured too.
    tees: dict = {}
    with _streams_lock:
        if not _writes_to_fd(sys.stdout, 1):
            sys.stdout = tees["stdout"] = _Tee(sys.stdout, out._append)
        if not _writes_to_fd(sys.stderr, 2):
            sys.stderr = tees["stderr"] = _Tee(sys.stderr, out._append)
    try:
        for fd in (1, 2):
            read_fd, write_fd = os.pipe()
            reader = _PipeReader(read_fd, os.dup(saved[fd]), out)
            os.dup2(write_fd, fd)
            os.close(write_fd)
            reader.start()
            readers.append(reader)
        yield out
    finally:
        _flush_std()
        with _streams_lock:
            for name, tee in tees.items():
                _unwrap(name, tee)
        for fd, original in saved.items():  # restore first: nothing below may leave fds redirected
            os.dup2(original, fd)
            os.close(original)
        for reader in readers:
            reader.join(_EOF_GRACE_SECONDS)
        out._close()
