"""A run that logs metrics and saves an artifact, then fails: the record keeps what was logged and
says FAILED."""

from sacred import Experiment

ex = Experiment("fails_late")


@ex.config
def config():
    steps = 4
    fail_at = 3


class DivergedError(RuntimeError):
    pass


@ex.automain
def main(steps, fail_at, _run):
    with open("notes.txt", "w") as f:
        f.write("started\n")
    _run.add_artifact("notes.txt")
    for step in range(steps):
        _run.log_scalar("loss", 10.0**step, step)
        if step == fail_at:
            raise DivergedError(f"loss diverged at step {step}")
    return "never"
