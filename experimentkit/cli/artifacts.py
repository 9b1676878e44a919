"""``experimentkit artifact RUN NAME [-o PATH]``: copy an artifact out of any store.

File storage keeps artifacts as files, SQL as blobs and MongoDB in GridFS; this command is the one
way to get one back whatever the backend.  Registered through ``main.COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

__all__ = ["add_commands"]


def add_commands(command: Callable[..., Any]) -> None:
    p = command("artifact", "copy an artifact of a run out of the store (any backend)")
    p.add_argument("run")
    p.add_argument("name", help="the artifact's name (as 'show RUN' lists it)")
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="a file, or an existing directory to keep the name (default: ./NAME); "
        "'-' writes the bytes to stdout",
    )
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(handler=cmd_artifact)


def cmd_artifact(args: argparse.Namespace, target: str) -> int:
    from ..errors import UsageError
    from ..query import open_store

    with open_store(target) as store:
        run = store.get(args.run)
        if args.output == "-":
            with run.open_artifact(args.name) as src:
                shutil.copyfileobj(src, sys.stdout.buffer)
            sys.stdout.flush()
            return 0
        dest = Path(args.output or Path(args.name).name)
        final = dest / Path(args.name).name if dest.is_dir() else dest
        if final.exists() and not args.force:
            raise UsageError(f"{final} already exists; use --force to replace it")
        path = run.copy_artifact(args.name, dest)
        print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    return 0
