"""Run options of the interop package, kept apart so that loading them (every script start
loads observer plugins) imports nothing heavy."""

from __future__ import annotations

from typing import Any

__all__ = ["tensorboard_option"]


class _TensorBoardOption:
    """Mirror the run's metrics into a TensorBoard logdir while it runs (``tensorboard --logdir
    DIR`` shows them); ``SETTINGS.TENSORBOARD_LOGDIR`` sets it for every run."""

    short_flag = "-T"
    long_flag = "--tensorboard"
    arg = "DIR"
    arg_description = "the TensorBoard logdir; each run writes DIR/<id>_<experiment>/"

    def apply(self, args: str, run: Any) -> None:
        from .tensorboard import TensorBoardObserver

        run.observers.append(TensorBoardObserver(args))


#: The ``-T DIR`` / ``--tensorboard=DIR`` option, registered as an observer plugin in setup.cfg.
tensorboard_option = _TensorBoardOption()
