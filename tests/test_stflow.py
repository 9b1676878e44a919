"""LogFileWriter records the log directories of real TensorBoard writers (tensorboardX, torch)."""

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
