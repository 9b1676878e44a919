"""Every example of docs/integrations.md is a file in examples/ quoted word for word, and each runs as
written (a PyTorch loop, Lightning inside an experiment and standalone, Keras, a Hugging Face
Trainer, multiprocessing workers, torchrun) and stores what it says it logs."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from experimentkit.query import open_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = (ROOT / "docs" / "integrations.md").read_text()

#: the heading of each example's section, and the file its first code block quotes
QUOTED = {
    "## A PyTorch loop": "pytorch_loop.py",
    "## PyTorch Lightning": "lightning_classifier.py",
    "## Keras 3": "keras_mlp.py",
    "## Hugging Face Transformers": "hf_trainer.py",
    "## Many processes, one run": "workers.py",
    "### torchrun": "torchrun_ddp.py",
}


def code_blocks(heading):
    """The python blocks of the section under ``heading``, up to the next heading of its level."""
    level = heading.split(" ")[0]
    section = DOCS.split(heading + "\n", 1)[1]
    section = re.split(rf"\n{level} ", section, maxsplit=1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.parametrize("heading", QUOTED)
def test_the_docs_quote_the_example_files_exactly(heading):
    assert code_blocks(heading)[0] == (EXAMPLES / QUOTED[heading]).read_text()


def run(command, cwd, **env):
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", **env),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def example(name, *arguments, cwd, **env):
    """Run ``examples/<name>`` with ``-F runs`` in ``cwd``; return the one stored run."""
    run([sys.executable, str(EXAMPLES / name), "-F", "runs", *arguments, "-l", "WARNING"], cwd, **env)
    return only_run(cwd / "runs")


def only_run(store):
    with open_store(str(store)) as opened:
        (record,) = opened.runs().all()
        return record


@pytest.mark.torch
def test_the_pytorch_loop_stores_every_batch_every_epoch_and_the_images(tmp_path):
    pytest.importorskip("torch")
    record = example("pytorch_loop.py", "with", "epochs=2", "batch_size=128", "seed=3", cwd=tmp_path)
    assert record.status == "COMPLETED"
    assert record.config["epochs"] == 2 and record.config["seed"] == 3
    # 1536 training samples in batches of 128: 12 steps per epoch, every one stored
    assert record.metric("train.loss").steps == list(range(24))
    assert record.metric("val.loss").steps == [0, 1]
    accuracy = record.metric("val.accuracy").values
    assert min(accuracy) >= 0.0 and max(accuracy) <= 1.0
    assert record.result == pytest.approx(accuracy[-1])
    assert sorted(a for a in record.artifacts if a.startswith("val.first_input")) == [
        "val.first_input.step0.png",
        "val.first_input.step1.png",
    ]


@pytest.mark.lightning
def test_the_lightning_script_logs_steps_hparams_and_the_checkpoint(tmp_path):
    pytest.importorskip("lightning")
    record = example("lightning_classifier.py", "with", "max_epochs=2", cwd=tmp_path)
    assert record.status == "COMPLETED" and record.experiment_name == "lit_classifier"
    assert record.info["hparams"] == {"lr": 0.1}
    # 1024 samples in batches of 64: 16 steps an epoch, logged every 5th (Lightning's global step)
    assert record.metric("train.loss").steps == [4, 9, 14, 19, 24, 29]
    assert record.metric("val.accuracy").steps == [15, 31]
    assert record.result == pytest.approx(record.metric("val.accuracy").values[-1])
    assert [a for a in record.artifacts if a.endswith(".ckpt")] == ["epoch=1-step=32.ckpt"]


@pytest.mark.lightning
def test_the_standalone_lightning_snippet_makes_one_completed_run(tmp_path):
    pytest.importorskip("lightning")
    snippet = code_blocks("## PyTorch Lightning")[1]
    (tmp_path / "standalone.py").write_text(snippet)
    run([sys.executable, "standalone.py"], tmp_path, PYTHONPATH=os.pathsep.join([str(EXAMPLES), str(ROOT)]))
    record = only_run(tmp_path / "runs")
    assert record.status == "COMPLETED" and record.config["lr"] == 0.1
    assert record.metric("val.accuracy").steps == [15, 31, 32]  # fit's two epochs, then validate


@pytest.mark.keras
def test_the_keras_script_logs_epochs_batches_and_the_summary(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("keras")
    record = example("keras_mlp.py", "with", "epochs=2", cwd=tmp_path, KERAS_BACKEND="torch")
    assert record.status == "COMPLETED"
    assert record.metric("val_accuracy").steps == [0, 1]
    assert record.result == pytest.approx(record.metric("val_accuracy").values[-1])
    # 768 training samples (a quarter held out) in batches of 32: 24 batches an epoch
    assert record.metric("batch.loss").steps == list(range(48))
    assert "Total params" in record.info["model_summary"]


@pytest.mark.transformers
def test_the_hugging_face_script_logs_on_log_metrics_and_the_arguments(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    record = example("hf_trainer.py", "with", "max_steps=20", cwd=tmp_path)
    assert record.status == "COMPLETED"
    assert record.metric("loss").steps == [10, 20]
    assert record.metric("eval_loss").steps[0] == 20
    assert record.result == pytest.approx(record.metric("eval_loss").values[-1])
    assert record.info["training_args"]["max_steps"] == 20
    assert record.info["model_config"]["hidden_size"] == 32


def test_the_workers_example_stores_every_process_under_its_rank(tmp_path):
    record = example("workers.py", "with", "processes=3", "steps=20", cwd=tmp_path)
    assert record.status == "COMPLETED"
    assert record.metric_names() == ["loss.rank0", "loss.rank1", "loss.rank2"]
    assert record.metric("loss.rank2").steps == list(range(20))
    assert record.metric("loss.rank2").values[1] == pytest.approx(math.exp(-1 / 12))


@pytest.mark.torch
def test_the_torchrun_example_makes_one_run_for_both_ranks(tmp_path):
    pytest.importorskip("torch")
    run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",  # rendezvous on a free local port
            str(EXAMPLES / "torchrun_ddp.py"),
            "-F",
            "runs",
            "with",
            "steps=5",
            "-l",
            "WARNING",
        ],
        tmp_path,
    )
    record = only_run(tmp_path / "runs")  # one run, not one per rank
    assert record.status == "COMPLETED" and record.experiment_name == "ddp"
    assert record.metric_names() == ["loss.rank0", "loss.rank1"]
    assert record.metric("loss.rank1").steps == list(range(5))
