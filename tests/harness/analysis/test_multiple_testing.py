"""Holm and Benjamini-Hochberg adjustment on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.multiple_testing import adjust_pvalues
from harness.core.errors import UserError


def test_holm_on_known_pvalues():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_on_known_pvalues_and_nan_passthrough():
    p = [0.01, 0.04, 0.03, np.nan, 0.005]
    out = adjust_pvalues(p, "bh")
    assert np.isnan(out[3])
    assert out[[0, 1, 2, 4]] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    with pytest.raises(UserError):
        adjust_pvalues(p, "nonsense")
