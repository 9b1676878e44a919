"""Import time and a trivial run (whole process), experimentkit beside Sacred and MLflow.

python benchmarks/bench_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    frameworks = ["experimentkit"] + [m for m in ("sacred", "mlflow") if have(m)]

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
