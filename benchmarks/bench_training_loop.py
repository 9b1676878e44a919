"""Cost of tracking a real PyTorch training loop: none, experimentkit, TensorBoard, MLflow, Lightning.

    python benchmarks/bench_training_loop.py [--quick] [--repeat 3] [--epochs 20]
                                             [--no-lightning | --only-lightning] [--kinds K,...]
                                             [--pin CPU] [--callgrind]

A tiny MLP (64-64-10) on scikit-learn's digits (1,797 images, shipped with scikit-learn), CPU, one
thread, batches of 32 (47 per epoch over 1,500 training images): one scalar per batch (the
training loss, passed as the tensor where the tracker accepts one, else ``loss.item()``) and three
per epoch (validation loss and accuracy, learning rate).  Every measurement runs in a fresh
interpreter (this script with ``--child``), trackers interleaved within each repeat; medians.

``loop`` is the training loop alone: wall clock, process CPU time (which also counts the
tracker's own threads and is less disturbed by other processes on a busy machine), the loop
thread's own CPU time and how many times it blocked (voluntary context switches: waiting for the
GIL, a lock or I/O; 0 means any wall clock beyond its CPU time was spent waiting for a core that
other processes held), and the time spent inside the tracking calls (measured around each call).
``total`` adds the tracker's import, setup and final flush (from before the tracker is imported
until its data is stored).  All are compared with the same loop without tracking.

With Lightning installed, the same model is also trained by ``lightning.Trainer`` with no logger,
``ExperimentkitLogger``, ``TensorBoardLogger`` and ``MLFlowLogger`` (logging every step).

Every child runs on one CPU (``--pin``; the tracker's threads share it with the loop), trackers in
a shuffled order within each repeat; besides the medians, each tracker's overhead is taken per
repeat against the untracked run of the same repeat and reported as the median of those paired
ratios with a 95% bootstrap interval, so a <2% claim shows whether the noise allows it.
``--callgrind`` runs each child once under valgrind instead and counts the instructions executed
between two marker calls around the loop, per thread (the loop thread; the tracker's other
threads), deterministic where wall clocks on a shared machine are not.  Only the loop is
instrumented (a small C library, compiled with gcc against valgrind's headers, turns callgrind's
instrumentation on at the first marker and off at the second), so imports and setup run several
times faster than under full instrumentation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import have, run_script_child, table

BATCH = 32


# ---- children --------------------------------------------------------------------------------------
def _blocked() -> int:
    """How many times this thread has blocked so far (voluntary context switches; Linux)."""
    return resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)).ru_nvcsw


def _data() -> tuple:
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    split = 1500
    return x[:split], y[:split], x[split:], y[split:]


def _model() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


class _Tracker:
    """One tracker's three moments: start (imports, setup), log, finish (flush)."""

    def __init__(self, kind: str, store: str):
        self.kind = kind
        self.store = store
        self.finish_run: Any = None

    def start(self) -> Any:
        """Return ``(log_batch(step, loss_tensor), log_epoch(epoch, dict))``."""
        kind = self.kind
        if kind == "none":
            return (lambda step, loss: None), (lambda epoch, values: None)
        if kind.startswith("experimentkit"):
            return self._start_experimentkit()
        if kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(self.store)
            self.finish_run = writer.close

            def log_epoch(epoch: int, values: dict) -> None:
                for name, value in values.items():
                    writer.add_scalar(name, value, epoch)

            return (lambda step, loss: writer.add_scalar("loss", loss, step)), log_epoch
        if kind.startswith("mlflow"):
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
            import mlflow

            mlflow.set_tracking_uri("file:" + self.store)
            mlflow.start_run()
            synchronous = kind == "mlflow"

            def finish() -> None:
                if not synchronous:
                    mlflow.flush_async_logging()
                mlflow.end_run()

            self.finish_run = finish
            return (
                (
                    lambda step, loss: mlflow.log_metric(
                        "loss", loss.item(), step=step, synchronous=synchronous
                    )
                ),
                (lambda epoch, values: mlflow.log_metrics(values, step=epoch, synchronous=synchronous)),
            )
        raise ValueError(kind)

    def _start_experimentkit(self) -> Any:
        """A run whose main function is the rest of the loop: run on a thread we hand the loop to."""
        import threading

        from experimentkit import Experiment
        from experimentkit.observers import FileStorageObserver, SqlObserver

        ex = Experiment("bench_training_loop")
        if self.kind == "experimentkit-sqlite":
            ex.observers.append(SqlObserver("sqlite:///" + self.store + ".db"))
        else:
            ex.observers.append(FileStorageObserver(self.store))
        ready, done, box = threading.Event(), threading.Event(), {}

        @ex.main
        def main(_run: Any) -> None:
            box["run"] = _run
            ready.set()
            done.wait()

        thread = threading.Thread(target=lambda: ex.run(options={"--loglevel": "ERROR", "--capture": "no"}))
        thread.start()
        ready.wait()
        run = box["run"]

        def finish() -> None:
            done.set()
            thread.join()

        self.finish_run = finish
        return (
            (lambda step, loss: run.log_scalar("loss", loss, step)),
            (lambda epoch, values: run.log_metrics(values, step=epoch)),
        )

    def finish(self) -> None:
        if self.finish_run is not None:
            self.finish_run()


_TOGGLE: Any = None  # under --callgrind: the C library that turns callgrind's instrumentation on/off
_MARKS = [0]

_TOGGLE_SOURCE = """
#include <valgrind/callgrind.h>
void instrumentation_on(void) { CALLGRIND_START_INSTRUMENTATION; }
void instrumentation_off(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _mark() -> None:
    """Loop start/end marker for ``--callgrind``: a C function nothing else here calls, which
    callgrind is told to dump its counters before (``--dump-before=sys_getswitchinterval``).

    Instrumentation is on only between the two markers (imports and setup run uninstrumented,
    several times faster on a loaded machine), so every thread is counted during the loop only."""
    if _TOGGLE is not None and _MARKS[0] == 0:
        _TOGGLE.instrumentation_on()
    sys.getswitchinterval()
    if _TOGGLE is not None and _MARKS[0] == 1:
        _TOGGLE.instrumentation_off()
    _MARKS[0] += 1


def child_loop(kind: str, epochs: int, store: str) -> dict:
    import torch

    torch.set_num_threads(1)
    x, y, vx, vy = _data()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.functional.cross_entropy
    begin = time.perf_counter()
    tracker = _Tracker(kind, store)
    log_batch, log_epoch = tracker.start()
    clock = time.perf_counter
    in_calls = 0.0
    _mark()
    blocked_start, thread_start = _blocked(), time.thread_time()
    loop_start, cpu_start = clock(), time.process_time()
    step = 0
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(x), BATCH):
            batch = order[i : i + BATCH]
            loss = loss_fn(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            called = clock()
            log_batch(step, loss.detach())
            in_calls += clock() - called
            step += 1
        with torch.no_grad():
            logits = model(vx)
            values = {
                "val_loss": loss_fn(logits, vy).item(),
                "val_accuracy": (logits.argmax(1) == vy).float().mean().item(),
                "lr": optimizer.param_groups[0]["lr"],
            }
        called = clock()
        log_epoch(epoch, values)
        in_calls += clock() - called
    loop_end, cpu_end = clock(), time.process_time()
    thread_end, blocked_end = time.thread_time(), _blocked()
    _mark()
    tracker.finish()
    end = time.perf_counter()
    return {
        "loop": loop_end - loop_start,
        "loop_cpu": cpu_end - cpu_start,
        "loop_thread_cpu": thread_end - thread_start,
        "loop_blocked": blocked_end - blocked_start,
        "in_calls": in_calls,
        "total": end - begin,
        "steps": step,
        "accuracy": values["val_accuracy"],
    }


def child_lightning(kind: str, epochs: int, store: str) -> dict:
    import torch

    torch.set_num_threads(1)
    import lightning

    x, y, vx, vy = _data()

    class Module(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = _model()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("loss", loss, on_step=True, on_epoch=False)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            logits = self.net(batch[0])
            self.log("val_loss", torch.nn.functional.cross_entropy(logits, batch[1]))
            self.log("val_accuracy", (logits.argmax(1) == batch[1]).float().mean())

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    train = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(vx, vy), batch_size=512)
    begin = time.perf_counter()
    finish = None
    if kind == "lightning":
        logger: Any = False
    elif kind == "lightning-experimentkit":
        from experimentkit.integrations.lightning import ExperimentkitLogger
        from experimentkit.observers import FileStorageObserver

        logger = ExperimentkitLogger("bench", observers=[FileStorageObserver(store)])
        finish = logger.finish
    elif kind == "lightning-tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        logger = TensorBoardLogger(store)
    elif kind == "lightning-mlflow":
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        from lightning.pytorch.loggers import MLFlowLogger

        logger = MLFlowLogger(tracking_uri="file:" + store)
    else:
        raise ValueError(kind)
    trainer = lightning.Trainer(
        max_epochs=epochs,
        logger=logger,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        log_every_n_steps=1,
        default_root_dir=store,
    )
    if logger:
        logger.experiment  # noqa: B018 - set the tracker up before the loop, as in child_loop
    module = Module()
    _mark()
    blocked_start, thread_start = _blocked(), time.thread_time()
    loop_start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit(module, train, val)
    loop_end, cpu_end = time.perf_counter(), time.process_time()
    thread_end, blocked_end = time.thread_time(), _blocked()
    _mark()
    if finish is not None:
        finish()
    end = time.perf_counter()
    return {
        "loop": loop_end - loop_start,
        "loop_cpu": cpu_end - cpu_start,
        "loop_thread_cpu": thread_end - thread_start,
        "loop_blocked": blocked_end - blocked_start,
        "total": end - begin,
        "steps": trainer.global_step,
    }


def child_main(spec: dict, out: str) -> None:
    global _TOGGLE
    if spec.get("toggle"):
        import ctypes

        _TOGGLE = ctypes.CDLL(spec["toggle"])
    if spec.get("cpu") is not None:  # pinned: the loop and the tracker's threads share one core
        os.sched_setaffinity(0, {spec["cpu"]})
    function = child_lightning if spec["kind"].startswith("lightning") else child_loop
    result = function(spec["kind"], spec["epochs"], spec["store"])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)


# ---- parent ----------------------------------------------------------------------------------------
def _report(title: str, samples: dict, base: str) -> None:
    def median(runs: list, key: str) -> float:
        return statistics.median(s[key] for s in runs)

    loop0, cpu0 = median(samples[base], "loop"), median(samples[base], "loop_cpu")
    total0, thread0 = median(samples[base], "total"), median(samples[base], "loop_thread_cpu")
    rows = []
    for kind, runs in samples.items():
        loop, cpu, total = median(runs, "loop"), median(runs, "loop_cpu"), median(runs, "total")
        thread = median(runs, "loop_thread_cpu")
        calls = (
            f"{median(runs, 'in_calls') * 1e3:.1f} ms ({median(runs, 'in_calls') / cpu0:.2%})"
            if "in_calls" in runs[0]
            else "–"
        )
        rows.append(
            [
                kind,
                runs[0]["steps"],
                f"{loop:.3f} s",
                f"{(loop / loop0 - 1):+.1%}",
                f"{thread:.3f} s ({thread / thread0 - 1:+.1%})",
                max(s["loop_blocked"] for s in runs),
                f"{cpu:.3f} s",
                f"{(cpu / cpu0 - 1):+.1%}",
                calls,
                f"{total:.3f} s",
                f"{total / total0:.2f}×",
            ]
        )
    print(f"## {title}\n")
    print(
        table(
            rows,
            [
                "tracker",
                "steps",
                "loop (wall)",
                "wall overhead",
                "loop thread CPU (overhead)",
                "loop thread blocked (most)",
                "loop (process CPU)",
                "CPU overhead",
                "time inside the tracking calls (share of the loop)",
                "total (wall)",
                "total ratio",
            ],
        )
    )
    print()


def _bootstrap(values: list, draws: int = 2000) -> tuple:
    """95% bootstrap interval of the median of ``values`` (resampling the repeats)."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def _paired_report(title: str, samples: dict, base: str, keys: tuple = ("loop", "loop_thread_cpu")) -> None:
    """Overhead per repeat against the untracked run of the same repeat (adjacent in time, so they
    share the machine's load), then the median of those ratios with its bootstrap interval."""
    rows = []
    for kind, runs in samples.items():
        if kind == base:
            continue
        row: list = [kind, len(runs)]
        for key in keys:
            ratios = [run[key] / plain[key] - 1 for run, plain in zip(runs, samples[base])]
            low, high = _bootstrap(ratios)
            row.append(f"{statistics.median(ratios):+.2%} [{low:+.2%}, {high:+.2%}]")
        if "in_calls" in runs[0]:
            shares = [run["in_calls"] / plain["loop_thread_cpu"] for run, plain in zip(runs, samples[base])]
            low, high = _bootstrap(shares)
            row.append(f"{statistics.median(shares):.2%} [{low:.2%}, {high:.2%}]")
        else:
            row.append("–")
        rows.append(row)
    print(f"## {title}: paired overhead, median [95% bootstrap interval]\n")
    headers = [
        "tracker",
        "repeats",
        "loop wall clock",
        "loop thread CPU",
        "inside the tracking calls / loop CPU",
    ]
    print(table(rows, headers[: 2 + len(keys)] + headers[-1:]))
    print()


# ---- instruction counts (valgrind's callgrind) -------------------------------------------------
def _toggle_library(workdir: str) -> str:
    """Compile the two callgrind client requests into a shared library (needs gcc and valgrind's
    headers) for the children to load with ctypes."""
    source, library = os.path.join(workdir, "toggle.c"), os.path.join(workdir, "libtoggle.so")
    with open(source, "w", encoding="utf-8") as f:
        f.write(_TOGGLE_SOURCE)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", library, source], check=True)
    return library


def _callgrind_child(spec: dict, workdir: str) -> dict:
    """Run one child under callgrind, instrumented between the two loop markers only; return
    instruction counts.

    A marker dumps only the thread that calls it, so the loop thread's counts are in ``loop_main``
    and the tracker's other threads (run, heartbeat, writer threads) are summed in ``others``;
    both cover the loop alone (instrumentation is off before the first marker and after the
    second)."""
    prefix = os.path.join(workdir, spec["kind"])
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    command = [
        "valgrind",
        "--tool=callgrind",
        "--dump-before=sys_getswitchinterval",
        "--separate-threads=yes",
        "--instr-atstart=no",
        f"--callgrind-out-file={prefix}.%p",
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        json.dumps(spec),
        out,
    ]
    done = subprocess.run(command, capture_output=True, timeout=7200)
    os.unlink(out)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind child {spec} failed:\n{done.stderr.decode()[-3000:]}")
    counts: dict = {}
    for name in os.listdir(workdir):
        if not name.startswith(spec["kind"] + "."):
            continue
        fields = {}
        with open(os.path.join(workdir, name), encoding="utf-8", errors="replace") as f:
            for line in f:  # "totals:" (this file's cost) is the last line; "summary:" is not
                if line.startswith(("part:", "thread:", "totals:")):  # reliable once instrumentation
                    key, _, value = line.partition(":")  # was switched off (it read 0 or wrapped)
                    fields[key] = int(value)
        os.unlink(os.path.join(workdir, name))
        if "part" not in fields:  # the process's base file, holding no counts of its own
            continue
        if fields["part"] not in (1, 2, 3):
            raise RuntimeError(f"{spec['kind']}: a dump beyond the two loop markers ({name})")
        if fields["thread"] != 1:
            counts["others"] = counts.get("others", 0) + fields["totals"]
        elif fields["part"] == 2:  # the loop thread between the markers
            counts["loop_main"] = fields["totals"]
    print(f"{spec['kind']}: {counts}", file=sys.stderr, flush=True)
    return counts


def _callgrind_report(counts: dict, base: str, batches: int) -> None:
    plain = counts[base]["loop_main"]
    rows = []
    for kind, c in counts.items():
        loop = c["loop_main"]
        rows.append(
            [
                kind,
                f"{loop / 1e6:,.1f} M",
                f"{loop / plain - 1:+.2%}",
                f"{(loop - plain) / batches:,.0f}",
                f"{c.get('others', 0) / 1e6:,.1f} M",
                f"{(loop + c.get('others', 0)) / (plain + counts[base].get('others', 0)) - 1:+.2%}",
            ]
        )
    print("## Instructions executed (callgrind)\n")
    print(
        table(
            rows,
            [
                "tracker",
                "loop thread, during the loop",
                "overhead",
                "extra per batch",
                "tracker's other threads, during the loop",
                "all threads: overhead",
            ],
        )
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs, one repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--no-lightning", action="store_true")
    parser.add_argument("--only-lightning", action="store_true")
    parser.add_argument("--kinds", help="comma-separated trackers to run (default: all installed)")
    parser.add_argument(
        "--pin",
        type=int,
        default=-1,
        metavar="CPU",
        help="run every child on this one CPU (default: the last one allowed; -2: do not pin)",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions under valgrind instead of timing (deterministic; ~50x slower)",
    )
    parser.add_argument("--child", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child[0]), args.child[1])
        return
    if args.quick:
        args.repeat, args.epochs = 1, 3
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    kinds = ["none", "experimentkit", "experimentkit-sqlite"]
    kinds += ["tensorboard"] if have("torch.utils.tensorboard") else []
    kinds += ["mlflow", "mlflow-async"] if have("mlflow") else []
    kinds = [] if args.only_lightning else kinds
    lightning_kinds: list = []
    if not args.no_lightning and have("lightning"):
        lightning_kinds = ["lightning", "lightning-experimentkit"]
        lightning_kinds += ["lightning-tensorboard"] if have("tensorboard") else []
        lightning_kinds += ["lightning-mlflow"] if have("mlflow") else []
    if args.kinds:
        wanted = args.kinds.split(",")
        kinds = [k for k in kinds if k in wanted]
        lightning_kinds = [k for k in lightning_kinds if k in wanted]
    cpu = {-1: sorted(os.sched_getaffinity(0))[-1], -2: None}.get(args.pin, args.pin)
    root = tempfile.mkdtemp(prefix="bench_training_loop_")
    load = os.getloadavg()
    if args.callgrind:
        print(f"{args.epochs} epochs × 47 batches under callgrind; load average {load[0]:.1f}.\n")
        toggle = _toggle_library(root)
        for group, base in ((kinds, "none"), (lightning_kinds, "lightning")):
            if group:
                counts = {
                    kind: _callgrind_child(
                        {
                            "kind": kind,
                            "epochs": args.epochs,
                            "store": os.path.join(root, kind),
                            "cpu": cpu,
                            "toggle": toggle,
                        },
                        root,
                    )
                    for kind in group
                }
                _callgrind_report(counts, base, args.epochs * 47)
        print(f"Stores left in {root}.")
        return
    samples: dict = {kind: [] for kind in kinds + lightning_kinds}
    print(
        f"{args.epochs} epochs × 47 batches, {args.repeat} repeat(s) in shuffled order, "
        f"{'pinned to CPU ' + str(cpu) if cpu is not None else 'not pinned'}; "
        f"load average {load[0]:.1f} at the start.\n"
    )
    order = random.Random(1)
    for repeat in range(args.repeat):
        shuffled = kinds + lightning_kinds
        order.shuffle(shuffled)
        for kind in shuffled:
            store = os.path.join(root, f"{kind}-{repeat}")
            spec = {"kind": kind, "epochs": args.epochs, "store": store, "cpu": cpu}
            samples[kind].append(run_script_child(__file__, spec))
    for group, base, title in (
        (kinds, "none", "PyTorch loop, one scalar per batch and three per epoch"),
        (lightning_kinds, "lightning", "lightning.Trainer, logging every step"),
    ):
        if group:
            _report(title, {k: samples[k] for k in group}, base)
            _paired_report(title, {k: samples[k] for k in group}, base)
    load = os.getloadavg()
    print(f"Load average at the end: {load[0]:.1f}. Stores left in {root}.")


if __name__ == "__main__":
    main()
