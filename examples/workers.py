"""Worker processes logging into one run: python examples/workers.py -F runs with processes=2"""

import math
import multiprocessing

from experimentkit import Experiment

ex = Experiment("workers")


@ex.config
def config():
    processes = 4
    steps = 100


def work(handle, rank, steps):
    for step in range(steps):
        loss = math.exp(-step / (10 + rank))  # stands for a worker's real work
        handle.log_scalar("loss", loss, step, rank=rank)  # stored as loss.rank<r>


@ex.automain
def main(_run, processes, steps):
    handle = _run.handle()  # picklable; ranks="zero" keeps rank 0's points only, as "loss"
    workers = [multiprocessing.Process(target=work, args=(handle, r, steps)) for r in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()  # join before main returns: later points are not stored
