"""Hugging Face Transformers: ``ExperimentkitCallback``, a ``TrainerCallback``.

``Trainer(..., callbacks=[ExperimentkitCallback()])`` inside ``@ex.main`` logs into the active run:
every ``on_log`` dict (``loss``, ``learning_rate``, ``eval_loss``, ...) as metrics at the trainer's
global step, the ``TrainingArguments`` as ``info["training_args"]`` and the model's config as
``info["model_config"]``.  On its own (``observers=[...]``) it starts a run at ``on_train_begin``
whose config is the ``TrainingArguments``, and ends it at ``on_train_end``.  ``register()`` makes
``TrainingArguments(report_to="experimentkit")`` work too.  Only the main process logs.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Optional

from transformers import TrainerCallback

from ._runs import BackgroundRun, active_run
from .params import plain_params

__all__ = ["ExperimentkitCallback", "register"]


def _arguments(args: Any) -> dict:
    to_dict = getattr(args, "to_sanitized_dict", None) or getattr(args, "to_dict", None)
    return plain_params(to_dict() if to_dict else vars(args))


class ExperimentkitCallback(TrainerCallback):
    """Log a ``Trainer`` into a run.

    Args:
        run: the run to log into; default: the active run, else a standalone one.
        name, observers: the experiment name and observers of a standalone run.
    """

    def __init__(self, run: Any = None, name: str = "transformers", observers: Sequence[Any] = ()):
        self.run = run if run is not None else active_run()
        self._name = name
        self._observers = list(observers)
        self._background: Optional[BackgroundRun] = None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        arguments = _arguments(args)
        if self.run is None:
            self._background = BackgroundRun(self._name, self._observers, {"training_args": arguments})
            self.run = self._background.run
        self.run.info["training_args"] = arguments
        config = getattr(model, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            self.run.info["model_config"] = plain_params(config.to_dict())

    def on_log(self, args: Any, state: Any, control: Any, logs: Optional[dict] = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or self.run is None:
            return
        numbers_only = {
            key: value
            for key, value in logs.items()
            if isinstance(value, numbers.Number) or getattr(value, "ndim", None) == 0
        }
        self.run.log_metrics(numbers_only, step=state.global_step)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._background is not None:
            self._background.finish("success")
            self._background = self.run = None


def register() -> None:
    """Let ``TrainingArguments(report_to="experimentkit")`` add this callback to a ``Trainer``."""
    from transformers.integrations import integration_utils

    integration_utils.INTEGRATION_TO_CALLBACK["experimentkit"] = ExperimentkitCallback
