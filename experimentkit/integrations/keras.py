"""Keras 3: ``ExperimentkitCallback`` logs epoch and batch metrics and the model summary.

Pass it to ``model.fit(..., callbacks=[ExperimentkitCallback()])`` inside ``@ex.main`` (it logs
into the active run) or on its own with ``observers=[...]`` (it starts a run at ``on_train_begin``
and completes it at ``on_train_end``; Keras does not tell callbacks about exceptions, so a failed
standalone fit ends as COMPLETED at exit unless you call ``finish("failed")``).  Epoch metrics keep
Keras's names with the epoch as step (``loss``, ``val_loss``); batch metrics are ``batch.<name>``
with the global batch number as step.  Works with any Keras 3 backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import keras

from ._runs import BackgroundRun, active_run
from .params import plain_params

__all__ = ["ExperimentkitCallback"]


class ExperimentkitCallback(keras.callbacks.Callback):
    """Log a Keras ``fit`` into a run.

    Args:
        run: the run to log into; default: the active run, else a standalone one.
        name, observers, config: the experiment name, observers and config of a standalone run.
        log_batches: also log ``batch.<metric>`` at every batch (``False``: epochs only).
        log_summary: store ``model.summary()`` as ``info["model_summary"]``.
    """

    def __init__(
        self,
        run: Any = None,
        name: str = "keras",
        observers: Sequence[Any] = (),
        config: Optional[dict] = None,
        log_batches: bool = True,
        log_summary: bool = True,
    ):
        super().__init__()
        self.run: Any = run if run is not None else active_run()
        self._standalone = (name, list(observers), config)
        self._background: Optional[BackgroundRun] = None
        self.log_batches = log_batches
        self.log_summary = log_summary
        self._batches = 0

    def _run(self) -> Any:
        if self.run is None:
            self._background = BackgroundRun(*self._standalone)
            self.run = self._background.run
        return self.run

    def on_train_begin(self, logs: Optional[dict] = None) -> None:
        run = self._run()
        run.info["keras"] = plain_params(
            {"params": dict(self.params or {}), "backend": keras.backend.backend()}
        )
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "get_config"):
            run.info["keras"]["optimizer"] = plain_params(optimizer.get_config())
        if self.log_summary:
            lines: list = []
            try:
                self.model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
            except ValueError:  # a model not built yet has no summary
                lines = []
            if lines:
                run.info["model_summary"] = "\n".join(lines)

    def on_train_batch_end(self, batch: int, logs: Optional[dict] = None) -> None:
        if self.log_batches and logs:
            self.run.log_metrics({f"batch.{key}": value for key, value in logs.items()}, step=self._batches)
        self._batches += 1

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        if logs:
            self.run.log_metrics(logs, step=epoch)

    def on_train_end(self, logs: Optional[dict] = None) -> None:
        self.finish("success")

    def finish(self, status: str = "success") -> None:
        """End a standalone run (``"success"``, ``"failed"`` or ``"interrupted"``); the next
        ``fit`` starts a new one."""
        if self._background is not None:
            self._background.finish(status)
            self._background = self.run = None
            self._batches = 0
