"""Small synthetic data shared by the model tests (CPU, one thread, seconds)."""

from __future__ import annotations

import pytest
import torch

from adapters.synthetic_motifs import SyntheticMotifsParams
from adapters.synthetic_motifs import load as load_synthetic
from harness.core.dataset import SequenceDataset
from tests.models.helpers import registered_models

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def binary_data() -> SequenceDataset:
    """200 sequences of length 50 with planted motifs, thresholded labels."""
    params = SyntheticMotifsParams(n=200, length=50, target="binary", noise_sd=0.05)
    return load_synthetic(params, seed=0)


@pytest.fixture(scope="session")
def regression_data() -> SequenceDataset:
    """200 sequences of length 50 with planted motifs, continuous labels."""
    return load_synthetic(SyntheticMotifsParams(n=200, length=50, noise_sd=0.05), seed=0)


@pytest.fixture(scope="session", autouse=True)
def _registered() -> None:
    """The models package registered its models (the contract tests parametrize over them)."""
    assert registered_models(), "no model is registered: the models package did not import"
