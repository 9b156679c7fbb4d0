"""Where a model runs: ``device: auto`` picks CUDA when present, and CUDA runs in bf16 autocast."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from harness.core.errors import UserError


def resolve_device(name: str) -> str:
    """A concrete torch device for a ``train.device`` setting.

    ``auto`` is ``cuda`` when a CUDA device is visible, else ``cpu``; an explicit CUDA device on a
    machine without one is a one-line :class:`UserError` rather than a torch traceback mid-run.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device: {name!r} requested but this machine has no CUDA device")
    return name


@contextlib.contextmanager
def autocast(device: str) -> Iterator[None]:
    """bf16 autocast on CUDA (tensor cores, fp32 master weights); nothing on CPU, so CPU runs
    stay bit-identical to plain fp32."""
    if device.startswith("cuda"):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
