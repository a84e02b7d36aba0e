"""winhatch.pe against pefile: sections, imports (names, ordinals, hints, IAT RVAs), delay imports, exports
(ordinals, names, RVAs, forwarders), relocation counts and TLS callbacks must be identical.

Corpus: the fixtures, the MSVC launchers pip and setuptools ship, and every file in Wine's PE directory (chunked
so `pytest -n 2` spreads it). Known pefile divergences are documented in oracle.py.
"""
from __future__ import annotations

import pytest

from pefixtures import launcher_exes, wine_corpus
from oracle import differences

CHUNKS = 24
WINE = wine_corpus()
LAUNCHERS = launcher_exes()


@pytest.mark.parametrize("which", ["exports", "delaydll", "imports", "plain"])
def test_fixture_matches_pefile(pe_fixtures, which):
    assert differences(pe_fixtures[which]) == []


@pytest.mark.parametrize("path", LAUNCHERS, ids=[p.name for p in LAUNCHERS])
def test_launcher_matches_pefile(path):
    assert differences(path) == []


def test_launchers_found():
    assert len(LAUNCHERS) >= 6, "pip/setuptools launchers not found in the venv"


@pytest.mark.skipif(not WINE, reason="wine64 PE DLLs not installed")
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_wine_corpus_matches_pefile(chunk):
    bad = {}
    for path in WINE[chunk::CHUNKS]:
        d = differences(path)
        if d:
            bad[path.name] = d
    assert bad == {}
