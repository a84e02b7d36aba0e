"""`winhatch report out.json --html out.html`: a self-contained page, checked in headless Chromium."""
import json
import re
import shutil
import subprocess

import pytest
from report_helpers import cli, decode_png

from winhatch.report.html import memory_svg, render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make test-deps installs it)")


def chromium(tmp_path, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp_path / 'chrome-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def report_pages(tmp_path_factory):
    """{arch: (json path, html path)} made by the CLI as a user would."""
    import fixturebuild
    out = {}
    d = tmp_path_factory.mktemp("html")
    for arch in ("x86", "x64"):
        exe = fixturebuild.build("hello.c", arch)
        js, page = d / f"{arch}.json", d / f"{arch}.html"
        r = cli("run", "--report", js, exe, "a")
        assert r.returncode == 42, r.stderr
        r = cli("report", js, "--html", page)
        assert r.returncode == 0, r.stderr
        out[arch] = (js, page)
    return out


def test_page_is_self_contained(report_pages, arch):
    js, page = report_pages[arch]
    html = page.read_text()
    doc = json.loads(js.read_text())
    assert html.startswith("<!DOCTYPE html>")
    # nothing is fetched: no URLs in src/href, no external stylesheets or scripts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html, re.I)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    p = doc["processes"][0]
    for m in p["modules"]:
        assert m["name"] in html
    assert 'id="memory-map"' in html and 'id="stage-timeline"' in html and 'id="process-tree"' in html
    n_regions = len(p["memory_map"])
    assert html.count('class="region"') >= n_regions  # every region drawn (some split over two rows)


def test_run_html_option_equals_report_command(build_fixture, tmp_path):
    exe = build_fixture("hello.c", "x64")
    r = cli("run", "--report", tmp_path / "r.json", "--html", tmp_path / "r.html", exe)
    assert r.returncode == 42
    r2 = cli("report", tmp_path / "r.json", "--html", tmp_path / "r2.html")
    assert r2.returncode == 0
    assert (tmp_path / "r.html").read_text() == (tmp_path / "r2.html").read_text()


def test_memory_svg_scale_keeps_small_regions_visible():
    regions = [{"base": 0, "size": 0x10000, "type": "Free", "state": "MEM_FREE"},
               {"base": 0x10000, "size": 0x1000, "type": "TEB", "state": "MEM_COMMIT", "thread": 4},
               {"base": 0x11000, "size": 0x7FFE0000000, "type": "Free", "state": "MEM_FREE"},
               {"base": 0x7FFE0011000, "size": 0x40000000, "type": "Image", "state": "MEM_COMMIT",
                "module": "big.dll", "allocation_base": 0x7FFE0011000}]
    svg = memory_svg(regions, width=1000)
    widths = {m.group(1): float(m.group(2)) for m in
              re.finditer(r'data-type="([^"]+)" x="[\d.]+" y="\d+" width="([\d.]+)"', svg)}
    assert widths["TEB"] >= 8  # a 4 KiB region next to an 8 TB hole is still visible
    assert widths["Free"] < widths["Image"] * 4  # the hole does not swallow the bar
    assert "big.dll" in svg


def test_html_escapes_guest_strings():
    doc = {"schema_version": "1.0", "generator": {"name": "winhatch", "version": "0"},
           "program": {"path": "<x>.exe", "args": ["<script>alert(1)</script>"]},
           "result": {"exit_status": 0, "error": None}, "event_counts": {}, "process_tree": [], "processes": []}
    html = render_html(doc)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


@needs_chromium
def test_rendered_dom_has_no_script_errors(report_pages, tmp_path, arch):
    _, page = report_pages[arch]
    r = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert 'data-report-ready="1"' in dom  # the page's script ran to its end
    assert "Uncaught" not in r.stderr and not re.search(r"CONSOLE\(\d+\).*Error", r.stderr)
    for needle in ('id="memory-map"', 'id="stage-timeline"', 'id="process-tree"', "<table", "hello.exe",
                   "CreateProcessInternalW", "Execute/Read", "msvcrt.dll!"):
        assert needle in dom, needle


@needs_chromium
def test_screenshot_is_not_blank(report_pages, tmp_path, arch):
    _, page = report_pages[arch]
    png = tmp_path / "shot.png"
    # the summary (facts, behaviour) comes first, the memory map below it: a tall first screen holds both
    r = chromium(tmp_path, f"--screenshot={png}", "--window-size=1400,2000", page.as_uri())
    assert r.returncode == 0 and png.exists(), r.stderr[-2000:]
    data = png.read_bytes()
    assert len(data) > 20_000
    w, h, bpp, rows = decode_png(data)
    assert (w, h) == (1400, 2000)
    colours = set()
    for y in range(0, h, 7):
        row = rows[y]
        for x in range(0, w, 7):
            colours.add(row[x * bpp:x * bpp + 3])
    assert len(colours) > 30  # text, the header, the coloured memory bar: not a blank page
    # the VMMap colour of Image regions appears (the memory map is on the first screen, below the summary)
    assert any(abs(c[0] - 0x9B) < 12 and abs(c[1] - 0x59) < 12 and abs(c[2] - 0xD0) < 12 for c in colours)
