"""Shared test helpers: where the real-data fixtures live, and skipping cleanly without them."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"


def fixture_path(*parts: str) -> Path:
    """Path into ../shared/fixtures, or skip the test with the reason when it is not there."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-data fixture {path} is absent (it lives in ../shared/fixtures)")
    return path
