"""A typical small Sacred training script: a dataset ingredient, named configs, captured helpers,
metrics per epoch, a saved model as an artifact, ``_rnd`` draws and a returned score."""

import json
import os

import numpy as np
from sacred import Experiment, Ingredient

data = Ingredient("dataset")


@data.config
def data_config():
    n_samples = 64  # how many points to draw
    noise = 0.1
    split = {"train": 0.75, "val": 0.25}


@data.capture
def make_data(n_samples, noise, _rnd):
    x = _rnd.uniform(-1, 1, size=(n_samples, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(float) + noise * _rnd.standard_normal(n_samples)
    return x, y


ex = Experiment("train_mlp", ingredients=[data])


@ex.config
def config():
    hidden = 8
    lr = 0.05
    epochs = 5
    optimizer = {"name": "sgd", "momentum": 0.0}
    run_name = f"mlp-h{hidden}"


@ex.named_config
def small():
    hidden = 2
    epochs = 3


@ex.named_config
def large():
    hidden = 32
    dataset = {"n_samples": 128}


@ex.capture
def build(hidden, _seed):
    rng = np.random.RandomState(_seed)
    return rng.standard_normal((2, hidden)), rng.standard_normal(hidden)


@ex.capture(prefix="optimizer")
def describe_optimizer(name, momentum):
    return f"{name}(momentum={momentum})"


@ex.automain
def main(lr, epochs, run_name, _run, _log):
    x, y = make_data()
    w1, w2 = build()
    _log.info("training %s with %s", run_name, describe_optimizer())
    best = None
    for epoch in range(epochs):
        h = np.tanh(x @ w1)
        pred = h @ w2
        err = pred - y
        loss = float(np.mean(err**2))
        w2 -= lr * h.T @ err / len(y)
        _run.log_scalar("train.loss", loss, epoch)
        _run.log_scalar("lr", lr * 0.9**epoch)
        best = loss if best is None else min(best, loss)
    _run.info["best_loss"] = round(best, 10)
    os.makedirs("out", exist_ok=True)
    with open("out/model.json", "w") as f:
        json.dump({"w2": [round(float(v), 10) for v in w2]}, f)
    _run.add_artifact("out/model.json", name="model.json")
    return round(best, 10)
