"""Fixtures of the PE tests (helpers live in pefixtures.py, a uniquely named module)."""
from __future__ import annotations

from pathlib import Path

import pytest

from pefixtures import build_pe_fixtures  # importing it registers the hypothesis profiles too


@pytest.fixture(scope="session")
def pe_fixture_sets():
    cache: dict[str, dict[str, Path]] = {}

    def get(arch: str) -> dict[str, Path]:
        if arch not in cache:
            cache[arch] = build_pe_fixtures(arch)
        return cache[arch]
    return get


@pytest.fixture
def pe_fixtures(pe_fixture_sets, arch) -> dict[str, Path]:
    return pe_fixture_sets(arch)
