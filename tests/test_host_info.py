"""Host info: the default facts, user gatherers, and GPU info read from nvidia-smi's XML."""

import os
import platform
import stat
import sys

import pytest

from experimentkit import host_info_gatherer
from experimentkit.host_info import (
    HostInfoGetter,
    IgnoreHostInfo,
    check_additional_host_info,
    get_host_info,
    parse_nvidia_smi_xml,
)
from experimentkit.settings import SETTINGS, Settings

NVIDIA_XML = """<?xml version="1.0" ?>
<nvidia_smi_log>
  <timestamp>Mon Jan  1 00:00:00 2024</timestamp>
  <driver_version>535.104.05</driver_version>
  <attached_gpus>2</attached_gpus>
  <gpu id="00000000:00:04.0">
    <product_name>Tesla T4</product_name>
    <persistence_mode>Enabled</persistence_mode>
    <fb_memory_usage><total>15360 MiB</total><used>0 MiB</used></fb_memory_usage>
  </gpu>
  <gpu id="00000000:00:05.0">
    <product_name>NVIDIA A100-SXM4-40GB MIG 1g.5gb</product_name>
    <persistence_mode>Disabled</persistence_mode>
    <fb_memory_usage><total>Insufficient Permissions</total></fb_memory_usage>
    <mig_devices><mig_device><fb_memory_usage><total>4864 MiB</total></fb_memory_usage>
    </mig_device></mig_devices>
  </gpu>
</nvidia_smi_log>
"""


@pytest.fixture
def settings():
    """A private copy of the settings, so tests never change the global object."""
    return Settings(SETTINGS.to_dict())


@pytest.fixture
def no_nvidia_smi(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.fixture
def fake_nvidia_smi(monkeypatch, tmp_path):
    script = tmp_path / "nvidia-smi"
    xml_file = tmp_path / "smi.xml"
    xml_file.write_text(NVIDIA_XML)
    script.write_text(f'#!/bin/sh\n[ "$1 $2" = "-q -x" ] || exit 3\ncat \'{xml_file}\'\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))


def test_default_fields(settings, no_nvidia_smi):
    info = get_host_info(settings=settings)
    assert set(info) == {"hostname", "os", "python_version", "cpu", "cpu_count", "memory_total", "ENV"}
    assert info["hostname"] == platform.node()
    assert info["os"] == [platform.system(), platform.platform()]
    assert info["python_version"] == platform.python_version()
    assert info["cpu_count"] == os.cpu_count()
    assert isinstance(info["cpu"], str) and info["cpu"]
    assert info["ENV"] == {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_linux_cpu_and_memory_come_from_proc(settings, no_nvidia_smi):
    info = get_host_info(settings=settings)
    with open("/proc/meminfo") as f:
        kib = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    assert info["memory_total"] == kib * 1024
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    if models:
        assert info["cpu"] == models[0]


def test_cpu_info_can_be_switched_off(settings, no_nvidia_smi):
    settings.HOST_INFO.INCLUDE_CPU_INFO = False
    assert get_host_info(settings=settings)["cpu"] is None


def test_captured_environment_variables(settings, monkeypatch, no_nvidia_smi):
    monkeypatch.setenv("EK_TEST_VISIBLE", "yes")
    monkeypatch.setenv("EK_TEST_HIDDEN", "no")
    monkeypatch.delenv("EK_TEST_MISSING", raising=False)
    settings.HOST_INFO.CAPTURED_ENV = ["EK_TEST_VISIBLE", "EK_TEST_MISSING"]
    assert get_host_info(settings=settings)["ENV"] == {"EK_TEST_VISIBLE": "yes"}


def test_gpus_from_nvidia_smi(settings, fake_nvidia_smi):
    gpus = get_host_info(settings=settings)["gpus"]
    assert gpus == {
        "driver_version": "535.104.05",
        "gpus": [
            {"model": "Tesla T4", "total_memory": 15360, "persistence_mode": True},
            {"model": "NVIDIA A100-SXM4-40GB MIG 1g.5gb", "total_memory": 4864, "persistence_mode": False},
        ],
    }


def test_gpu_info_can_be_switched_off(settings, fake_nvidia_smi):
    settings.HOST_INFO.INCLUDE_GPU_INFO = False
    assert "gpus" not in get_host_info(settings=settings)


def test_failing_nvidia_smi_leaves_gpus_out(settings, monkeypatch, tmp_path):
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "gpus" not in get_host_info(settings=settings)


def test_parse_without_gpus():
    assert parse_nvidia_smi_xml("<nvidia_smi_log><driver_version>1</driver_version></nvidia_smi_log>") == {
        "gpus": [],
        "driver_version": "1",
    }


def test_additional_gatherers(settings, no_nvidia_smi):
    @host_info_gatherer("answer")
    def answer():
        return 42

    @host_info_gatherer("not_here")
    def not_here():
        raise IgnoreHostInfo()

    assert isinstance(answer, HostInfoGetter)
    assert answer.name == "answer" and answer.get_info() == 42 and answer() == 42
    info = get_host_info([answer, not_here], settings=settings)
    assert info["answer"] == 42
    assert "not_here" not in info


def test_failing_gatherer_is_skipped_with_a_warning(settings, no_nvidia_smi):
    @host_info_gatherer("broken")
    def broken():
        raise OSError("sensor unplugged")

    with pytest.warns(RuntimeWarning, match="'broken'.*sensor unplugged"):
        info = get_host_info([broken], settings=settings)
    assert "broken" not in info and "hostname" in info


@pytest.mark.parametrize("name", ["hostname", "cpu", "gpus", "ENV", "memory_total"])
def test_gatherer_name_colliding_with_a_default_raises_key_error(settings, name):
    getter = host_info_gatherer(name)(lambda: "mine")
    with pytest.raises(KeyError, match=f"Key {name} used in `additional_host_info` already exists"):
        check_additional_host_info([getter])
    with pytest.raises(KeyError, match=f"Key {name} used in `additional_host_info` already exists"):
        get_host_info([getter], settings=settings)


def test_uses_global_settings_by_default(no_nvidia_smi):
    assert get_host_info()["hostname"] == platform.node()


_STOCK = "import json, platform; print(json.dumps([platform.system(), platform.platform()]))"
_OURS = (
    "import json, sys; from experimentkit.host_info import get_host_info; "
    "info = get_host_info(); print(json.dumps(info['os'])); print('subprocess' in sys.modules)"
)


@pytest.mark.parametrize(
    "answer",
    [None, "echo fakecpu-9000", "echo unknown", "exit 3"],
    ids=["real uname", "a processor name", "unknown", "failing"],
)
def test_os_is_platforms_own_text_without_importing_subprocess(tmp_path, answer):
    """``os`` is what ``platform.platform()`` gives in a fresh interpreter (Sacred's value), with
    ``uname -p`` (which ``platform`` runs for the processor) answered without ``subprocess``."""
    import json
    import subprocess

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if answer is not None:
        fake = tmp_path / "uname"
        fake.write_text(f'#!/bin/sh\nif [ "$1" = "-p" ]; then {answer}; fi\nexec /bin/uname "$@"\n')
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
        env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"

    def python(code):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.splitlines()

    stock = json.loads(python(_STOCK)[0])
    ours, imported = python(_OURS)
    assert json.loads(ours) == stock
    assert imported == "False"
    if answer == "echo fakecpu-9000":
        assert "fakecpu-9000" in stock[1]  # the fake was used by both


def test_uname_p_is_asked_once_per_uname_and_kept_in_the_user_cache(tmp_path):
    """A second process takes ``uname -p``'s answer from the cache; another ``uname`` (changed
    file) or caching turned off (``EXPERIMENTKIT_CACHE_DIR=""``) asks it again."""
    import subprocess

    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "uname"
    fake.parent.mkdir()
    answer = f"echo x >> {calls}; echo kept-cpu; exit 0"
    script = f'#!/bin/sh\nif [ "$1" = "-p" ]; then {answer}; fi\nexec /bin/uname "$@"\n'
    fake.write_text(script)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env.update(
        PATH=f"{fake.parent}{os.pathsep}{env['PATH']}", EXPERIMENTKIT_CACHE_DIR=str(tmp_path / "cache")
    )

    def os_text(**extra):
        done = subprocess.run(
            [sys.executable, "-c", _OURS], env={**env, **extra}, capture_output=True, text=True, check=True
        )
        return done.stdout.splitlines()[0]

    def asked() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    first = os_text()
    assert "kept-cpu" in first and asked() == 1
    assert os_text() == first and asked() == 1  # from the cache
    assert [p.name.startswith("uname-") for p in (tmp_path / "cache").iterdir()] == [True]
    fake.write_text(script + "\n")  # another uname: asked again
    assert os_text() == first and asked() == 2
    assert os_text(EXPERIMENTKIT_CACHE_DIR="") == first and asked() == 3
    assert os_text(EXPERIMENTKIT_CACHE_DIR="") == first and asked() == 4
