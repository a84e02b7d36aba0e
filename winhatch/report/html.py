"""`winhatch report out.json --html out.html`: one self-contained HTML page (no external resources) from a
JSON report: per process an SVG memory map (the address space as bars coloured by region type as VMMap does,
on a logarithmic scale so a 4 KiB TEB is as visible as a 2 GiB hole, modules named), the creation-stage
timeline (SVG), the process tree, the memory totals, and tables of modules, threads, API calls, file and
registry accesses and unimplemented APIs.
"""
from __future__ import annotations

import math
from html import escape
from pathlib import Path

from winhatch.report.memmap import COLOURS, TYPES

CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1c1e21}
header{background:#1f2937;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px} header p{margin:4px 0 0;color:#cbd5e1}
main{padding:8px 24px 40px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:16px 0;padding:12px 16px}
h2{font-size:17px;margin:4px 0 10px} h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border-bottom:1px solid #e5e7eb;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;position:sticky;top:0;cursor:pointer}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px}
.legend span{display:inline-block;margin:0 14px 4px 0;font-size:12.5px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border:1px solid #0003}
.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px;font-size:13px}
.kv b{font-weight:600}
.tree ul{list-style:none;padding-left:20px;margin:2px 0} .tree li::before{content:'└ ';color:#999}
.bad{color:#b91c1c;font-weight:600} .ok{color:#15803d;font-weight:600}
.scroll{max-height:420px;overflow:auto;border:1px solid #eee}
input.filter{margin:4px 0 8px;padding:4px 8px;width:320px;border:1px solid #ccc;border-radius:4px}
svg text{font-family:system-ui,sans-serif}
"""

SCRIPT = """
(function(){
  function sortTable(th){
    var table=th.closest('table'), idx=Array.prototype.indexOf.call(th.parentNode.children,th);
    var body=table.tBodies[0], rows=Array.prototype.slice.call(body.rows);
    var asc=th.dataset.asc!=='1'; th.dataset.asc=asc?'1':'0';
    rows.sort(function(a,b){
      var x=a.cells[idx].dataset.v||a.cells[idx].textContent, y=b.cells[idx].dataset.v||b.cells[idx].textContent;
      var nx=parseFloat(x), ny=parseFloat(y);
      var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
      return asc?c:-c;});
    rows.forEach(function(r){body.appendChild(r);});
  }
  document.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){sortTable(th);});});
  document.querySelectorAll('input.filter').forEach(function(inp){
    inp.addEventListener('input',function(){
      var t=document.getElementById(inp.dataset.table), q=inp.value.toLowerCase();
      Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
        r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});
    });
  });
  document.body.setAttribute('data-report-ready','1');
})();
"""


def _hex(v, width: int = 0) -> str:
    if v is None:
        return ""
    return f"0x{v:0{width}X}" if width else f"0x{v:X}"


def _size(n: int) -> str:
    for unit, k in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= k:
            v = n / k
            return f"{v:.1f} {unit}" if v < 100 and n % k else f"{n // k:,} {unit}"
    return f"{n} B"


def _table(tid: str, headers: list[tuple[str, bool]], rows: list[list], *, filter_box: bool = False,
           scroll: bool = True) -> str:
    """rows: lists of cells; a cell is text (escaped) or (text, sort_value)."""
    out = []
    if filter_box:
        out.append(f'<input class="filter" placeholder="filter…" data-table="{tid}">')
    out.append(f'<div class="{"scroll" if scroll else ""}"><table id="{tid}"><thead><tr>')
    out += [f'<th class="{"n" if num else ""}">{escape(h)}</th>' for h, num in headers]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>")
        for (_, num), cell in zip(headers, r):
            if isinstance(cell, tuple):
                text, v = cell
                out.append(f'<td class="{"n" if num else ""}" data-v="{escape(str(v))}">{escape(str(text))}</td>')
            else:
                out.append(f'<td class="{"n" if num else ""}">{escape(str(cell))}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


# -- the memory map --------------------------------------------------------------------------------------
def _region_width(r: dict) -> float:
    pages = max(r["size"] / 4096, 1)
    if r["type"] in ("Free", "Unusable"):
        return 3 + 1.5 * math.log2(pages)  # holes compressed: present, but never dominant
    return 8 + 7 * math.log2(pages)


def memory_svg(regions: list[dict], *, width: int = 1320, row_h: int = 34, gap: int = 30) -> str:
    """The address space as rows of bars, left to right in address order, each region's width a log
    function of its size; module names over their images."""
    if not regions:
        return "<p>(no address space)</p>"
    widths = [_region_width(r) for r in regions]
    label_w = 118
    usable = width - label_w - 10
    total = sum(widths)
    rows = max(1, math.ceil(total / usable))
    scale = total / (rows * usable)  # stretch so the rows are filled
    row, x = 0, 0.0
    # lay out: (row, x, w) pieces; a region that does not fit is split over the row end
    pieces = []
    for r, w in zip(regions, widths):
        w = w / scale
        while w > 0:
            room = usable - x
            take = min(w, room)
            pieces.append((r, row, x, take))
            x += take
            w -= take
            if x >= usable - 1e-6:
                row, x = row + 1, 0.0
    nrows = max(p[1] for p in pieces) + 1
    height = nrows * (row_h + gap) + 8
    out = [f'<svg id="memory-map" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="memory map">']
    first_in_row: dict[int, int] = {}
    for r, rw, px, pw in pieces:
        first_in_row.setdefault(rw, r["base"])
    addr_w = 16 if any(r["base"] + r["size"] > (1 << 32) for r in regions if r["type"] not in ("Free", "Unusable")) else 8
    for rw, base in first_in_row.items():
        y = rw * (row_h + gap) + 4
        out.append(f'<text x="4" y="{y + row_h / 2 + 4:.1f}" font-size="11" fill="#444" '
                   f'font-family="monospace">{base:0{addr_w}X}</text>')
    for r, rw, px, pw in pieces:
        y = rw * (row_h + gap) + 4
        colour = COLOURS.get(r["type"], "#999")
        tip = (f"{r['base']:0{addr_w}X}–{r['base'] + r['size']:0{addr_w}X}  {r['type']}  {_size(r['size'])}"
               f"  {r['state']}  {r.get('protection') or ''}  {r.get('details') or ''}")
        out.append(f'<rect class="region" data-type="{escape(r["type"])}" x="{label_w + px:.2f}" y="{y}" '
                   f'width="{max(pw, 0.6):.2f}" height="{row_h}" fill="{colour}" stroke="#fff" stroke-width="0.6">'
                   f'<title>{escape(tip)}</title></rect>')
    # labels: one per allocation (modules, stacks, heaps, PEB/TEB…) over its pieces in the first row it spans
    spans: dict[tuple, list] = {}
    for r, rw, px, pw in pieces:
        if r["type"] in ("Free", "Unusable"):
            continue
        key = (r["type"], r.get("allocation_base", r["base"]), rw)
        s = spans.setdefault(key, [px, px + pw, r])
        s[0], s[1] = min(s[0], px), max(s[1], px + pw)
    done = set()
    below: dict[tuple[int, int], float] = {}  # (row, line) → where the last label below the bar ends
    for (typ, ab, rw), (x0, x1, r) in spans.items():
        if (typ, ab) in done:
            continue
        done.add((typ, ab))
        name = r.get("module") or {"Stack": f"stack {r.get('thread')}", "TEB": f"TEB {r.get('thread')}",
                                   "PEB": "PEB", "Heap": "heap", "Shareable": "KUSER",
                                   "Private Data": r.get("details") or "private"}.get(typ, typ)
        y = rw * (row_h + gap) + 4
        w = x1 - x0
        if w >= len(name) * 6.2:
            out.append(f'<text x="{label_w + (x0 + x1) / 2:.1f}" y="{y + row_h / 2 + 4:.1f}" font-size="11" '
                       f'text-anchor="middle" fill="#fff" font-weight="600">{escape(name)}</text>')
        else:
            text = name[:24]
            for line in range(2):  # two lines of labels under the bar; a label that fits on neither is left
                if below.get((rw, line), -1e9) <= x0:  # to the region's tooltip
                    below[(rw, line)] = x0 + len(text) * 5.6 + 4
                    out.append(f'<text x="{label_w + x0 + 1:.1f}" y="{y + row_h + 11 + 11 * line:.1f}" '
                               f'font-size="10" fill="#333">{escape(text)}</text>')
                    break
    out.append("</svg>")
    return "".join(out)


def legend(totals: dict) -> str:
    out = ['<div class="legend">']
    for t in TYPES:
        tt = totals.get(t, {})
        if not tt.get("blocks"):
            continue
        out.append(f'<span><i style="background:{COLOURS[t]}"></i>{escape(t)} {_size(tt["size"])}</span>')
    out.append("</div>")
    return "".join(out)


# -- the stage timeline ----------------------------------------------------------------------------------
def timeline_svg(stages: list[dict], *, width: int = 1320, row_h: int = 18) -> str:
    """One row per creation-stage event (indented by depth), a bar from its start to the next event at the
    same or an outer depth (the step and its sub-steps), on host time — emulated time when it advances."""
    if not stages:
        return "<p>(no stage events)</p>"
    use_emulated = len({s["time"] for s in stages}) > 1
    key = "time" if use_emulated else "host_time"
    unit = 1e-4 if use_emulated else 1e3  # → ms
    t0 = stages[0][key]
    times = [(s[key] - t0) * unit for s in stages]
    end = max(times) if max(times) > 0 else 1.0
    span_end = []
    for i, s in enumerate(stages):
        t_end = end
        for j in range(i + 1, len(stages)):
            if stages[j]["depth"] <= s["depth"]:
                t_end = times[j]
                break
        span_end.append(max(t_end, times[i]))
    label_w = 330
    plot = width - label_w - 20
    height = len(stages) * row_h + 34
    out = [f'<svg id="stage-timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="stage timeline">']
    for k in range(6):  # axis
        x = label_w + plot * k / 5
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#e5e7eb"/>'
                   f'<text x="{x:.1f}" y="{height - 6}" font-size="10" text-anchor="middle" fill="#555">'
                   f'{end * k / 5:.2f} ms</text>')
    palette = {"stage": "#0e7490", "process": "#1f2937", "thread": "#6d28d9"}
    for i, s in enumerate(stages):
        y = i * row_h + 2
        x0 = label_w + plot * times[i] / end
        x1 = label_w + plot * span_end[i] / end
        colour = palette.get(s.get("kind") or s.get("category"), "#0e7490")
        details = " ".join(f"{k}={v}" for k, v in (s.get("data") or {}).items())
        tip = f"{s['name']} pid {s['pid']} tid {s['tid']} @ {times[i]:.3f} ms  {details}"
        out.append(f'<g class="stage"><title>{escape(tip[:600])}</title>'
                   f'<text x="{4 + 14 * s["depth"]}" y="{y + row_h - 5}" font-size="12" fill="#111">'
                   f'{escape(s["name"])}</text>'
                   f'<rect x="{x0:.2f}" y="{y + 3}" width="{max(x1 - x0, 2):.2f}" height="{row_h - 6}" rx="2" '
                   f'fill="{colour}" opacity="0.85"/></g>')
    out.append("</svg>")
    return "".join(out)


# -- the process tree ------------------------------------------------------------------------------------
def process_tree_html(tree: list[dict]) -> str:
    children: dict = {}
    pids = {p["pid"] for p in tree}
    roots = []
    for p in tree:
        if p["parent_pid"] in pids and p["parent_pid"] != p["pid"]:
            children.setdefault(p["parent_pid"], []).append(p)
        else:
            roots.append(p)

    def node(p, depth=0) -> str:
        status = "" if p.get("exit_status") is None else f" — exit {_hex(p['exit_status'])}"
        kind = "" if p["guest"] else ' <span style="color:#888">(system)</span>'
        sub = "".join(node(c, depth + 1) for c in children.get(p["pid"], []) if depth < 64)
        return (f'<li><b>{escape(p["image_name"])}</b> pid {p["pid"]}{kind}{escape(status)}'
                + (f"<ul>{sub}</ul>" if sub else "") + "</li>")

    return '<div class="tree" id="process-tree"><ul>' + "".join(node(r) for r in roots) + "</ul></div>"


# -- the page --------------------------------------------------------------------------------------------
def _process_section(p: dict, idx: int) -> str:
    out = [f'<section id="process-{p["pid"]}"><h2>{escape(p.get("image_name") or p["image"])} '
           f'<span style="font-weight:400">pid {p["pid"]} ({escape(str(p.get("arch")))})</span></h2>']
    st = p.get("exit_status")
    out.append('<div class="kv">')
    for k, v in (("Image", p["image"]), ("Command line", p["command_line"]), ("Parent pid", p["parent_pid"]),
                 ("Exit status", "(running)" if st is None else f"{st} ({_hex(st)})" + (
                     f" {p['exit_status_name']}" if str(p.get("exit_status_name") or "").startswith("STATUS_") else ""))):
        out.append(f"<b>{escape(k)}</b><span class=\"mono\">{escape(str(v))}</span>")
    if p.get("crash"):
        out.append(f'<b>Crash</b><span class="bad">{escape(str(p["crash"].get("code_name")))} at '
                   f'{escape(str(p["crash"].get("where")))}</span>')
    if p.get("startup_error"):
        out.append(f'<b>Start-up error</b><span class="bad">{escape(str(p["startup_error"].get("message")))}</span>')
    out.append("</div>")

    out.append("<h3>Memory map at exit</h3>")
    out.append(legend(p.get("memory_totals") or {}))
    out.append(memory_svg(p["memory_map"]))
    tot = p.get("memory_totals") or {}
    rows = [[t, (_size(v["size"]), v["size"]), (_size(v["committed"]), v["committed"]),
             (_size(v["reserved"]), v["reserved"]), v["blocks"]]
            for t, v in tot.items() if v.get("blocks")]
    out.append(_table(f"memory-totals-{idx}", [("Type", False), ("Size", True), ("Committed", True),
                                                ("Reserved", True), ("Blocks", True)], rows, scroll=False))
    aw = 16 if p.get("arch") == "x64" else 8
    rows = [[(_hex(r["base"], aw), r["base"]), r["type"], (_size(r["size"]), r["size"]),
             r["state"].replace("MEM_", "").capitalize(), r.get("protection") or "", r.get("details") or ""]
            for r in p["memory_map"]]
    out.append("<h3>Regions</h3>")
    out.append(_table(f"regions-{idx}", [("Address", False), ("Type", False), ("Size", True), ("State", False),
                                         ("Protection", False), ("Details", False)], rows, filter_box=True))

    out.append("<h3>Creation stages</h3>")
    out.append(timeline_svg(p["stages"]))

    out.append("<h3>Modules</h3>")
    rows = [[m["name"], (_hex(m["base"], aw), m["base"]), (_size(m["size"]), m["size"]),
             m.get("load_count") if m.get("load_count") is not None else "", m["path"]] for m in p["modules"]]
    out.append(_table(f"modules-{idx}", [("Name", False), ("Base", False), ("Size", True), ("Load count", True),
                                         ("Path", False)], rows, scroll=False))

    out.append("<h3>Threads</h3>")
    rows = [[t["tid"], _hex(t["start_address"]), _hex(t.get("teb")),
             "" if t["exit_status"] is None else _hex(t["exit_status"])] for t in p["threads"]]
    out.append(_table(f"threads-{idx}", [("Tid", True), ("Start", False), ("TEB", False), ("Exit status", False)],
                      rows, scroll=False))

    out.append("<h3>API calls</h3>")
    summary = p.get("api_summary") or {}
    rows = [[api, n] for api, n in summary.items()]
    out.append(_table(f"api-summary-{idx}", [("API", False), ("Calls", True)], rows))
    rows = [[c["seq"], c["tid"], c["api"], ", ".join(f"{k}={_short(v)}" for k, v in c["args"].items()),
             _short(c["ret"]) if "ret" in c else "", c.get("caller") or ""] for c in p["api_calls"][:2000]]
    more = len(p["api_calls"]) - 2000 + p.get("api_calls_dropped", 0)
    out.append(_table(f"api-calls-{idx}", [("#", True), ("Tid", True), ("API", False), ("Arguments", False),
                                           ("Returned", False), ("Caller", False)], rows, filter_box=True))
    if more > 0:
        out.append(f"<p>… and {more} more calls (in the JSON report's api_calls / api_summary).</p>")

    unimpl = p.get("unimplemented_apis") or []
    out.append("<h3>Unimplemented APIs</h3>")
    if unimpl:
        out.append(_table(f"unimplemented-{idx}", [("API", False), ("Caller", False)],
                          [[u.get("api"), u.get("caller") or ""] for u in unimpl], scroll=False))
    else:
        out.append('<p class="ok">none called</p>')

    for title, key in (("Files", "files"), ("Registry", "registry")):
        items = p.get(key) or []
        out.append(f"<h3>{title} ({len(items)})</h3>")
        rows = [[e.get("op"), e.get("path"), _hex(e.get("status"), 8)] for e in items[:5000]]
        out.append(_table(f"{key}-{idx}", [("Operation", False), ("Path", False), ("Status", False)], rows,
                          filter_box=len(items) > 20))
    out.append("</section>")
    return "".join(out)


def _short(v, limit: int = 80) -> str:
    s = f"0x{v:x}" if isinstance(v, int) and not isinstance(v, bool) and v > 0xFFFF else repr(v) \
        if isinstance(v, str) else str(v)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def summary_html(doc: dict) -> str:
    """The top of the page: the sample's facts, the outcome, the behaviour summary, and a crash's registers,
    stack walk and exception record."""
    out = ['<section id="summary"><h2>Summary</h2>']
    s = doc.get("sample") or {}
    res = doc.get("result") or {}
    facts = [("Outcome", res.get("outcome")), ("Exit status", _hex(res["exit_status"])
                                              if res.get("exit_status") is not None else None),
             ("Size", s.get("size")), ("SHA-256", s.get("sha256")), ("SHA-1", s.get("sha1")), ("MD5", s.get("md5")),
             ("Imphash", s.get("imphash")), ("Compiled", s.get("compile_time")), ("Architecture", s.get("arch"))]
    out.append(_table("facts", [("Fact", False), ("Value", False)],
                      [[k, v] for k, v in facts if v is not None], scroll=False))
    b = doc.get("behaviour") or {}
    rows = []
    for p in (b.get("processes") or {}).get("started", []):
        rows.append(["process started", p.get("command_line") or p.get("image"), f"pid {p.get('pid')}"])
    for p in (b.get("processes") or {}).get("failed", []):
        rows.append(["process failed", p.get("command_line"), p.get("api")])
    for f in (b.get("files") or {}).get("written", []):
        rows.append([f"file {f.get('how')}", f.get("path"),
                     f"{f.get('size')} bytes, sha256 {f.get('sha256')}" if f.get("sha256") else ""])
    for f in (b.get("files") or {}).get("deleted", []):
        rows.append(["file deleted", f.get("path"), ""])
    for f in (b.get("files") or {}).get("renamed", []):
        rows.append(["file renamed", f.get("from"), f"→ {f.get('to')}"])
    for f in b.get("dropped") or []:       # files written or deleted, with hashes
        kept = f" (kept as dropped/{f.get('kept')})" if f.get("kept") else ""
        rows.append([f"dropped file {f.get('state')}", f.get("path"),
                     (f"{f.get('size')} bytes, sha256 {f.get('sha256')}" if f.get("sha256") else "") + kept])
    for r in (b.get("registry") or {}).get("set", []):
        rows.append(["registry value set", f"{r.get('key')}\\{r.get('value') or '(default)'}", _short(r.get("data"), 120)])
    for r in (b.get("registry") or {}).get("deleted", []):
        rows.append(["registry deleted", r.get("key"), r.get("value") or ""])
    for o in b.get("named_objects") or []:
        rows.append([f"{o.get('type')} {'created' if o.get('created') else 'opened'}", o.get("name"), o.get("api")])
    for p in b.get("persistence") or []:
        rows.append([f"persistence: {p.get('kind')}", p.get("where"), _short(p.get("data"), 120)])
    for i in b.get("injection") or []:
        rows.append(["injection", f"{i.get('service')} into pid {i.get('target_pid')} ({i.get('target_image')})",
                     ", ".join(f"{k}={_short(v)}" for k, v in i.items()
                               if k not in ("service", "source_pid", "target_pid", "target_image"))])
    for g in b.get("generated_code") or []:
        rows.append(["executable memory", f"{_hex(g.get('base'))} +{_hex(g.get('size'))}",
                     f"{g.get('service')} protect {_hex(g.get('protect'))}"])
    for g in b.get("executed_code") or []:
        rows.append(["code run after being written", f"{_hex(g.get('address'))} (page {_hex(g.get('page'))} of "
                     f"{_hex(g.get('base'))} +{_hex(g.get('size'))})",
                     f"round {g.get('round')}, protect {_hex(g.get('protect'))}"
                     + (", tracking stopped" if g.get("untracked") else "")])
    for e in b.get("event_log") or []:
        if e.get("action") == "clear":
            rows.append(["event log cleared" if not e.get("error") else "event log clear attempted", e.get("log"),
                         f"error {e.get('error')}" if e.get("error") else f"{e.get('records')} records"])
        else:
            rows.append(["event log written", f"{e.get('log')}: {e.get('source')}",
                         f"event {e.get('event_id')} type {e.get('type')}: "
                         + _short(" | ".join(e.get("strings") or []), 120)])
    for sv in b.get("services") or []:
        rows.append([f"service {sv.get('action')}" + (" attempted" if sv.get("error") else ""), sv.get("service"),
                     (f"error {sv.get('error')}" if sv.get("error") else "")
                     + (f", {sv.get('binary_path')}" if sv.get("binary_path") else "")])
    net = b.get("network") or {}
    for name in net.get("dns") or []:
        rows.append(["DNS query", name, ""])
    for req in net.get("http") or []:
        rows.append(["HTTP request", req, ""])
    for a in b.get("anti_analysis") or []:
        rows.append([f"anti-analysis: {a.get('check')}", a.get("api") or "", a.get("detail") or ""])
    out.append("<h3>Behaviour</h3>")
    out.append(_table("behaviour", [("What", False), ("Where", False), ("Details", False)], rows, filter_box=True)
               if rows else "<p>Nothing of note: no process, file, registry, injection or anti-analysis activity.</p>")
    for p in doc.get("processes") or []:
        cr = p.get("crash")
        if not cr:
            continue
        out.append(f"<h3>Crash in {escape(str(p.get('image_name')))} (pid {p.get('pid')})</h3>")
        out.append(f'<p class="bad">{escape(str(cr.get("code_name")))} ({_hex(cr.get("code"))}) at '
                   f'{escape(str(cr.get("where")))}: {escape(str(cr.get("instruction")))}'
                   f'{" — " + escape(str(cr.get("description"))) if cr.get("description") else ""}</p>')
        regs = cr.get("context") or {}
        out.append(_table(f"crash-regs-{p.get('pid')}", [("Register", False), ("Value", False)],
                          [[k, _hex(v)] for k, v in regs.items()], scroll=False))
        out.append(_table(f"crash-stack-{p.get('pid')}", [("Frame", True), ("PC", False), ("Where", False),
                                                          ("SP", False)],
                          [[i, _hex(f.get("pc")), f.get("where"), _hex(f.get("sp"))]
                           for i, f in enumerate(cr.get("stack") or [])], scroll=False))
        rec = cr.get("record") or {}
        if rec:
            out.append(_table(f"crash-record-{p.get('pid')}", [("EXCEPTION_RECORD", False), ("Value", False)],
                              [["ExceptionCode", _hex(rec.get("code"))], ["ExceptionFlags", _hex(rec.get("flags"))],
                               ["ExceptionAddress", _hex(rec.get("address"))],
                               ["ExceptionInformation", ", ".join(_hex(x) for x in rec.get("parameters") or [])]],
                              scroll=False))
    out.append("</section>")
    return "".join(out)


def network_html(net: dict) -> str:
    """The guest's network activity: DNS questions, HTTP requests, connections, UDP datagrams."""
    ad = net.get("adapter") or {}
    out = ['<section id="network"><h2>Network</h2>',
           f"<p>{escape(str(net.get('mode')))} network · adapter {escape(str(ad.get('address')))} · "
           f"DNS server {escape(str(ad.get('dns_server')))} · {net.get('packets', 0)} packets in the capture</p>"]
    if net.get("dns"):
        out += ["<h3>DNS</h3>", _table("net-dns", [("Name", False), ("Type", False), ("Answers", False)],
                                       [[d["name"], d["type"], ", ".join(d["answers"]) or "—"] for d in net["dns"]],
                                       filter_box=True)]
    if net.get("http"):
        out += ["<h3>HTTP</h3>", _table(
            "net-http", [("Host", False), ("Method", False), ("Path", False), ("Status", True), ("Sent", True),
                         ("Received", True), ("Server", False)],
            [[h["host"], h["method"], _short(h["path"]), h["status"], h["body_bytes"], h["response_bytes"],
              h["server"]] for h in net["http"]], filter_box=True)]
    if net.get("connections"):
        out += ["<h3>TCP connections</h3>", _table(
            "net-tcp", [("Client", False), ("Server", False), ("Host", False), ("Responder", False),
                        ("Sent", True), ("Received", True), ("First bytes sent", False)],
            [[f["client"], f["server"], f.get("host") or "", f["responder"] + (" (refused)" if f["refused"] else ""),
              f.get("bytes_sent", 0), f.get("bytes_received", 0), _short(f.get("sent_preview", ""))]
             for f in net["connections"]], filter_box=True)]
    if net.get("udp"):
        out += ["<h3>UDP</h3>", _table("net-udp", [("From", False), ("To", False), ("Bytes", True), ("Note", False)],
                                       [[u["src"], u["dst"], u["bytes"], u.get("note") or ""] for u in net["udp"]],
                                       filter_box=True)]
    out.append("</section>")
    return "".join(out)


def render_html(doc: dict) -> str:
    prog = doc.get("program") or {}
    res = doc.get("result") or {}
    title = Path(str(prog.get("path") or "run")).name
    st = res.get("exit_status")
    summary = (f"exit status {_hex(st)}" if st is not None else "did not exit") + \
              (f" — {res['error']}" if res.get("error") else "")
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>winhatch report — {escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<header><h1>winhatch report — {escape(title)}</h1>",
        f"<p>{escape(' '.join([str(prog.get('path') or '')] + list(prog.get('args') or [])))} · "
        f"{escape(summary)} · schema {escape(str(doc.get('schema_version')))} · "
        f"{escape(str((doc.get('generator') or {}).get('name')))} "
        f"{escape(str((doc.get('generator') or {}).get('version')))}</p></header><main>",
        summary_html(doc),
        "<section><h2>Process tree</h2>", process_tree_html(doc.get("process_tree") or []),
        "<h3>Events</h3>",
        _table("event-counts", [("Category", False), ("Events", True)],
               [[k, v] for k, v in sorted((doc.get("event_counts") or {}).items())], scroll=False),
        "</section>",
    ]
    for i, p in enumerate(doc.get("processes") or []):
        parts.append(_process_section(p, i))
    if doc.get("network"):
        parts.append(network_html(doc["network"]))
    parts.append(f"</main><script>{SCRIPT}</script></body></html>")
    return "".join(parts)


def write_html(doc: dict, path) -> None:
    Path(path).write_text(render_html(doc), encoding="utf-8")
