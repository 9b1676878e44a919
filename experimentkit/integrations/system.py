"""System metrics: CPU, memory, disk and network I/O (psutil) and NVIDIA GPUs (NVML), sampled on a
background thread and stored as ordinary metrics named ``system.*``.

Opt-in: ``python train.py --system-metrics``, ``ex.run(options={"--system-metrics": True})``,
``SETTINGS.SYSTEM_METRICS = True`` for every run, or ``start_system_metrics(run)`` by hand.  The
interval is ``SETTINGS.SYSTEM_METRICS_INTERVAL`` seconds (10 by default).  GPUs are sampled through
``nvidia-ml-py`` when it is installed and a driver answers; otherwise they are skipped silently.
The first sample is taken when the run starts; the thread stops with the run (or ``stop()``).

Names (step = sample number): ``system.cpu.percent``, ``system.memory.percent``,
``system.memory.used_mb``, ``system.process.cpu_percent``, ``system.process.rss_mb``,
``system.disk.percent``, ``system.disk.read_mb_s``, ``system.disk.write_mb_s``,
``system.network.sent_mb_s``, ``system.network.recv_mb_s``, and per GPU ``i``:
``system.gpu.<i>.utilization``, ``.memory_used_mb``, ``.memory_percent``, ``.temperature``,
``.power_w``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Optional

__all__ = ["SystemMetrics", "start_system_metrics", "SystemMetricsHook"]

_MB = 1024.0 * 1024.0


class SystemMetrics:
    """A daemon thread logging one sample of the machine's state into ``run`` every ``interval`` s."""

    def __init__(self, run: Any, interval: float = 10.0):
        import psutil

        if not interval > 0:
            raise ValueError(f"the system metrics interval must be positive, not {interval!r}")
        self.run = run
        self.interval = float(interval)
        self.samples = 0
        self._psutil = psutil
        self._process = psutil.Process(os.getpid())
        self._stop = threading.Event()
        self._sampled = threading.Condition()
        self._last: Optional[tuple] = None
        self._gpus = _open_gpus()
        self._thread = threading.Thread(target=self._loop, name="experimentkit-system-metrics", daemon=True)

    def start(self) -> SystemMetrics:
        self._psutil.cpu_percent(interval=None)  # the first reading of a percentage is 0: prime it
        self._process.cpu_percent(interval=None)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling (the points logged so far stay with the run)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def wait_for(self, samples: int, timeout: Optional[float] = None) -> bool:
        """Block until ``samples`` samples were logged (for tests and short scripts)."""
        with self._sampled:
            return self._sampled.wait_for(lambda: self.samples >= samples, timeout)

    def _loop(self) -> None:
        while True:
            if getattr(self.run, "status", "RUNNING") not in ("RUNNING", None):
                return  # the run has ended
            try:
                self._sample()
            except Exception as exc:  # sampling must never disturb the run
                logger = getattr(self.run, "run_logger", None)
                if logger is not None:
                    logger.warning("System metrics stopped (%s: %s)", type(exc).__name__, exc)
                return
            with self._sampled:
                self.samples += 1
                self._sampled.notify_all()
            if self._stop.wait(self.interval):
                return

    def _sample(self) -> None:
        psutil, step = self._psutil, self.samples
        values: dict = {"cpu.percent": psutil.cpu_percent(interval=None)}
        memory = psutil.virtual_memory()
        values["memory.percent"] = memory.percent
        values["memory.used_mb"] = (memory.total - memory.available) / _MB
        with self._process.oneshot():
            values["process.cpu_percent"] = self._process.cpu_percent(interval=None)
            values["process.rss_mb"] = self._process.memory_info().rss / _MB
        try:
            values["disk.percent"] = psutil.disk_usage(os.getcwd()).percent
        except OSError:
            pass
        now = time.monotonic()
        disk = _counters(psutil.disk_io_counters, "read_bytes", "write_bytes")
        net = _counters(psutil.net_io_counters, "bytes_sent", "bytes_recv")
        if self._last is not None:
            then, last_disk, last_net = self._last
            elapsed = max(now - then, 1e-9)
            for names, current, last in (
                (("disk.read_mb_s", "disk.write_mb_s"), disk, last_disk),
                (("network.sent_mb_s", "network.recv_mb_s"), net, last_net),
            ):
                if current is not None and last is not None:
                    for name, a, b in zip(names, current, last):
                        values[name] = max(a - b, 0) / _MB / elapsed
        self._last = (now, disk, net)
        for index, handle in self._gpus:
            values.update(_gpu_values(index, handle))
        log_scalar = self.run.log_scalar
        for name, value in values.items():
            log_scalar("system." + name, value, step)


def _counters(read: Any, *fields: str) -> Optional[tuple]:
    try:
        counters = read()
    except (OSError, RuntimeError):
        return None
    return None if counters is None else tuple(getattr(counters, f) for f in fields)


def _open_gpus() -> list:
    """``[(index, handle)]`` of the NVIDIA GPUs NVML sees; ``[]`` without nvidia-ml-py or a driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return [(i, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # ImportError, NVMLError (no driver, no device): no GPU metrics
        return []


def _gpu_values(index: int, handle: Any) -> dict:
    import pynvml

    prefix, values = f"gpu.{index}.", {}
    readers = {
        "utilization": lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu,
        "memory_used_mb": lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / _MB,
        "memory_percent": lambda: (lambda m: 100.0 * m.used / m.total)(
            pynvml.nvmlDeviceGetMemoryInfo(handle)
        ),
        "temperature": lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
        "power_w": lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
    }
    for name, read in readers.items():
        try:
            values[prefix + name] = read()
        except Exception:  # a reading this GPU does not support
            continue
    return values


def start_system_metrics(run: Any = None, interval: float = 10.0) -> SystemMetrics:
    """Start sampling into ``run`` (default: the active run); returns the sampler."""
    if run is None:
        from ..context import current_run

        run = current_run()
        if run is None:
            raise RuntimeError("start_system_metrics: no active run; pass run=_run")
    return SystemMetrics(run, interval).start()


class SystemMetricsHook:
    """A pre-run hook (added by ``--system-metrics``) starting the sampler when the run starts."""

    def __init__(self, run: Any, interval: float):
        self.run = run
        self.interval = interval
        self.sampler: Optional[SystemMetrics] = None

    def __call__(self) -> None:
        self.sampler = start_system_metrics(self.run, self.interval)
