"""ExperimentkitCallback with a real Keras 3 ``fit`` (torch backend, CPU)."""

import os

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]
os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip(os.environ["KERAS_BACKEND"])  # torch, jax or tensorflow
keras = pytest.importorskip("keras")

from experimentkit import Experiment  # noqa: E402
from experimentkit.integrations.keras import ExperimentkitCallback  # noqa: E402
from experimentkit.observers import FileStorageObserver  # noqa: E402
from experimentkit.query import open_store  # noqa: E402


def fit(callback, epochs=2):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    return model.fit(
        x, y, batch_size=8, epochs=epochs, validation_data=(x, y), verbose=0, callbacks=[callback]
    )


def only_run(store):
    with open_store(str(store)) as opened:
        (run,) = opened.runs().all()
        return run


def test_epoch_and_batch_metrics_and_the_summary_go_into_the_active_run(tmp_path):
    ex = Experiment("keras_fit")
    ex.observers.append(FileStorageObserver(str(tmp_path)))
    histories = []

    @ex.main
    def main():
        histories.append(fit(ExperimentkitCallback()).history)

    ex.run()
    run = only_run(tmp_path)
    history = histories[0]
    assert run.metric("loss").steps == [0, 1]
    assert run.metric("loss").values == pytest.approx(history["loss"])
    assert run.metric("val_accuracy").values == pytest.approx(history["val_accuracy"])
    assert run.metric("batch.loss").steps == list(range(8))  # 4 batches × 2 epochs
    assert "dense" in run.info["model_summary"] and "Total params" in run.info["model_summary"]
    assert run.info["keras"]["params"]["epochs"] == 2
    assert run.info["keras"]["optimizer"]["learning_rate"] == pytest.approx(0.1)


def test_standalone_callback_makes_one_completed_run_per_fit(tmp_path):
    callback = ExperimentkitCallback(
        name="standalone", observers=[FileStorageObserver(str(tmp_path))], log_batches=False
    )
    fit(callback, epochs=3)
    fit(callback, epochs=1)
    with open_store(str(tmp_path)) as store:
        runs = store.runs().all()
        assert [r.status for r in runs] == ["COMPLETED", "COMPLETED"]
        assert [len(r.metric("loss")) for r in runs] == [3, 1]
        assert runs[0].metric_names() == ["accuracy", "loss", "val_accuracy", "val_loss"]
