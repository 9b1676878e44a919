"""A stand-in for an accelerator tensor, shared by the tests of values logged from training loops."""

from __future__ import annotations

from typing import Callable


class FakeCudaTensor:
    """Looks like a CUDA tensor to ``log_scalar`` (no GPU here): ``item()`` is where a real one makes
    the caller wait for the device, so each read calls ``on_read`` for the test to note where it
    happened."""

    __module__ = "torch"
    is_cpu = False

    def __init__(self, value: float, on_read: Callable[[], None]) -> None:
        self.value = value
        self.on_read = on_read

    def detach(self) -> FakeCudaTensor:
        return self

    def clone(self) -> FakeCudaTensor:
        return FakeCudaTensor(self.value, self.on_read)

    def item(self) -> float:
        self.on_read()
        return self.value
