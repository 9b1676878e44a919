"""ExperimentkitLogger with a real ``lightning.Trainer`` on a tiny model, on CPU."""

import pytest

pytestmark = [pytest.mark.lightning, pytest.mark.slow]
torch = pytest.importorskip("torch")
lightning = pytest.importorskip("lightning")

from experimentkit import Experiment  # noqa: E402
from experimentkit.integrations.lightning import ExperimentkitLogger  # noqa: E402
from experimentkit.observers import FileStorageObserver  # noqa: E402
from experimentkit.query import open_store  # noqa: E402


class TinyModel(lightning.LightningModule):
    def __init__(self, lr=0.05, fail_at_step=None):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        if self.hparams.fail_at_step is not None and self.global_step == self.hparams.fail_at_step:
            raise RuntimeError("boom in training_step")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loaders():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=generator)
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    return (torch.utils.data.DataLoader(data, batch_size=8), torch.utils.data.DataLoader(data, batch_size=16))


def fit(logger, root, model=None, epochs=2, **trainer_kwargs):
    trainer = lightning.Trainer(
        max_epochs=epochs,
        logger=logger,
        accelerator="cpu",
        devices=1,
        default_root_dir=str(root),
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        **trainer_kwargs,
    )
    train, val = loaders()
    trainer.fit(model or TinyModel(), train, val)
    return trainer


def only_run(store):
    with open_store(str(store)) as opened:
        (run,) = opened.runs().all()
        return run


def test_inside_an_experiment_the_logger_writes_into_its_run(tmp_path):
    ex = Experiment("lit")
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))
    seen = {}

    @ex.main
    def main(_run):
        logger = ExperimentkitLogger(log_checkpoints=True)
        fit(logger, tmp_path / "work")
        seen["version"] = logger.version
        seen["run_id"] = _run._id

    ex.run()
    run = only_run(tmp_path / "runs")
    assert run.status == "COMPLETED" and seen["version"] == seen["run_id"] and run.id == "1"
    assert run.info["hparams"] == {"lr": 0.05, "fail_at_step": None}
    train_loss = run.metric("train_loss")
    assert train_loss.steps == list(range(8))  # 4 batches × 2 epochs, Lightning's global step
    assert run.metric("val_loss").steps == [3, 7]
    assert run.metric("epoch").values[-1] == 1
    (checkpoint,) = [name for name in run.artifacts if name.endswith(".ckpt")]
    with run.open_artifact(checkpoint) as f:
        state = torch.load(f, weights_only=False, map_location="cpu")
    assert state["global_step"] == 8


def test_standalone_logger_starts_and_finishes_its_own_run(tmp_path):
    logger = ExperimentkitLogger(
        "standalone", observers=[FileStorageObserver(str(tmp_path))], config={"batch_size": 8}
    )
    fit(logger, tmp_path / "work", enable_checkpointing=False)
    logger.finish()
    run = only_run(tmp_path)
    assert run.status == "COMPLETED" and run.experiment_name == "standalone"
    assert run.config["batch_size"] == 8 and run.info["hparams"]["lr"] == 0.05
    assert len(run.metric("train_loss")) == 8
    assert str(logger.version) == run.id


def test_a_failed_fit_ends_the_standalone_run_as_failed(tmp_path):
    logger = ExperimentkitLogger("failing", observers=[FileStorageObserver(str(tmp_path))])
    with pytest.raises(RuntimeError, match="boom in training_step"):
        fit(logger, tmp_path / "work", model=TinyModel(fail_at_step=2), enable_checkpointing=False)
    run = only_run(tmp_path)
    assert run.status == "FAILED"
    assert run.metric("train_loss").steps == [0, 1]


def test_all_checkpoints_are_stored_when_asked(tmp_path):
    ex = Experiment("lit")
    ex.observers.append(FileStorageObserver(str(tmp_path / "runs")))

    @ex.main
    def main():
        checkpoints = lightning.pytorch.callbacks.ModelCheckpoint(
            dirpath=str(tmp_path / "ckpt"), save_top_k=-1, filename="{epoch}"
        )
        fit(ExperimentkitLogger(log_checkpoints="all"), tmp_path / "work", epochs=3, callbacks=[checkpoints])

    ex.run()
    run = only_run(tmp_path / "runs")
    assert sorted(run.artifacts) == ["epoch=0.ckpt", "epoch=1.ckpt", "epoch=2.ckpt"]


def test_checkpoints_go_under_save_dir_name_and_run_id(tmp_path):
    logger = ExperimentkitLogger(
        "saved", observers=[FileStorageObserver(str(tmp_path / "runs"))], save_dir=tmp_path / "lit"
    )
    fit(logger, tmp_path / "work")
    logger.finish()
    run = only_run(tmp_path / "runs")
    assert logger.save_dir == str(tmp_path / "lit")
    assert [p.name for p in (tmp_path / "lit" / "saved" / run.id / "checkpoints").iterdir()] == [
        "epoch=1-step=8.ckpt"
    ]
    assert not (tmp_path / "work" / "saved").exists()


def test_ranks_other_than_zero_start_no_run_and_log_nothing(tmp_path, monkeypatch):
    """What Lightning calls on rank 1 of a DDP job: the logger neither starts a run nor logs."""
    from lightning.pytorch.utilities import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = ExperimentkitLogger("rank1", observers=[FileStorageObserver(str(tmp_path))])
    logger.log_hyperparams({"lr": 0.1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    logger.finish()
    assert logger.version is None
    assert list(tmp_path.iterdir()) == []  # no run was started
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    logger.log_metrics({"loss": 2.0}, step=1)
    logger.finish()
    assert only_run(tmp_path).metric("loss").values == [2.0]
