"""A typical PyTorch training loop, recorded: python examples/pytorch_loop.py -F runs with epochs=3"""

import torch

from experimentkit import Experiment

ex = Experiment("mlp")


@ex.config
def config():
    lr = 0.1  # SGD learning rate
    epochs = 5
    batch_size = 64
    hidden = 64  # width of the hidden layer


def make_data(seed):
    """8x8 'images' whose class is decided by a fixed random linear teacher (no download)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2048, 64, generator=generator)
    y = (x @ torch.randn(64, 10, generator=generator)).argmax(dim=1)
    return torch.utils.data.random_split(
        torch.utils.data.TensorDataset(x, y), [1536, 512], generator=generator
    )


@ex.automain
def main(_run, _seed, lr, epochs, batch_size, hidden):
    torch.manual_seed(_seed)
    train, val = make_data(_seed)
    loader = torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True)
    val_x, val_y = val[:]
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    step = 0
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            _run.log_scalar("train.loss", loss.detach(), step)  # a tensor is fine: no .item()
            step += 1
        model.eval()
        with torch.no_grad():
            logits = model(val_x)
            val_loss = torch.nn.functional.cross_entropy(logits, val_y)
            accuracy = (logits.argmax(dim=1) == val_y).float().mean()
        _run.log_metrics({"val.loss": val_loss, "val.accuracy": accuracy}, step=epoch)
        _run.log_image("val.first_input", val_x[0].reshape(8, 8).sigmoid(), step=epoch)
    return float(accuracy)
