"""ExperimentkitCallback with a real Hugging Face ``Trainer`` and a tiny random BERT (no downloads)."""

import os

import pytest

pytestmark = [pytest.mark.transformers, pytest.mark.slow]
os.environ["HF_HUB_OFFLINE"] = "1"
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # Trainer needs it on torch

from experimentkit import Experiment  # noqa: E402
from experimentkit.integrations.transformers import ExperimentkitCallback, register  # noqa: E402
from experimentkit.observers import FileStorageObserver  # noqa: E402
from experimentkit.query import open_store  # noqa: E402


class Pairs(torch.utils.data.Dataset):
    def __init__(self, n=16):
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, 50, (n, 6), generator=generator)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        ids = self.ids[i]
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": int(ids[0] > 25)}


def train(tmp_path, callbacks=(), report_to="none"):
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        num_labels=2,
    )
    model = transformers.BertForSequenceClassification(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=6,
        per_device_train_batch_size=4,
        logging_steps=2,
        eval_strategy="steps",
        eval_steps=3,
        save_strategy="no",
        report_to=report_to,
        use_cpu=True,
        disable_tqdm=True,
        learning_rate=0.01,
        seed=0,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=Pairs(), eval_dataset=Pairs(8), callbacks=list(callbacks)
    )
    trainer.train()
    return trainer


def only_run(store):
    with open_store(str(store)) as opened:
        (run,) = opened.runs().all()
        return run


def test_on_log_metrics_and_training_arguments_go_into_the_active_run(tmp_path):
    ex = Experiment("hf")
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))

    @ex.main
    def main():
        train(tmp_path, callbacks=[ExperimentkitCallback()])

    ex.run()
    run = only_run(tmp_path / "runs")
    assert run.metric("loss").steps == [2, 4, 6]
    assert run.metric("eval_loss").steps == [3, 6]
    assert len(run.metric("learning_rate")) == 3
    assert run.info["training_args"]["learning_rate"] == 0.01
    assert run.info["training_args"]["max_steps"] == 6
    assert run.info["model_config"]["hidden_size"] == 8


def test_standalone_callback_runs_with_training_arguments_as_config(tmp_path):
    callback = ExperimentkitCallback(name="hf_alone", observers=[FileStorageObserver(str(tmp_path))])
    train(tmp_path, callbacks=[callback])
    run = only_run(tmp_path)
    assert run.status == "COMPLETED" and run.experiment_name == "hf_alone"
    assert run.config["training_args"]["per_device_train_batch_size"] == 4
    assert "train_loss" in run.metric_names()  # the summary logged at the end of training


def test_report_to_experimentkit_after_register(tmp_path):
    register()
    ex = Experiment("hf")
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))

    @ex.main
    def main():
        trainer = train(tmp_path, report_to="experimentkit")
        assert any(isinstance(c, ExperimentkitCallback) for c in trainer.callback_handler.callbacks)

    ex.run()
    assert only_run(tmp_path / "runs").metric("loss").steps == [2, 4, 6]
