"""Keras 3, recorded: python examples/keras_mlp.py -F runs with epochs=3 (any KERAS_BACKEND)"""

import keras
import numpy as np

from experimentkit import Experiment
from experimentkit.integrations.keras import ExperimentkitCallback

ex = Experiment("keras_mlp")


@ex.config
def config():
    epochs = 10
    batch_size = 32
    hidden = 64


@ex.automain
def main(_seed, epochs, batch_size, hidden):
    keras.utils.set_random_seed(_seed)
    rng = np.random.default_rng(_seed)
    x = rng.normal(size=(1024, 20)).astype("float32")
    y = (x @ rng.normal(size=(20, 5))).argmax(axis=1)  # 5 classes from a random linear teacher
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=0.25,
        verbose=0,
        callbacks=[ExperimentkitCallback()],  # logs into this run
    )
    return history.history["val_accuracy"][-1]
