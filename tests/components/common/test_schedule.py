"""The shared learning-rate schedule: warm-up, cosine decay, floor."""

from __future__ import annotations

import pytest

from astrotrain.components.common.schedule import WarmupCosine


def test_warmup_then_cosine_to_the_floor():
    s = WarmupCosine(warmup=10, total=110, floor=0.05)
    assert s(0) == pytest.approx(0.1) and s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.05 + 0.95 * 0.5)  # half-way through the decay
    assert s(110) == pytest.approx(0.05) and s(500) == pytest.approx(0.05)  # held at the floor
    assert all(s(k) >= s(k + 1) for k in range(10, 110))
