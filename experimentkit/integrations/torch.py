"""One run for all the ranks of a ``torch.distributed`` job (``torchrun``, DDP, ``mp.spawn``).

Every rank runs the script; only rank 0's run should be observed (``rank_zero_observed(ex)`` makes
the others unobserved), and ``share_run(_run)`` — a collective call after
``init_process_group`` — gives every rank a handle that logs into rank 0's run.  The transport is
:mod:`experimentkit.workers` (spool files on rank 0's machine).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["share_run", "rank_zero_observed"]


def _rank_from_env() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def rank_zero_observed(ex: Any) -> Any:
    """Make runs of ``ex`` on ranks other than 0 (``$RANK``, set by ``torchrun``) unobserved."""

    def _unobserved_off_rank_zero(options: dict) -> None:
        if _rank_from_env() != 0:
            options["--unobserved"] = True

    ex.option_hook(_unobserved_off_rank_zero)
    return ex


def share_run(run: Any, ranks: str = "all", group: Any = None) -> Any:
    """Collective: rank 0's ``run.handle(ranks)`` on every rank (``run`` is ignored off rank 0).

    ``ranks="all"`` stores rank r's points as ``<name>.rank<r>``; ``"zero"`` keeps rank 0's only.
    Without an initialised process group, the run's own handle is returned.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return run.handle(ranks)
    box = [run.handle(ranks) if dist.get_rank(group) == 0 else None]
    dist.broadcast_object_list(box, src=0, group=group)
    return box[0]
