"""Logistic regression on a synthetic two-class data set: a small but complete experiment.

Run it:            python examples/train.py -F runs
Change the config: python examples/train.py -F runs with lr=0.05 epochs=30
Named configs:     python examples/train.py -F runs with quick dataset.tiny
"""

import os
import tempfile

import numpy as np
from dataset import data_ingredient, load_data

from experimentkit import Experiment

ex = Experiment("logreg", ingredients=[data_ingredient])
ex.metric_goal("val.accuracy", "max")  # also implied by the name; recorded with every run


@ex.config
def config():
    lr = 0.1  # learning rate of plain gradient descent
    # number of passes over the training data
    epochs = 20
    l2 = 1e-3  # weight decay
    optimizer = {"name": "gd", "momentum": 0.0}


@ex.named_config
def quick():
    """Few epochs, for smoke tests."""
    epochs = 3


@ex.capture(prefix="optimizer")
def make_step(name, momentum):
    """A gradient step with optional momentum; the optimizer's sub-config fills the arguments."""
    velocity = {"v": 0.0}

    def step(weights, grad, lr):
        velocity["v"] = momentum * velocity["v"] + grad
        return weights - lr * velocity["v"]

    return step


@ex.capture
def train(x, y, lr, epochs, l2, _run, _log):
    weights = np.zeros(x.shape[1])
    step = make_step()
    for epoch in range(epochs):
        prob = 1.0 / (1.0 + np.exp(-x @ weights))
        loss = -np.mean(y * np.log(prob + 1e-12) + (1 - y) * np.log(1 - prob + 1e-12))
        grad = x.T @ (prob - y) / len(y) + l2 * weights
        weights = step(weights, grad, lr)
        _run.log_scalar("train.loss", float(loss), epoch)
    _log.info("trained %d epochs, final loss %.4f", epochs, loss)
    return weights


@ex.automain
def main(_run):
    x_train, y_train, x_val, y_val = load_data()
    weights = train(x_train, y_train)
    prob = 1.0 / (1.0 + np.exp(-x_val @ weights))
    correct = (prob > 0.5) == (y_val > 0.5)
    accuracy = float(np.mean(correct))
    val_loss = -np.mean(y_val * np.log(prob + 1e-12) + (1 - y_val) * np.log(1 - prob + 1e-12))
    _run.log_scalar("val.accuracy", accuracy)
    _run.log_scalar("val.loss", float(val_loss), goal="min")
    # confidence: the probability given to the predicted class (0.5 = a coin toss)
    _run.log_table(
        "val_predictions",
        [
            {
                "index": i,
                "label": int(y_val[i]),
                "prob": float(prob[i]),
                "confidence": float(max(prob[i], 1 - prob[i])),
                "correct": bool(correct[i]),
            }
            for i in range(len(y_val))
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "weights.npy")
        np.save(path, weights)
        _run.add_artifact(path, metadata={"shape": list(weights.shape)})
    print(f"validation accuracy: {accuracy:.3f}")
    return accuracy
