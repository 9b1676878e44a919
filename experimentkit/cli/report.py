"""``experimentkit report RUN [RUN ...] -o FILE.html``: a self-contained HTML file of one run or a
comparison (the code is in ``experimentkit.dashboard.report``)."""

from __future__ import annotations

import argparse
from typing import Callable

__all__ = ["add_commands"]


def add_commands(command: Callable) -> None:
    p = command("report", "write a self-contained HTML page of a run or a comparison of runs")
    p.add_argument("runs", nargs="+", metavar="RUN", help="one run (its page) or several (compared)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.html")
    p.add_argument("--all", action="store_true", help="show equal config entries too")
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace, target: str) -> int:
    from ..dashboard.report import write_report
    from ..query import open_store

    with open_store(target) as store:
        path = write_report(store, list(dict.fromkeys(args.runs)), args.output, args.all)
    print(f"wrote {path}")
    return 0
