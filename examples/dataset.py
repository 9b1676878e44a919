"""The data ingredient: a reproducible synthetic two-class data set."""

from experimentkit import Ingredient

data_ingredient = Ingredient("dataset")


@data_ingredient.config
def config():
    n_samples = 400  # total number of samples (train + validation)
    n_features = 5
    noise = 0.5  # standard deviation of the label noise
    val_fraction = 0.25


@data_ingredient.named_config
def tiny():
    """A very small data set."""
    n_samples = 60


@data_ingredient.capture
def load_data(n_samples, n_features, noise, val_fraction, _rnd):
    """Draw the data with the ingredient's own random stream (same seed, same data)."""
    true_weights = _rnd.normal(size=n_features)
    x = _rnd.normal(size=(n_samples, n_features))
    logits = x @ true_weights + noise * _rnd.normal(size=n_samples)
    y = (logits > 0).astype(float)
    n_val = int(n_samples * val_fraction)
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]
