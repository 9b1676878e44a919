"""PyTorch Lightning: ``ExperimentkitLogger``, a ``lightning.pytorch`` logger.

Inside ``@ex.main``/``@ex.automain`` it logs into the active run (``_run``), which the experiment
starts and ends.  Used on its own (``ExperimentkitLogger("mnist", observers=[...])``) it starts a
run of its own the first time Lightning needs it and ends it at ``finish()``, when Lightning
reports a failure, or at interpreter exit.  Hyperparameters go to ``run.info["hparams"]`` (the
config of a run is fixed when it starts); metrics keep Lightning's step; ``log_graph`` does
nothing; checkpoints become artifacts when asked (``log_checkpoints=True``: the best and last at
the end; ``"all"``: each one when saved).  Only rank 0 logs.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Sequence
from typing import Any, Optional, Union

from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from ._runs import BackgroundRun, active_run
from .params import plain_params

__all__ = ["ExperimentkitLogger"]


class ExperimentkitLogger(Logger):
    """Log a Lightning ``Trainer``'s hyperparameters, metrics and checkpoints into a run.

    Args:
        name: the experiment name of a standalone run (default ``"lightning"``).
        observers: observers of a standalone run (e.g. ``[FileStorageObserver("runs")]``).
        run: the run to log into; default: the active run, else a standalone one.
        config: the config of a standalone run.
        save_dir: where Lightning puts files of its own (checkpoints) for this logger.
        log_checkpoints: ``False``, ``True`` (best and last at the end) or ``"all"``.
        prefix: put before every metric name (``"fold1"`` → ``fold1/loss``).
    """

    def __init__(
        self,
        name: str = "lightning",
        observers: Sequence[Any] = (),
        run: Any = None,
        config: Optional[dict] = None,
        save_dir: Optional[str] = None,
        log_checkpoints: Union[bool, str] = False,
        prefix: str = "",
    ):
        super().__init__()
        if log_checkpoints not in (False, True, "all"):
            raise ValueError(f"log_checkpoints must be False, True or 'all', not {log_checkpoints!r}")
        self._name = name
        self._observers = list(observers)
        self._config = config
        self._save_dir = os.fspath(save_dir) if save_dir is not None else None
        self._log_checkpoints = log_checkpoints
        self._prefix = prefix
        self._run = run if run is not None else active_run()
        self._background: Optional[BackgroundRun] = None
        self._checkpoint_callback: Any = None
        self._logged_checkpoints: dict = {}

    # ---- the run ------------------------------------------------------------------------------
    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The experimentkit ``Run`` (started here when the logger is standalone)."""
        if self._run is None:
            self._background = BackgroundRun(self._name, self._observers, self._config)
            self._run = self._background.run
        return self._run

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> Any:
        """The run's id (as stored by its first observer); ``None`` on ranks other than 0, which
        have no run (as Lightning's ``MLFlowLogger``)."""
        if getattr(rank_zero_only, "rank", 0) > 0:
            return None
        return self.experiment._id

    @property
    def save_dir(self) -> Optional[str]:
        return self._save_dir

    @property
    def root_dir(self) -> Optional[str]:
        return self._save_dir

    # ---- logging ------------------------------------------------------------------------------
    @rank_zero_only
    def log_hyperparams(self, params: Union[dict, Namespace], *args: Any, **kwargs: Any) -> None:
        if isinstance(params, Namespace):
            params = vars(params)
        self.experiment.info.setdefault("hparams", {}).update(plain_params(dict(params or {})))

    @rank_zero_only
    def log_metrics(self, metrics: dict, step: Optional[int] = None) -> None:
        run = self.experiment
        if self._prefix:
            metrics = {f"{self._prefix}{self.group_separator}{k}": v for k, v in metrics.items()}
        run.log_metrics(metrics, step=step)

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Not stored (the model's source is part of the run's sources)."""

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self._checkpoint_callback = checkpoint_callback
        if self._log_checkpoints == "all":
            self._store_checkpoints(checkpoint_callback)

    def _store_checkpoints(self, callback: Any) -> None:
        best = getattr(callback, "best_model_path", "") or ""
        paths = dict(getattr(callback, "best_k_models", {}) or {})
        for path in (best, getattr(callback, "last_model_path", "") or ""):
            if path:
                paths.setdefault(path, None)
        for path, score in paths.items():
            if not os.path.isfile(path):
                continue
            stamp = os.path.getmtime(path)
            if self._logged_checkpoints.get(path) == stamp:
                continue
            self._logged_checkpoints[path] = stamp
            score = score.item() if hasattr(score, "item") else score
            metadata = {
                "checkpoint": True,
                "best": path == best,
                "score": score,
                "monitor": getattr(callback, "monitor", None),
            }
            self.experiment.add_artifact(path, os.path.basename(path), metadata, "application/octet-stream")

    # ---- the end ------------------------------------------------------------------------------
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Store the checkpoints when asked; a standalone run ends here only when Lightning failed
        (after a success it stays open for ``trainer.test``: call ``finish()`` or let it end at exit)."""
        if self._log_checkpoints and self._checkpoint_callback is not None:
            self._store_checkpoints(self._checkpoint_callback)
        if status != "success" and self._background is not None:
            self._background.finish("interrupted" if status == "aborted" else "failed")

    @rank_zero_only
    def finish(self) -> None:
        """End a standalone run as COMPLETED (and wait for its final flush)."""
        if self._background is not None:
            self._background.finish("success")
