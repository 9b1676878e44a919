"""Import time and a trivial run (whole process), experimentkit beside Sacred and MLflow, and the
phases of a run beside Sacred's.

python benchmarks/bench_startup.py [--repeat 7] [--callgrind]

Phases (one fresh interpreter per sample, frameworks interleaved, medians): ``import`` of
``Experiment`` and ``FileStorageObserver``; ``construct``, an ``Experiment`` with a file observer
and a main function; ``run``, ``ex.run()`` of that trivial main.  ``--callgrind`` also counts the
instructions of each phase under valgrind (deterministic where the wall clock of a shared machine
is not), dumping counters at a marker call between phases.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from _common import have, interleaved, table, write_script

TRIVIAL = {
    "experimentkit": "from experimentkit import Experiment\nex = Experiment('t')\n"
    "@ex.automain\ndef main():\n    return 1\n",
    "sacred": "from sacred import Experiment\nex = Experiment('t')\n"
    "@ex.automain\ndef main():\n    return 1\n",
}
MLFLOW_TRIVIAL = (
    "import os, sys\nos.environ['MLFLOW_ALLOW_FILE_STORE'] = 'true'\nimport mlflow\n"
    "mlflow.set_tracking_uri('file:' + sys.argv[1])\n"
    "with mlflow.start_run():\n    mlflow.log_param('a', 1)\n"
)


#: One trivial run split in phases; ``sys.getswitchinterval()`` marks the boundaries for callgrind
#: (``--dump-before=sys_getswitchinterval``), and nothing else here calls it.
PHASES = """\
import resource, sys, time
clock = time.perf_counter


def process_cpu():
    # this process's CPU and that of the children it waited for (Sacred's tee, uname -p)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


marks, cpu = [clock()], [process_cpu()]
sys.getswitchinterval()
from {module} import Experiment
from {module}.observers import FileStorageObserver
marks.append(clock()); cpu.append(process_cpu())
sys.getswitchinterval()
ex = Experiment("t")
ex.observers.append(FileStorageObserver(sys.argv[1]))
@ex.main
def main():
    return 1
marks.append(clock()); cpu.append(process_cpu())
sys.getswitchinterval()
ex.run(options={{"--loglevel": "WARNING"}})
marks.append(clock()); cpu.append(process_cpu())
sys.getswitchinterval()
print(*[b - a for a, b in zip(marks, marks[1:])], *[b - a for a, b in zip(cpu, cpu[1:])])
"""
PHASE_NAMES = ("import", "construct", "run")


def phase_times(frameworks: list, repeat: int) -> dict:
    """Median seconds of each phase per framework (wall clock, then process CPU time), fresh
    interpreters, interleaved."""
    scripts = {m: write_script(PHASES.format(module=m)) for m in frameworks}
    samples: dict = {m: [] for m in frameworks}
    for _ in range(repeat):
        for m in frameworks:
            store = tempfile.mkdtemp()
            done = subprocess.run(
                [sys.executable, "-W", "ignore", scripts[m], store],
                capture_output=True,
                text=True,
                check=True,
            )
            shutil.rmtree(store, ignore_errors=True)
            samples[m].append([float(x) for x in done.stdout.split()[-6:]])
    return {m: [statistics.median(s[i] for s in samples[m]) for i in range(6)] for m in frameworks}


def phase_instructions(framework: str) -> list:
    """Instructions executed in each phase (all threads), counted by callgrind."""
    work = tempfile.mkdtemp()
    script = write_script(PHASES.format(module=framework))
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=sys_getswitchinterval",
            f"--callgrind-out-file={work}/cg.%p",
            sys.executable,
            "-W",
            "ignore",
            script,
            os.path.join(work, "store"),
        ],
        capture_output=True,
        check=True,
    )
    parts: dict = {}
    for name in os.listdir(work):
        if name.startswith("cg."):
            fields = {}
            with open(os.path.join(work, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith(("part:", "summary:")):
                        key, _, value = line.partition(":")
                        fields[key] = int(value)
                    if len(fields) == 2:
                        break
            parts[fields["part"]] = parts.get(fields["part"], 0) + fields["summary"]
    shutil.rmtree(work, ignore_errors=True)
    return [parts.get(i, 0) for i in (2, 3, 4)]  # part 1: the interpreter's own start


def phase_report(frameworks: list, repeat: int, callgrind: bool) -> None:
    """Per-phase table, each framework's phase beside Sacred's."""
    times = phase_times(frameworks, repeat)
    counts = {m: phase_instructions(m) for m in frameworks} if callgrind else {}
    rows = []
    for i, phase in enumerate(PHASE_NAMES):
        row = [phase]
        for offset in (0, 3):
            for m in frameworks:
                j = i + offset
                ratio = f" ({times[m][j] / times['sacred'][j]:.2f}×)" if "sacred" in times else ""
                row.append(f"{times[m][j] * 1000:.1f} ms{ratio}")
        for m in counts:
            ratio = f" ({counts[m][i] / counts['sacred'][i]:.2f}×)" if "sacred" in counts else ""
            row.append(f"{counts[m][i] / 1e6:,.0f} M{ratio}")
        rows.append(row)
    headers = ["phase"] + [f"{m} wall" for m in frameworks] + [f"{m} CPU" for m in frameworks]
    headers += [f"{m} instructions" for m in counts]
    print("\n## phases of a trivial run, in process (bytecode cached; ratio to Sacred)\n")
    print(table(rows, headers))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--callgrind", action="store_true", help="also count instructions per phase")
    parser.add_argument("--phases-only", action="store_true", help="only the per-phase table")
    args = parser.parse_args()
    frameworks = ["experimentkit"] + [m for m in ("sacred", "mlflow") if have(m)]
    if args.phases_only:
        phase_report([m for m in frameworks if m != "mlflow"], args.repeat, args.callgrind)
        return

    imports = {"bare": [sys.executable, "-c", "pass"]}
    statements = {
        "experimentkit": "from experimentkit import Experiment",
        "sacred": "from sacred import Experiment",
        "mlflow": "import mlflow",
    }
    imports.update({m: [sys.executable, "-c", statements[m]] for m in frameworks})
    times = interleaved(imports, args.repeat)
    rows = [
        [
            m,
            f"{(times[m] - times['bare']) * 1000:.0f} ms",
            f"{(times[m] - times['bare']) / max(times['experimentkit'] - times['bare'], 1e-9):.1f}×",
        ]
        for m in frameworks
    ]
    print("## import of the entry point (wall increment over a bare interpreter)\n")
    print(table(rows, ["framework", "import", "ratio to experimentkit"]))

    store = tempfile.mkdtemp()
    runs = {}
    for m in frameworks:
        if m == "mlflow":
            runs[m] = [sys.executable, write_script(MLFLOW_TRIVIAL), store + "/mlruns"]
        else:
            runs[m] = [sys.executable, write_script(TRIVIAL[m]), "-F", f"{store}/{m}", "-l", "WARNING"]
    times = interleaved(runs, args.repeat)
    shutil.rmtree(store, ignore_errors=True)
    rows = [[m, f"{times[m] * 1000:.0f} ms", f"{times[m] / times['experimentkit']:.1f}×"] for m in frameworks]
    print("\n## trivial run, file store, whole process\n")
    print(table(rows, ["framework", "wall time", "ratio to experimentkit"]))
    phase_report([m for m in frameworks if m != "mlflow"], args.repeat, args.callgrind)
    print(f"\nAdapters and frameworks loaded by `import experimentkit`: {adapter_modules_loaded()}")


#: Modules the integrations import; ``import experimentkit`` must load none of them.
ADAPTER_MODULES = (
    "experimentkit.integrations",
    "experimentkit.workers",
    "experimentkit.media",
    "torch",
    "lightning",
    "keras",
    "transformers",
    "psutil",
    "pynvml",
    "PIL",
)


def adapter_modules_loaded() -> str:
    """The adapter/framework modules a fresh ``import experimentkit`` loaded ('none' is the goal)."""
    import json
    import subprocess

    code = (
        "import sys, json, experimentkit; from experimentkit import Experiment; "
        f"print(json.dumps([m for m in {list(ADAPTER_MODULES)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return ", ".join(json.loads(out.stdout)) or "none"


if __name__ == "__main__":
    main()
