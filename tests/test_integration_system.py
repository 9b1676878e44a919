"""System metrics (``--system-metrics``): psutil samples stored as ``system.*`` metrics."""

import subprocess
import sys
import textwrap

import pytest

from experimentkit import SETTINGS, Experiment
from experimentkit.errors import UsageError
from experimentkit.integrations.system import SystemMetricsHook
from experimentkit.observers import FileStorageObserver
from experimentkit.query import open_store

pytest.importorskip("psutil")


@pytest.fixture
def fast_interval(monkeypatch):
    monkeypatch.setitem(SETTINGS._values, "SYSTEM_METRICS_INTERVAL", 0.02)


def sampling_experiment(store, samples=3):
    ex = Experiment("sys")
    ex.observers.append(FileStorageObserver(str(store)))

    @ex.main
    def main(_run):
        (hook,) = [h for h in _run.pre_run_hooks if isinstance(h, SystemMetricsHook)]
        assert hook.sampler.wait_for(samples, timeout=120)
        sum(range(200_000))  # some CPU work between samples

    return ex


def only_run(store):
    with open_store(str(store)) as opened:
        (run,) = opened.runs().all()
        return run


def test_the_option_samples_cpu_memory_disk_and_network_as_metrics(tmp_path, fast_interval):
    sampling_experiment(tmp_path).run(options={"--system-metrics": True})
    run = only_run(tmp_path)
    names = run.metric_names()
    for name in (
        "system.cpu.percent",
        "system.memory.percent",
        "system.memory.used_mb",
        "system.process.rss_mb",
        "system.process.cpu_percent",
    ):
        assert name in names
    cpu = run.metric("system.cpu.percent")
    assert len(cpu) >= 3 and cpu.steps[:3] == [0, 1, 2]
    assert all(0 <= v <= 100 for v in cpu.values)
    assert all(v > 1 for v in run.metric("system.process.rss_mb").values)  # at least 1 MB
    if "system.network.sent_mb_s" in names:  # rates start at the second sample
        assert run.metric("system.network.sent_mb_s").steps[0] == 1
    assert not [n for n in names if n.startswith("system.gpu.")]  # no GPU on this machine


def test_settings_turn_it_on_for_every_run(tmp_path, fast_interval, monkeypatch):
    monkeypatch.setitem(SETTINGS._values, "SYSTEM_METRICS", True)
    sampling_experiment(tmp_path, samples=1).run()
    assert "system.memory.percent" in only_run(tmp_path).metric_names()


def test_runs_without_the_option_sample_nothing(tmp_path):
    ex = Experiment("sys")
    ex.observers.append(FileStorageObserver(str(tmp_path)))

    @ex.main
    def main(_run):
        assert not [h for h in _run.pre_run_hooks if isinstance(h, SystemMetricsHook)]
        _run.log_scalar("loss", 1.0)

    ex.run()
    assert only_run(tmp_path).metric_names() == ["loss"]


def test_without_psutil_the_option_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)
    with pytest.raises(UsageError, match=r"--system-metrics needs psutil: pip install"):
        sampling_experiment(tmp_path).run(options={"--system-metrics": True})


def test_command_line_flag(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(f"""
        from experimentkit import SETTINGS, Experiment
        from experimentkit.integrations.system import SystemMetricsHook
        from experimentkit.observers import FileStorageObserver
        SETTINGS.SYSTEM_METRICS_INTERVAL = 0.02
        ex = Experiment("cli")
        ex.observers.append(FileStorageObserver({str(tmp_path / "runs")!r}))

        @ex.automain
        def main(_run):
            hooks = [h for h in _run.pre_run_hooks if isinstance(h, SystemMetricsHook)]
            assert hooks[0].sampler.wait_for(2, timeout=120)
    """)
    )
    done = subprocess.run(
        [sys.executable, str(script), "--system-metrics", "-l", "ERROR"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(only_run(tmp_path / "runs").metric("system.cpu.percent")) >= 2
    helped = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert "-U --system-metrics" in helped.stdout


NVML_STAND_IN = '''
"""A stand-in for nvidia-ml-py's pynvml: two GPUs, the second without power readings (as many
consumer cards), so the sampler's GPU path runs on a machine without NVIDIA hardware."""
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0
calls = []


class NVMLError(Exception):
    pass


def nvmlInit():
    calls.append("init")


def nvmlDeviceGetCount():
    return 2


def nvmlDeviceGetHandleByIndex(i):
    return {"index": i}


def nvmlDeviceGetUtilizationRates(handle):
    return SimpleNamespace(gpu=40 + handle["index"], memory=10)


def nvmlDeviceGetMemoryInfo(handle):
    return SimpleNamespace(used=512 * 2**20, total=2048 * 2**20, free=1536 * 2**20)


def nvmlDeviceGetTemperature(handle, sensor):
    assert sensor == NVML_TEMPERATURE_GPU
    return 61


def nvmlDeviceGetPowerUsage(handle):
    if handle["index"] == 1:
        raise NVMLError("Not Supported")
    return 75_500  # milliwatts
'''


def test_gpus_that_nvml_reports_are_sampled_per_device(tmp_path, fast_interval, monkeypatch):
    """Every GPU NVML lists gets utilisation, memory and temperature under system.gpu.<i>.*; a
    reading a card does not support (power here) is left out for that card only."""
    fake = tmp_path / "fake_nvml"
    fake.mkdir()
    (fake / "pynvml.py").write_text(NVML_STAND_IN)
    monkeypatch.syspath_prepend(str(fake))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    store = tmp_path / "store"
    sampling_experiment(store, samples=2).run(options={"--system-metrics": True})
    run = only_run(store)
    names = set(run.metric_names())
    assert run.metric("system.gpu.0.utilization").values[:2] == [40, 40]
    assert run.metric("system.gpu.1.utilization").values[:2] == [41, 41]
    assert run.metric("system.gpu.0.memory_used_mb").values[0] == 512
    assert run.metric("system.gpu.1.memory_percent").values[0] == 25.0
    assert run.metric("system.gpu.0.temperature").values[0] == 61
    assert run.metric("system.gpu.0.power_w").values[0] == 75.5
    assert "system.gpu.1.power_w" not in names
    assert "init" in sys.modules["pynvml"].calls
