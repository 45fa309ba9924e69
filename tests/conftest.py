"""Shared fixtures. Validators live in ``validators.py``, CT samples in ``ct_samples.py``
(both importable from any test: pytest puts this directory on ``sys.path``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from validators import dciodvfy_errors


@pytest.fixture
def dciodvfy() -> Callable[[Path], list[str]]:
    """``dciodvfy(path) -> list of Error lines`` (fails the test if it is missing)."""
    return dciodvfy_errors
