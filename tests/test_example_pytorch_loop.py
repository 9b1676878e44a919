"""The PyTorch loop of docs/integrations.md is examples/pytorch_loop.py word for word, and it runs as
written: every batch's loss, every epoch's validation metrics and images are stored, and the result
is the last validation accuracy."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from experimentkit.query import open_store

pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pytorch_loop.py"


def test_the_docs_quote_the_example_file_exactly():
    docs = (ROOT / "docs" / "integrations.md").read_text()
    section = docs.split("## A PyTorch loop", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert block == EXAMPLE.read_text()


def test_the_example_runs_as_written_and_stores_what_it_logs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "-F", "runs", "with", "epochs=2", "batch_size=128", "seed=3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    with open_store(str(tmp_path / "runs")) as store:
        run = store.get(1)
        assert run.status == "COMPLETED"
        assert run.config["epochs"] == 2 and run.config["seed"] == 3
        # 1536 training samples in batches of 128: 12 steps per epoch, every one stored
        assert run.metric("train.loss").steps == list(range(24))
        assert run.metric("val.loss").steps == [0, 1]
        accuracy = run.metric("val.accuracy").values
        assert min(accuracy) >= 0.0 and max(accuracy) <= 1.0
        assert run.result == pytest.approx(accuracy[-1])
        assert sorted(a for a in run.artifacts if a.startswith("val.first_input")) == [
            "val.first_input.step0.png",
            "val.first_input.step1.png",
        ]
