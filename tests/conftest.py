import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixturebuild  # noqa: E402

ARCHES = ["x86", "x64"]


@pytest.fixture(params=ARCHES)
def arch(request):
    return request.param


@pytest.fixture(scope="session")
def build_fixture():
    """build_fixture("hello.c", "x64", dll=False, flags=[...]) -> Path of the compiled fixture."""
    return fixturebuild.build
