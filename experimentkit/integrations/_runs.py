"""The run an adapter logs into: the active one (inside ``@ex.main``), or one it starts itself.

A standalone adapter (a Lightning logger, a Keras or Hugging Face callback used without an
experiment) still needs a ``Run`` that starts, beats and ends like any other.  ``BackgroundRun``
gives it one without a new lifecycle: an ``Experiment`` whose main function waits, run on a daemon
thread, so every observer, the heartbeat, the journal and the final flush work as usual; the
adapter logs into it from the training thread and ``finish(status)`` releases the main function
(``COMPLETED``, ``FAILED`` or ``INTERRUPTED``).  A run still open at interpreter exit is completed.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Sequence
from typing import Any, Optional

__all__ = ["BackgroundRun", "active_run"]


def active_run() -> Optional[Any]:
    """The run of the enclosing ``@ex.main`` (or ``ex.run()``), if any."""
    from ..context import current_run

    return current_run()


class _Finish(Exception):
    """Raised inside the waiting main function to end the run as failed."""


class BackgroundRun:
    """A run of a waiting main function on a daemon thread, driven by an adapter."""

    def __init__(
        self,
        name: str,
        observers: Sequence[Any] = (),
        config: Optional[dict] = None,
        options: Optional[dict] = None,
    ):
        from ..experiment import Experiment

        experiment = Experiment(name, interactive=True)
        if config:
            experiment.add_config(dict(config))
        experiment.observers.extend(observers)
        self._release = threading.Event()
        self._outcome: Optional[str] = None
        self._error: Optional[BaseException] = None
        self.run: Any = None
        started = threading.Event()

        def waiting_main(_run: Any) -> None:
            self.run = _run
            started.set()
            self._release.wait()
            if self._outcome == "failed":
                raise _Finish("the training framework reported the run as failed")
            if self._outcome == "interrupted":
                raise KeyboardInterrupt("the training framework stopped the run")

        experiment.main(waiting_main)
        all_options = {"--capture": "no"}  # the root logger stays as the user set it
        all_options.update(options or {})

        def target() -> None:
            try:
                experiment.run(options=all_options)
            except BaseException as exc:  # noqa: BLE001 - kept for finish() to re-raise if unexpected
                self._error = exc
            finally:
                started.set()

        self._thread = threading.Thread(target=target, name="experimentkit-run", daemon=True)
        self._thread.start()
        started.wait()
        if self.run is None:
            raise RuntimeError(f"could not start the run: {self._error!r}") from self._error
        ref = weakref.ref(self)
        atexit.register(_finish_if_alive, ref)

    @property
    def finished(self) -> bool:
        return self._outcome is not None

    def finish(self, status: str = "success") -> None:
        """End the run (``success`` → COMPLETED, ``failed`` → FAILED, ``interrupted``) and wait
        for its final flush."""
        if self._outcome is None:
            self._outcome = status if status in ("failed", "interrupted") else "success"
            self._release.set()
        self._thread.join()


def _finish_if_alive(ref: weakref.ref) -> None:
    """At interpreter exit, finish a background run the script left open (as a success)."""
    background = ref()
    if background is not None:
        background.finish("success")
