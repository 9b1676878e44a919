"""LogFileWriter records the log directories of real TensorBoard writers (tensorboardX, torch)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest


def _experiment():
    from experimentkit import Experiment

    return Experiment("tb")


def test_tensorboardx_writers_in_scope_are_recorded(tmp_path):
    tensorboardX = pytest.importorskip("tensorboardX")
    from experimentkit.stflow import LogFileWriter

    ex = _experiment()

    @ex.main
    def main(_run):
        with LogFileWriter(ex):
            tensorboardX.SummaryWriter(str(tmp_path / "a")).close()
            tensorboardX.SummaryWriter(logdir=str(tmp_path / "b")).close()
        tensorboardX.SummaryWriter(str(tmp_path / "outside")).close()
        return _run.info["tensorflow"]["logdirs"]

    assert ex.run().result == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert tensorboardX.SummaryWriter.__init__.__module__.startswith("tensorboardX")  # unpatched


def test_as_decorator_and_default_directory(tmp_path, monkeypatch):
    tensorboardX = pytest.importorskip("tensorboardX")
    from experimentkit.stflow import LogFileWriter

    monkeypatch.chdir(tmp_path)
    ex = _experiment()

    @ex.main
    @LogFileWriter(ex)
    def main(_run):
        writer = tensorboardX.SummaryWriter()  # runs/<date>_<host>
        writer.close()
        return writer.logdir

    run = ex.run()
    assert run.info["tensorflow"]["logdirs"] == [run.result]
    assert run.result.startswith("runs")


def test_without_a_run_it_says_so():
    from experimentkit.stflow import LogFileWriter

    with (
        pytest.raises(RuntimeError, match="LogFileWriter needs a running experiment"),
        LogFileWriter(_experiment()),
    ):
        pass


def test_module_imported_inside_the_scope_is_patched(tmp_path):
    pytest.importorskip("tensorboardX")
    script = tmp_path / "exp.py"
    script.write_text(
        textwrap.dedent("""
        import json, sys
        from experimentkit import Experiment
        from experimentkit.stflow import LogFileWriter
        ex = Experiment("tb")

        @ex.main
        def main(_run):
            assert "tensorboardX" not in sys.modules
            with LogFileWriter(ex):
                from tensorboardX import SummaryWriter
                SummaryWriter(sys.argv[1]).close()
            print(json.dumps(_run.info["tensorflow"]["logdirs"]))

        ex.run()
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "late")], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "late") in done.stdout


@pytest.mark.torch
def test_torch_summary_writer_is_recorded(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("tensorboard", reason="torch.utils.tensorboard needs the tensorboard package")
    from torch.utils.tensorboard import SummaryWriter

    from experimentkit.stflow import LogFileWriter

    ex = _experiment()

    @ex.main
    def main(_run):
        with LogFileWriter(ex):
            SummaryWriter(log_dir=str(tmp_path / "torch")).close()
        return _run.info["tensorflow"]["logdirs"]

    assert ex.run().result == [str(tmp_path / "torch")]


def test_tensorflow_imported_inside_the_scope_of_a_run_is_seeded_and_patched(tmp_path):
    """The run's seeding hook and LogFileWriter's import hook both watch ``tensorflow``; each asks the
    whole meta path, so without a guard importing it inside the scope recursed until RecursionError.
    A small package named ``tensorflow`` stands in for the real one (tested below where installed)."""
    package = tmp_path / "lib" / "tensorflow"
    (package / "summary").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from types import SimpleNamespace\n"
        "from . import summary\n"
        "seeds = []\n"
        "random = SimpleNamespace(set_seed=seeds.append)\n"
    )
    (package / "summary" / "__init__.py").write_text(
        "class _Writer:\n"
        "    def close(self):\n"
        "        pass\n"
        "def create_file_writer(logdir, **kwargs):\n"
        "    return _Writer()\n"
    )
    script = tmp_path / "exp.py"
    script.write_text(
        textwrap.dedent("""
        import json, sys
        from experimentkit import Experiment
        from experimentkit.stflow import LogFileWriter
        ex = Experiment("tb")

        @ex.main
        @LogFileWriter(ex)
        def main(_run, _seed):
            import tensorflow as tf
            tf.summary.create_file_writer(sys.argv[1]).close()
            seeded = tf.seeds == [_run.config["seed"]]
            return {"logdirs": _run.info["tensorflow"]["logdirs"], "seeded": seeded}

        print(json.dumps(ex.run().result))
    """)
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "lib"), *sys.path]))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "logs")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"logdirs": [str(tmp_path / "logs")], "seeded": True}


@pytest.mark.tensorflow
@pytest.mark.slow
def test_real_tensorflow_writers_are_recorded_as_sacred_records_them(tmp_path):
    """TF2's ``tf.compat.v1.summary.FileWriter`` (what Sacred's LogFileWriter watches) and
    ``tf.summary.create_file_writer``: the log directories land in ``info["tensorflow"]["logdirs"]``;
    Sacred 0.8.7, where installed, records the same for the writers it knows."""
    tf = pytest.importorskip("tensorflow")
    from experimentkit.stflow import LogFileWriter

    ex = _experiment()

    def write(base):
        with tf.Graph().as_default():  # the TF1 writer needs graph mode
            tf.compat.v1.summary.FileWriter(str(base / "a")).close()
            tf.compat.v1.summary.FileWriter(logdir=str(base / "b")).close()

    @ex.main
    def main(_run):
        with LogFileWriter(ex):
            write(tmp_path)
            tf.summary.create_file_writer(str(tmp_path / "c")).close()
        tf.summary.create_file_writer(str(tmp_path / "outside")).close()
        return _run.info["tensorflow"]["logdirs"]

    ours = ex.run().result
    assert ours == [str(tmp_path / name) for name in ("a", "b", "c")]
    assert all((tmp_path / name).is_dir() for name in ("a", "b", "c"))  # made by the real writers
    assert any((tmp_path / "c").glob("events.out.tfevents.*"))

    sacred = pytest.importorskip("sacred")
    from sacred.stflow import LogFileWriter as SacredLogFileWriter

    sacred_ex = sacred.Experiment("tb", save_git_info=False)

    @sacred_ex.main
    def sacred_main(_run):
        with SacredLogFileWriter(sacred_ex):
            write(tmp_path / "sacred")
        return _run.info["tensorflow"]["logdirs"]

    theirs = sacred_ex.run().result
    assert [os.path.relpath(p, tmp_path / "sacred") for p in theirs] == ["a", "b"]
    assert [os.path.relpath(p, tmp_path) for p in ours[:2]] == ["a", "b"]
