import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpuhelp import make_cpu  # noqa: E402


@pytest.fixture
def cpu(arch):
    return make_cpu(arch)
