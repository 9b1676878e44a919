"""The integrations cost nothing until used: ``import experimentkit`` and a plain run load none of
them, nor any framework."""

import json
import subprocess
import sys

ADAPTERS = [
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
]


def loaded_after(code):
    probe = f"{code}\nimport sys, json\nprint(json.dumps([m for m in {ADAPTERS!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_import_loads_no_adapter_and_no_framework():
    assert loaded_after("import experimentkit\nfrom experimentkit import Experiment") == []


def test_a_run_logging_scalars_and_metrics_loads_none_either(tmp_path):
    code = f"""
from experimentkit import Experiment
from experimentkit.observers import FileStorageObserver
ex = Experiment("plain", interactive=True)
ex.observers.append(FileStorageObserver({str(tmp_path)!r}))

@ex.main
def main(_run):
    _run.log_scalar("loss", 1.0)
    _run.log_metrics({{"a": 1, "b": 2.5}}, step=3)

ex.run(options={{"--loglevel": "ERROR"}})
"""
    assert loaded_after(code) == []
