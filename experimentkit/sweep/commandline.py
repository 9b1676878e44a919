"""The sweep flags of an experiment script (``python train.py -M with lr=0.1,0.01 --jobs 4``).

They are taken out of ``argv`` before the Sacred grammar sees it (so ``--help`` and docopt are
unchanged); a flag the experiment claims itself (``additional_cli_options``) is left alone.
``-M``/``--multirun`` turns the sweep grammar on (``-m`` stays Sacred's ``--mongo_db``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import UsageError, suggest

__all__ = ["SweepFlags", "split_sweep_argv", "run_sweep_commandline", "SWEEP_HELP"]

# flag -> (key, takes a value)
_FLAGS = {
    "--multirun": ("multirun", False),
    "-M": ("multirun", False),
    "--sweep-file": ("sweep_file", True),
    "--samples": ("samples", True),
    "--sweep-seed": ("sweep_seed", True),
    "--jobs": ("jobs", True),
    "--launcher": ("launcher", True),
    "--launcher-arg": ("launcher_args", True),
    "--fail-fast": ("fail_fast", False),
    "--resume": ("resume", None),
    "--optuna": ("optuna", True),
    "--objective": ("objective", True),
    "--direction": ("direction", True),
    "--no-progress": ("no_progress", False),
}
_STARTS_SWEEP = ("multirun", "sweep_file", "resume", "optuna")

SWEEP_HELP = """
Sweep options (docs/sweeps.md):
  -M --multirun             Run every combination of the swept values after 'with':
                            lr=0.1,0.01  'n=range(1,5)'  'lr=logspace(-4,-1,4)'  big,small
  --sweep-file=FILE         Grid and random dimensions from a YAML/JSON file
  --samples=N               Random samples per grid point (choice/uniform/loguniform/int)
  --jobs=N                  Runs at once (default 1)
  --launcher=NAME           local (default, separate processes), threads, ray, slurm
  --launcher-arg=KEY=VALUE  A launcher setting (ray: address; slurm: partition, time, gpus...)
  --fail-fast               Stop starting runs after the first failure
  --resume[=SWEEP_ID]       Run only the tasks of a sweep without a COMPLETED run
  --optuna=N                N trials proposed by Optuna (--objective=METRIC --direction=...)
  --no-progress             No progress bar
"""


@dataclass
class SweepFlags:
    """The sweep flags given on a command line."""

    multirun: bool = False
    sweep_file: Optional[str] = None
    samples: Optional[str] = None
    sweep_seed: Optional[str] = None
    jobs: Optional[str] = None
    launcher: Optional[str] = None
    launcher_args: list = field(default_factory=list)
    fail_fast: bool = False
    resume: Any = None  # None, True (latest matching) or an id text
    optuna: Optional[str] = None
    objective: Optional[str] = None
    direction: Optional[str] = None
    no_progress: bool = False
    given: list = field(default_factory=list)

    @property
    def starts_sweep(self) -> bool:
        return any(getattr(self, key) for key in _STARTS_SWEEP)


def split_sweep_argv(argv: list, options: Any = ()) -> tuple:
    """``(argv_without_sweep_flags, SweepFlags or None)``; None when no sweep flag was given."""
    taken = {flag for option in options for flag in option.get_flags()}
    flags = SweepFlags()
    rest = argv[:1]
    words = argv[1:]
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        spec = _FLAGS.get(name) if name not in taken else None
        if spec is None and word.startswith("--") and name not in taken and len(name) > 3:
            close = [f for f in _FLAGS if f.startswith(name) and f.startswith("--")]
            if len(close) == 1 and not any(f.startswith(name) for f in taken):
                name, spec = close[0], _FLAGS[close[0]]
        if spec is None:
            rest.append(word)
            i += 1
            continue
        key, takes_value = spec
        flags.given.append(name)
        if takes_value is None:  # --resume takes an optional id
            if eq:
                flags.resume = value
            elif i + 1 < len(words) and words[i + 1].isdigit():
                flags.resume = words[i + 1]
                i += 1
            else:
                flags.resume = True
        elif takes_value:
            if not eq:
                if i + 1 >= len(words):
                    raise UsageError(f"option {name} needs a value")
                value = words[i + 1]
                i += 1
            if key == "launcher_args":
                flags.launcher_args.append(value)
            else:
                setattr(flags, key, value)
        else:
            if eq:
                raise UsageError(f"option {name} is a flag and takes no value")
            setattr(flags, key, True)
        i += 1
    if not flags.given:
        return argv, None
    if not flags.starts_sweep:
        raise UsageError(
            f"{flags.given[0]} applies to sweeps: add --multirun (-M), --sweep-file, --optuna or --resume"
        )
    return rest, flags


def _positive_int(text: Any, flag: str) -> Optional[int]:
    if text is None:
        return None
    try:
        number = int(str(text))
    except ValueError:
        raise UsageError(f"{flag} must be a whole number, not {text!r}") from None
    if number < 1:
        raise UsageError(f"{flag} must be at least 1, not {number}")
    return number


def launcher_options(pairs: list) -> dict:
    """``["address=auto", "gpus_per_node=1"]`` -> ``{"address": "auto", "gpus_per_node": 1}``."""
    from ..config.updates import parse_value

    found = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--launcher-arg needs KEY=VALUE, not {pair!r}")
        found[key.strip()] = parse_value(value)
    return found


def run_sweep_commandline(ex: Any, parsed: Any, flags: SweepFlags, argv: list) -> int:
    """Run the sweep a command line asks for; returns the exit status (0, 1 when a run failed, 130
    when interrupted)."""
    from .records import books_for_options
    from .runner import run_sweep, summary, tasks_from_record
    from .space import load_sweep_file, space_from_words

    options = dict(parsed.options)
    words = list(options.get("UPDATE") or [])
    jobs = _positive_int(flags.jobs, "--jobs") or 1
    samples = _positive_int(flags.samples, "--samples")
    try:
        seed = int(flags.sweep_seed or 0)
    except ValueError:
        raise UsageError(f"--sweep-seed must be a whole number, not {flags.sweep_seed!r}") from None
    launcher_args = launcher_options(flags.launcher_args)
    if flags.optuna:
        from .optuna import optimize_commandline

        return optimize_commandline(ex, parsed, flags, argv, jobs, launcher_args)
    space = space_from_words(words, samples, seed)
    if flags.sweep_file:
        space = load_sweep_file(flags.sweep_file, space)
    books = books_for_options(options) or None
    resume = None
    if flags.resume:
        from ..sweep.records import books_for_observers

        found = books or books_for_observers(ex.observers)
        if not found:
            raise UsageError("--resume reads the sweep record: give its store with -F DIR, -s URL or -m DB")
        resume = _find_resume(found[0], flags.resume, argv)
        tasks = tasks_from_record(resume)
    else:
        tasks = space.expand()
    result = run_sweep(
        ex,
        tasks,
        command=parsed.command,
        options=options,
        space=space,
        launcher=flags.launcher or "local",
        jobs=jobs,
        launcher_options=launcher_args,
        fail_fast=flags.fail_fast,
        command_line=list(argv),
        books=books,
        resume=resume,
        progress=not flags.no_progress,
    )
    print(summary(result, len(tasks)), file=sys.stderr)
    if result.status == "INTERRUPTED":
        return 130
    return 0 if result.status == "COMPLETED" else 1


def _find_resume(book: Any, wanted: Any, argv: list) -> dict:
    if wanted is not True:
        return book.get(wanted)
    wanted_line = [w for w in argv[1:] if w != "--resume"]
    records = [
        r
        for r in book.records()
        if r.get("status") != "COMPLETED" and (r.get("command_line") or [])[1:] == wanted_line
    ]
    if not records:
        raise UsageError(
            f"no unfinished sweep with this command line in {book}; "
            f"give its id: --resume SWEEP_ID (experimentkit sweeps lists them)"
        )
    return records[-1]


def check_direction(direction: Optional[str]) -> str:
    """``maximize`` or ``minimize`` (also ``max``/``min``)."""
    text = (direction or "minimize").lower()
    aliases = {"max": "maximize", "min": "minimize"}
    text = aliases.get(text, text)
    if text not in ("maximize", "minimize"):
        raise UsageError(
            f"--direction must be maximize or minimize, not {direction!r}"
            f"{suggest(str(direction), ('maximize', 'minimize'))}"
        )
    return text
