"""Where a model runs: ``device: auto`` picks CUDA when present, and CUDA runs in bf16 autocast."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from harness.core.devices import resolve_device

__all__ = ["autocast", "resolve_device"]  # the device check itself lives in harness.core


@contextlib.contextmanager
def autocast(device: str) -> Iterator[None]:
    """bf16 autocast on CUDA (tensor cores, fp32 master weights); nothing on CPU, so CPU runs
    stay bit-identical to plain fp32."""
    if device.startswith("cuda"):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
