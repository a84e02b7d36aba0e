"""Every ```python block of README.md, executed exactly as written (issue 18).

The blocks run one by one in a fresh folder holding `hook_demo.exe` (tests/fixtures/src/hook_demo.c built for
x64), the program the README's examples name, with that folder as the current directory; each block runs in
its own namespace.  A block that raises (its own asserts included) fails the test.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_readme_has_the_python_api_examples():
    assert len(BLOCKS) >= 4
    # the required example: a hook changes an API's result and the program prints the changed value
    assert any("hook_api" in b and "ticks=1234" in b and "stdout" in b for b in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block(index, build_fixture, tmp_path, monkeypatch):
    exe = build_fixture("hook_demo.c", "x64")
    (tmp_path / "hook_demo.exe").write_bytes(exe.read_bytes())
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
    if "hook_api" in BLOCKS[index] and "ticks=1234" in BLOCKS[index]:   # printed by the program, changed by the hook
        assert out.getvalue().splitlines()[0] == "ticks=1234"
