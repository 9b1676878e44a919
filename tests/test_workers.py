"""Many processes, one run: worker processes log through a picklable ``run.handle()``."""

import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import pytest

from experimentkit import Experiment
from experimentkit.observers import FileStorageObserver
from experimentkit.query import open_store
from tests.device_support import FakeCudaTensor


def run_experiment(main, store):
    ex = Experiment("workers")
    ex.observers.append(FileStorageObserver(store))
    ex.main(main)
    return ex.run()


def metrics_of_only_run(store):
    with open_store(store) as opened:
        (run,) = opened.runs().all()
        return {name: run.metric(name) for name in run.metric_names()}


# ---- worker functions (module level so that spawn can pickle them) -------------------------------
def log_five(handle, rank):
    for i in range(1, 6):
        handle.log_scalar("loss", i * 10 + rank, rank=rank)


def score_item(args):
    handle, item = args
    handle.log_scalar("score", item * item, step=item)
    return item


def ddp_worker(rank, world_size, port, handle):
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        for step in range(3):
            value = torch.tensor(float(rank + step))
            handle.log_scalar("local", value)  # the rank comes from torch.distributed
            dist.all_reduce(value)
            handle.log_scalar("reduced", value, step=step)
    finally:
        dist.destroy_process_group()


LOOP_THREAD: list = [None]
IN_LOOP = [False]
READS: list = []  # per read of a device tensor: was it on the loop thread during the loop


def _note_read() -> None:
    READS.append(IN_LOOP[0] and threading.get_ident() == LOOP_THREAD[0])


def log_device_tensors(handle, report):
    """Log tensors changed in place after each call, and plain numbers between them; exit without
    closing the handle (the exit hooks must write what is deferred)."""
    LOOP_THREAD[0] = threading.get_ident()
    IN_LOOP[0] = True
    loss = FakeCudaTensor(0.0, _note_read)
    for i in range(1, 6):
        loss.value = float(i)
        handle.log_scalar("loss", loss, rank=1)
        handle.log_scalar("lr", 0.1 * i, rank=1)
    IN_LOOP[0] = False
    with open(report, "w") as f:
        f.write(str(sum(READS)))  # reads on the loop thread during the loop


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- tests ------------------------------------------------------------------------------------------
def test_handle_pickles_small_and_logs_from_the_owner_directly(tmp_path):
    def main(_run):
        handle = _run.handle()
        copy = pickle.loads(pickle.dumps(handle))
        assert len(pickle.dumps(handle)) < 400 and copy.run_id == _run._id
        copy.log_scalar("loss", 1.5, rank=0)
        handle.log_metrics({"a": 1, "b": 2}, step=4)

    run_experiment(main, str(tmp_path))
    metrics = metrics_of_only_run(str(tmp_path))
    assert metrics["loss.rank0"].values == [1.5]
    assert metrics["a"].steps == [4] and metrics["b"].values == [2]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_processes_log_into_the_parents_run_tagged_with_their_rank(tmp_path, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    context = multiprocessing.get_context(method)

    def main(_run):
        handle = _run.handle()
        workers = [context.Process(target=log_five, args=(handle, rank)) for rank in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert [w.exitcode for w in workers] == [0, 0]

    run_experiment(main, str(tmp_path))
    metrics = metrics_of_only_run(str(tmp_path))
    assert sorted(metrics) == ["loss.rank0", "loss.rank1"]
    assert metrics["loss.rank0"].values == [10, 20, 30, 40, 50]
    assert metrics["loss.rank1"].values == [11, 21, 31, 41, 51]
    assert metrics["loss.rank1"].steps == [0, 1, 2, 3, 4]


def test_rank_zero_only_handles_drop_the_other_ranks(tmp_path):
    def main(_run):
        handle = _run.handle(ranks="zero")
        for rank in range(3):
            log_five(handle, rank)  # the owner itself, but with explicit ranks

    run_experiment(main, str(tmp_path))
    metrics = metrics_of_only_run(str(tmp_path))
    assert list(metrics) == ["loss"] and metrics["loss"].values == [10, 20, 30, 40, 50]


def test_a_pool_logs_into_one_series_and_the_spool_is_removed(tmp_path):
    spools = []

    def main(_run):
        handle = _run.handle()
        spools.append(handle.spool_dir)
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            assert sorted(pool.map(score_item, [(handle, i) for i in range(6)])) == list(range(6))
        assert os.listdir(handle.spool_dir)  # the workers' files, read at the final flush

    run_experiment(main, str(tmp_path))
    series = metrics_of_only_run(str(tmp_path))["score"]
    assert sorted(zip(series.steps, series.values)) == [(i, i * i) for i in range(6)]
    assert not os.path.exists(spools[0])


def test_bad_rank_mode_is_refused(tmp_path):
    def main(_run):
        _run.handle(ranks="first")

    with pytest.raises(ValueError, match="ranks must be one of"):
        run_experiment(main, str(tmp_path))


@pytest.mark.torch
@pytest.mark.slow
def test_torch_multiprocessing_spawn_ranks_log_through_gloo(tmp_path):
    pytest.importorskip("torch")
    import torch.multiprocessing as mp

    def main(_run):
        mp.spawn(ddp_worker, args=(2, free_port(), _run.handle()), nprocs=2, join=True)

    run_experiment(main, str(tmp_path))
    metrics = metrics_of_only_run(str(tmp_path))
    assert sorted(metrics) == ["local.rank0", "local.rank1", "reduced.rank0", "reduced.rank1"]
    assert metrics["local.rank1"].values == [1.0, 2.0, 3.0]
    assert metrics["reduced.rank0"].values == [1.0, 3.0, 5.0] == metrics["reduced.rank1"].values


TORCHRUN_SCRIPT = """
import torch
import torch.distributed as dist
from experimentkit import Experiment
from experimentkit.integrations.torch import rank_zero_observed, share_run
from experimentkit.observers import FileStorageObserver

ex = rank_zero_observed(Experiment("ddp"))
ex.observers.append(FileStorageObserver({store!r}))

@ex.automain
def main(_run):
    dist.init_process_group("gloo")
    run = share_run(_run, ranks={ranks!r})
    rank = dist.get_rank()
    for step in range(4):
        loss = torch.tensor(1.0 / (step + 1 + rank))
        run.log_scalar("loss", loss)
    dist.barrier()  # rank 0's run ends after every rank has logged
    dist.destroy_process_group()
    return rank
"""


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("ranks", ["all", "zero"])
def test_torchrun_two_ranks_make_one_run(tmp_path, ranks):
    pytest.importorskip("torch")
    script = tmp_path / "train.py"
    store = tmp_path / "runs"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT.format(store=str(store), ranks=ranks)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={free_port()}",
            str(script),
            "-l",
            "WARNING",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = metrics_of_only_run(str(store))  # one run, not one per rank
    if ranks == "all":
        assert sorted(metrics) == ["loss.rank0", "loss.rank1"]
        assert metrics["loss.rank1"].values == pytest.approx([1 / 2, 1 / 3, 1 / 4, 1 / 5])
    else:
        assert sorted(metrics) == ["loss"]
        assert metrics["loss"].values == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_worker_does_not_read_accelerator_tensors_in_its_loop_and_loses_none_at_exit(tmp_path, method):
    """On a worker rank, reading a GPU tensor at each log_scalar would stall the loop: its copy is
    read later by a thread of the worker, or at the worker's exit, and holds the value at the call."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    context = multiprocessing.get_context(method)
    report = tmp_path / "reads-in-loop"

    def main(_run):
        worker = context.Process(target=log_device_tensors, args=(_run.handle(), str(report)))
        worker.start()
        worker.join()
        assert worker.exitcode == 0

    run_experiment(main, str(tmp_path / "runs"))
    assert report.read_text() == "0"
    metrics = metrics_of_only_run(str(tmp_path / "runs"))
    assert metrics["loss.rank1"].values == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert metrics["loss.rank1"].steps == [0, 1, 2, 3, 4]
    assert metrics["lr.rank1"].values == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
