"""A Lightning script, recorded: python examples/lightning_classifier.py -F runs with max_epochs=3"""

import lightning
import torch

from experimentkit import Experiment
from experimentkit.integrations.lightning import ExperimentkitLogger

ex = Experiment("lit_classifier")


@ex.config
def config():
    lr = 0.1
    max_epochs = 5
    batch_size = 64


class LitClassifier(lightning.LightningModule):
    def __init__(self, lr):
        super().__init__()
        self.save_hyperparameters()  # stored as run.info["hparams"]
        self.net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train.loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x)
        self.log("val.loss", torch.nn.functional.cross_entropy(logits, y))
        self.log("val.accuracy", (logits.argmax(dim=1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader(n, seed, batch_size, shuffle=False):
    """Points in 32 dimensions, classed by which of 4 fixed directions they lie closest to."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 32, generator=generator)
    y = (x @ torch.randn(32, 4, generator=torch.Generator().manual_seed(0))).argmax(dim=1)
    dataset = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


@ex.automain
def main(_seed, lr, max_epochs, batch_size):
    lightning.seed_everything(_seed)
    logger = ExperimentkitLogger(log_checkpoints=True)  # logs into this run
    trainer = lightning.Trainer(
        max_epochs=max_epochs,
        logger=logger,
        accelerator="cpu",
        log_every_n_steps=5,
        enable_progress_bar=False,
    )
    trainer.fit(LitClassifier(lr), loader(1024, _seed, batch_size, shuffle=True), loader(256, _seed + 1, 256))
    return trainer.callback_metrics["val.accuracy"].item()
