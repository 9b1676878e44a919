"""Overhead of a local sweep: N trivial runs with ``-M --jobs J`` against the same runs started one
by one from a shell loop, and against Hydra's ``-m`` with its joblib launcher (if installed).

    python benchmarks/bench_sweep.py [--runs 100] [--jobs 4] [--repeat 3]

Every variant records each run (experimentkit: a file store; Hydra: its own output directory per
run).  Reported: wall seconds for the whole sweep (median of --repeat, variants interleaved), seconds
per run, and ratios.  The machine's core count bounds what --jobs can gain.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import have, table  # noqa: E402

EK_SCRIPT = """
from experimentkit import Experiment
ex = Experiment("trivial")

@ex.config
def cfg():
    x = 0

@ex.automain
def main(x):
    return x * 2
"""

HYDRA_SCRIPT = """
import hydra
from omegaconf import DictConfig

@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> int:
    return cfg.x * 2

if __name__ == "__main__":
    main()
"""


def _timed(cmd: list, cwd: str, shell: bool = False) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, shell=shell, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{done.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench_sweep_")
    with open(os.path.join(work, "ek.py"), "w") as f:
        f.write(EK_SCRIPT)
    with open(os.path.join(work, "hy.py"), "w") as f:
        f.write(HYDRA_SCRIPT)
    python = sys.executable
    n, jobs = args.runs, args.jobs
    variants = {
        f"experimentkit -M --jobs {jobs}": lambda store: _timed(
            [
                python,
                "ek.py",
                "-l",
                "WARNING",
                "-F",
                store,
                "-M",
                "--jobs",
                str(jobs),
                "--no-progress",
                "with",
                f"x=range({n})",
            ],
            work,
        ),
        "experimentkit -M --jobs 1": lambda store: _timed(
            [python, "ek.py", "-l", "WARNING", "-F", store, "-M", "--no-progress", "with", f"x=range({n})"],
            work,
        ),
        "shell loop (one process per run)": lambda store: _timed(
            f"for x in $(seq 0 {n - 1}); do {python} ek.py -l WARNING -F {store} with x=$x || exit 1; done",
            work,
            shell=True,
        ),
    }
    if have("hydra") and have("hydra_plugins.hydra_joblib_launcher"):
        variants[f"Hydra -m joblib n_jobs={jobs}"] = lambda store: _timed(
            [
                python,
                "hy.py",
                "-m",
                f"hydra.sweep.dir={store}",
                "hydra/launcher=joblib",
                f"hydra.launcher.n_jobs={jobs}",
                f"+x=range(0,{n})",
            ],
            work,
        )
    samples: dict = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, run in variants.items():
            store = os.path.join(work, "store")
            shutil.rmtree(store, ignore_errors=True)
            samples[name].append(run(store))
    shutil.rmtree(work, ignore_errors=True)
    loop = statistics.median(samples["shell loop (one process per run)"])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append([name, f"{median:.2f}", f"{1000 * median / n:.1f}", f"{median / loop:.2f}"])
    print(
        f"### {n} trivial runs, file store, {os.cpu_count()} cores (median of {args.repeat}, interleaved)\n"
    )
    print(table(rows, ["variant", "wall s", "ms per run", "ratio to shell loop"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
