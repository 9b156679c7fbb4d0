"""Which torch devices this machine has, and the one check of a ``device`` setting.

Used when a study is loaded (refused before any training) and again where a unit runs (a unit
sent to another machine is refused there with the same reason).
"""

from __future__ import annotations

import re

import torch

from harness.core.errors import UserError

_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")
# More torch threads (or worker processes) than this crash torch (a segfault at 100,000) long
# before they could help.
MAX_THREADS = 256


def available_devices() -> list[str]:
    """``cpu``, then ``cuda:0`` ... and ``mps`` where present."""
    found = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def resolve_device(name: str, where: str = "train.device") -> str:
    """A concrete torch device for a ``device`` setting, or a one-line :class:`UserError`.

    ``auto`` is ``cuda`` when a CUDA device is visible, else ``cpu``. Unknown names and devices
    this machine lacks are refused with the devices it has.
    """
    have = available_devices()
    if not _DEVICE.match(name):
        raise UserError(f"{where}: unknown device {name!r} (valid: auto, {', '.join(have)})")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    wanted = "cuda:0" if name == "cuda" else name
    if wanted not in have:
        raise UserError(f"{where}: {name!r} is not on this machine (it has: {', '.join(have)})")
    return name
