"""Moving runs in and out: TensorBoard export/import and MLflow import beside the peers' own ways.

    python benchmarks/bench_interop.py [--runs 100] [--points 10000] [--workdir DIR] [--aim PATH]

One interleaved session on one machine, R runs x N points of one metric:

* populate a file store through experimentkit's own observers (``interop.recording.record``);
* export: ``export_runs`` (float64 tensor scalars, hparams) beside a plain replay of the same
  points through ``tensorboardX``'s or ``torch.utils.tensorboard``'s ``SummaryWriter.add_scalar``
  (whichever is installed; the usual way people write event files);
* import: ``import_logdir`` of that logdir into a fresh file store, and ``import_mlflow`` of the same
  runs from an MLflow SQLite store, beside MLflow reading them back itself (``search_runs`` +
  ``get_metric_history`` for every run), the least any MLflow-to-anything conversion must do;
* with ``--aim PATH`` (the ``aim`` command of a separate environment, which needs ``tensorflow``
  for this), Aim's own ``aim convert tensorboard`` of the same logdir into a fresh Aim repository.

After each step the points stored are counted and must equal the points logged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time

from _common import have, table

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BASE = 1_700_000_000.0


def populate(target: str, runs: int, points: int) -> None:
    from experimentkit.interop.recording import ForeignRun, record

    for number in range(runs):
        steps = list(range(points))
        values = [1.0 / (s + 1) + number for s in steps]
        stamps = [BASE + number * 1000 + s * 0.01 for s in steps]
        start = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=stamps[0])
        record(
            target,
            ForeignRun(
                source=f"bench:{number}",
                experiment="bench",
                config={"lr": 0.001 * (number + 1), "depth": number % 4},
                start_time=start,
                stop_time=start,
                metrics={"loss": (steps, values, stamps)},
            ),
        )


def stored_points(target: str) -> int:
    from experimentkit.query import open_store

    with open_store(target) as store:
        return sum(len(store.get(r.id).metric(name)) for r in store.runs() for name in r.metric_names())


def replay_summary_writer(target: str, logdir: str) -> float:
    """The same points written through a SummaryWriter (tensorboardX, else torch's)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        from torch.utils.tensorboard import SummaryWriter
    from experimentkit.query import open_store

    epoch = dt.datetime(1970, 1, 1)
    start = time.perf_counter()
    with open_store(target) as store:
        for run in store.runs():
            series = run.metric("loss")
            writer = SummaryWriter(os.path.join(logdir, str(run.id)))
            for step, value, moment in zip(series.steps, series.values, series.timestamps):
                writer.add_scalar("loss", value, step, walltime=(moment - epoch).total_seconds())
            writer.close()
    return time.perf_counter() - start


def aim_convert(aim: str, logdir: str, repo: str) -> tuple:
    """Seconds for ``aim convert tensorboard`` of ``logdir`` into a new repository ``repo``, and
    the points Aim then holds."""
    import subprocess

    os.makedirs(repo, exist_ok=True)
    subprocess.run([aim, "init", "--repo", repo], check=True, capture_output=True)
    start = time.perf_counter()
    done = subprocess.run(
        [aim, "convert", "--repo", repo, "tensorboard", "--logdir", logdir, "--no-cache"],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or "failed to import" in done.stderr:
        raise RuntimeError(f"aim convert failed: {done.stderr[-2000:]}")
    count = (  # read back with Aim's own SDK, in its environment (a read-only Run shows nothing
        # of a run that aim convert left unfinalised, so each run is opened for writing)
        "import sys, aim; print(sum(len(m.values.values_list()) "
        "for h in aim.Repo(sys.argv[1]).list_all_runs() "
        "for m in aim.Run(run_hash=h, repo=sys.argv[1]).metrics() if not m.name.startswith('__system__')))"
    )
    python = os.path.join(os.path.dirname(aim), "python")
    read = subprocess.run([python, "-c", count, repo], check=True, capture_output=True, text=True)
    return elapsed, int(read.stdout.split()[-1])


def mlflow_read_all(uri: str) -> tuple:
    from mlflow.tracking import MlflowClient

    start = time.perf_counter()
    client = MlflowClient(tracking_uri=uri)
    count = 0
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=50_000):
            for key in run.data.metrics:
                count += len(client.get_metric_history(run.info.run_id, key))
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--workdir")
    parser.add_argument("--aim", help="the aim command of an environment with aim and tensorflow")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="bench-interop-")
    logged = args.runs * args.points
    source = os.path.join(work, "source")
    shutil.rmtree(source, ignore_errors=True)

    from experimentkit.interop.mlflow import export_mlflow, import_mlflow
    from experimentkit.interop.tensorboard import export_runs, import_logdir
    from experimentkit.query import open_store

    t = time.perf_counter()
    populate(source, args.runs, args.points)
    rows = [["populate file store (record)", f"{time.perf_counter() - t:.2f}", "", ""]]
    assert stored_points(source) == logged

    logdir = os.path.join(work, "tb")
    shutil.rmtree(logdir, ignore_errors=True)
    t = time.perf_counter()
    with open_store(source) as store:
        exported = sum(points for _, _, points in export_runs(store.runs().all(), logdir))
    ours = time.perf_counter() - t
    assert exported == logged
    if have("tensorboardX") or have("torch"):
        peer = replay_summary_writer(source, os.path.join(work, "tb_replay"))
        rows.append(
            [
                "export to TensorBoard",
                f"{ours:.2f}",
                f"{peer:.2f} (SummaryWriter replay)",
                f"{ours / peer:.2f}x",
            ]
        )
    else:
        rows.append(["export to TensorBoard", f"{ours:.2f}", "n/a", ""])

    back = os.path.join(work, "from_tb")
    shutil.rmtree(back, ignore_errors=True)
    t = time.perf_counter()
    imported = sum(o.points for o in import_logdir(logdir, back))
    tb_import = time.perf_counter() - t
    assert imported == logged == stored_points(back)
    if args.aim:
        peer, count = aim_convert(args.aim, logdir, os.path.join(work, "aim"))
        rows.append(
            [
                "import from TensorBoard",
                f"{tb_import:.2f}",
                f"{peer:.2f} (aim convert tensorboard; Aim's SDK reads back {count} points)",
                f"{tb_import / peer:.2f}x",
            ]
        )

    if have("mlflow"):
        uri = f"sqlite:///{os.path.join(work, 'mlflow.db')}"
        if os.path.exists(os.path.join(work, "mlflow.db")):
            os.unlink(os.path.join(work, "mlflow.db"))
        t = time.perf_counter()
        with open_store(source) as store:
            export_mlflow(store.runs().all(), uri)
        rows.append(["export to MLflow (MlflowClient.log_batch)", f"{time.perf_counter() - t:.2f}", "", ""])
        peer, count = mlflow_read_all(uri)
        assert count == logged
        rows.append(
            [
                "import from TensorBoard",
                f"{tb_import:.2f}",
                f"{peer:.2f} (MLflow reads it)",
                f"{tb_import / peer:.2f}x",
            ]
        )
        dest = os.path.join(work, "from_mlflow")
        shutil.rmtree(dest, ignore_errors=True)
        t = time.perf_counter()
        import_mlflow(uri, dest)
        ours = time.perf_counter() - t
        assert stored_points(dest) == logged
        rows.append(
            ["import from MLflow", f"{ours:.2f}", f"{peer:.2f} (MLflow reads it)", f"{ours / peer:.2f}x"]
        )
    else:
        rows.append(["import from TensorBoard", f"{tb_import:.2f}", "n/a (no mlflow)", ""])
    print(f"{args.runs} runs x {args.points} points = {logged} points; seconds, one session\n")
    print(table(rows, ["step", "experimentkit s", "peer s", "ratio"]))
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
