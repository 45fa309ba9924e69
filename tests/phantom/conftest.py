"""Phantom studies shared by the phantom tests (small size, generated once per session).

Seed 5: head first, right dominance, four lesions (mixed, non-calcified with a
low-attenuation core, calcified, a severe RCA stenosis). Seed 10: feet first,
co-dominance, a total occlusion and a calcified stenosis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ccta_ai.phantom.study import PhantomStudy, generate_study, write_study

SEED_A = 5
SEED_B = 10


@pytest.fixture(scope="session")
def study_a() -> PhantomStudy:
    return generate_study(SEED_A, "small")


@pytest.fixture(scope="session")
def study_b() -> PhantomStudy:
    return generate_study(SEED_B, "small")


@pytest.fixture(scope="session")
def written_a(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("phantom") / f"seed{SEED_A}"
    truth = write_study(out, SEED_A, "small", preview=True)
    return out, truth
