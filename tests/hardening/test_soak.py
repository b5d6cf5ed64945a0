"""The soak as a test (marker ``slow``; ten minutes). Same as ``python -m tests.hardening.soak``."""

from __future__ import annotations

import os

import pytest

from tests.hardening.soak import run


@pytest.mark.slow
def test_soak_ten_minutes_at_80_percent_of_peak() -> None:
    minutes = float(os.environ.get("TOLLGATE_SOAK_MINUTES", "10"))
    assert run(minutes, 0.8, 20.0, 4, 16) == 0
