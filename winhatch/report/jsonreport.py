"""`winhatch run --report out.json`: one versioned JSON document describing a run, validated by the JSON
Schema in docs/report-schema.json.

    from winhatch.report.jsonreport import build_report
    doc = build_report(result)          # result: winhatch.runner.RunResult

Per guest process: its creation stages (with the parent-side stages of CreateProcess that created it), the
modules the loader has, its threads, the memory map at exit (VMMap types), the API calls, the file and
registry accesses, and the APIs it called that winhatch does not implement.
"""
from __future__ import annotations

import json
from pathlib import Path

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "report-schema.json"
MAX_API_CALLS = 20_000  # per process; the rest are counted in api_calls_dropped

HEADER = ("seq", "category", "name", "pid", "tid", "time", "host_time", "depth")


def jsonable(v, _depth: int = 0):
    """Event data → plain JSON types (bytes as hex, sets/tuples as lists, other objects as str)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if _depth > 20:
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): jsonable(x, _depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x, _depth + 1) for x in v]
    return str(v)


def _event(e) -> dict:
    return {"seq": e.seq, "name": e.name, "category": e.category, "pid": e.pid, "tid": e.tid, "time": e.time,
            "host_time": round(e.host_time, 6), "depth": e.depth, "data": jsonable(e.data)}


def _split_stage_events(events, guest_pids: set[int]) -> dict[int, list]:
    """Stage/process/thread events per guest pid. The parent-side stages of CreateProcessInternalW (emitted
    in the parent, or before the new process has an id) belong to the process they create: they are held
    from CreateProcessInternalW until that process's process_create event."""
    out: dict[int, list] = {p: [] for p in guest_pids}
    pending: list | None = None
    for e in events:
        if e.category not in ("stage", "process", "thread"):
            continue
        if e.category == "stage" and e.name == "CreateProcessInternalW":
            pending = [e]
            continue
        if e.category == "process" and e.name == "process_create" and e.pid in out:
            if pending:
                out[e.pid].extend(pending)
            pending = None
            out[e.pid].append(e)
            continue
        if pending is not None and e.pid not in out:
            pending.append(e)
        elif e.pid in out:
            out[e.pid].append(e)
    return out


def _stage(e) -> dict:
    d = _event(e)
    d["kind"] = e.category
    return d


def _modules(proc) -> list[dict]:
    st = proc.subsystem.get("ldr")
    if st is None:
        return []
    return [{"name": m.name, "path": m.path, "base": m.base, "size": m.size,
             "load_count": getattr(m, "load_count", None), "hint_hits": getattr(m, "hint_hits", None),
             "hint_misses": getattr(m, "hint_misses", None)} for m in st.modules]


def _threads(proc) -> list[dict]:
    out = []
    for t in proc.threads:
        st = t.stack
        out.append({"tid": t.tid, "start_address": t.start_address, "teb": t.teb, "initial": bool(t.initial),
                    "exit_status": t.exit_status if t.terminated else None,
                    "stack_base": getattr(st, "base", None), "stack_limit": getattr(st, "limit", None)})
    return out


def process_report(proc, events, machine, stage_events: list) -> dict:
    from winhatch.ntstatus import status_name
    from winhatch.report import memmap

    api_calls, dropped, per_api = [], 0, {}
    for e in events:
        if e.category != "api" or e.pid != proc.pid or e.name != "call":
            continue
        api = str(e.data.get("api"))
        per_api[api] = per_api.get(api, 0) + 1
        if len(api_calls) >= MAX_API_CALLS:
            dropped += 1
            continue
        call = {"seq": e.seq, "tid": e.tid, "time": e.time, "api": api, "args": jsonable(e.data.get("args") or {}),
                "caller": e.data.get("caller")}
        if "ret" in e.data:
            call["ret"] = jsonable(e.data["ret"])
        api_calls.append(call)
    # system services per service, as ETW's syscall provider counts them (an unknown number by its number)
    per_service: dict[str, int] = {}
    for e in events:
        if e.category == "syscall" and e.pid == proc.pid and e.name == "call":
            svc = e.data.get("service") or f"<invalid service {e.data.get('number', 0):#x}>"
            per_service[svc] = per_service.get(svc, 0) + 1
    regions = memmap.memory_map(proc.aspace) if proc.aspace is not None else []
    exit_status = proc.exit_status if proc.exited else None
    return {
        "pid": proc.pid,
        "parent_pid": proc.inherited_from_pid,
        "image": proc.image_path,
        "image_name": proc.image_name,
        "command_line": proc.command_line,
        "arch": proc.arch,
        "exit_status": exit_status,
        "exit_status_name": status_name(exit_status) if exit_status is not None else None,
        "stages": [_stage(e) for e in stage_events],
        "modules": _modules(proc),
        "threads": _threads(proc),
        "memory_map": [r.to_dict() for r in regions],
        "memory_totals": memmap.totals(regions),
        "api_calls": api_calls,
        "api_calls_dropped": dropped,
        "api_summary": dict(sorted(per_api.items(), key=lambda kv: (-kv[1], kv[0]))),
        "syscall_summary": dict(sorted(per_service.items(), key=lambda kv: (-kv[1], kv[0]))),
        "loader": [_event(e) for e in events if e.category == "loader" and e.pid == proc.pid],
        "exceptions": [_event(e) for e in events if e.category == "exception" and e.pid == proc.pid],
        "files": jsonable(list(getattr(machine.vfs, "log", []))),
        "registry": jsonable(list(getattr(machine.registry, "log", []))),
        "unimplemented_apis": jsonable(list(proc.subsystem.get("unimplemented", []))),
        "crash": jsonable(getattr(proc, "crash", None)),
        "startup_error": jsonable(getattr(proc, "startup_error", None)),
    }


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("winhatch")
    except Exception:  # not installed (running from a source tree)
        from winhatch import __version__
        return __version__


def build_report(result, *, program: str | None = None, args=()) -> dict:
    """The report of one run (a `RunResult`)."""
    machine = result.machine
    events = list(result.events or [])
    doc = {
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "winhatch", "version": _version()},
        "program": {"path": str(program) if program is not None else None, "args": [str(a) for a in args]},
        "sample": _sample(program),
        "behaviour": _behaviour(result),
        "result": {"exit_status": result.exit_status, "outcome": _outcome(result), "error": result.error,
                   "stdout_bytes": len(result.stdout),
                   "stderr_bytes": len(result.stderr)},
        "dropped_files": jsonable(getattr(result, "dropped", None)),
        "event_counts": {},
        "events_dropped": getattr(getattr(machine, "events", None), "dropped", 0),
        "process_tree": [],
        "processes": [],
    }
    for e in events:
        doc["event_counts"][e.category] = doc["event_counts"].get(e.category, 0) + 1
    if machine is None:
        return doc
    guests = [p for p in machine.processes if p.arch is not None]
    doc["process_tree"] = [{"pid": p.pid, "parent_pid": p.inherited_from_pid if p.parent is not None else None,
                            "image_name": p.image_name, "guest": p.arch is not None,
                            "exit_status": p.exit_status if p.exited else None} for p in machine.processes]
    stages = _split_stage_events(events, {p.pid for p in guests})
    doc["processes"] = [process_report(p, events, machine, stages.get(p.pid, [])) for p in guests]
    net = getattr(machine, "net", None)
    if net is not None:
        doc["network"] = {"mode": net.mode,
                          "adapter": {"address": net.ip, "netmask": net.netmask, "gateway": net.gateway,
                                      "dns_server": net.dns_server},
                          **jsonable(net.capture.to_report())}
        if doc.get("behaviour") is not None:     # the summary names the hosts and requests at a glance
            n = doc["network"]
            doc["behaviour"]["network"] = {
                "dns": sorted({d.get("name") for d in n.get("dns") or [] if d.get("name")}),
                "http": [f"{h.get('method')} {h.get('host')}{h.get('path')} -> {h.get('status')}"
                         for h in n.get("http") or []][:200],
                "connections": sorted({f"{c.get('host') or c.get('server')}" for c in n.get("connections") or []})[:200],
            }
    return doc


def _behaviour(result) -> dict | None:
    if getattr(result, "machine", None) is None:
        return None
    from winhatch.report.behaviour import behaviour_summary
    return behaviour_summary(result)


def _outcome(result) -> str | None:
    try:
        return result.outcome
    except AttributeError:      # a result object without it (an old pickled run)
        return None


def _sample(program) -> dict | None:
    if program is None:
        return None
    from winhatch.report.sample import sample_facts
    try:
        return sample_facts(program)
    except OSError:
        return None


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(doc: dict) -> None:
    """Validate against docs/report-schema.json (needs the `jsonschema` package, a test dependency)."""
    import jsonschema

    jsonschema.validate(doc, load_schema())


#: a list longer than this is written one compact item per line (the events, the API calls): json's indented
#: output is its pure-Python encoder, ~5x slower than the compact C one, and a report is written on the way
#: out of a run (a Ctrl-C must not wait seconds for it)
_LONG_LIST = 32


def _dumps(v, depth: int = 0) -> str:
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(v, dict) and v:
        items = [f"{inner}{json.dumps(str(k))}: {_dumps(x, depth + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, (list, tuple)) and v:
        if len(v) > _LONG_LIST:
            items = [inner + json.dumps(x, separators=(", ", ": ")) for x in v]
        else:
            items = [inner + _dumps(x, depth + 1) for x in v]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(v)


def write(doc: dict, path) -> None:
    """The report as indented JSON; long lists (events, API calls) one item per line."""
    Path(path).write_text(_dumps(doc) + "\n", encoding="utf-8")


def load(path) -> dict:
    """Read a report; a file that is not a winhatch report raises ValueError with the reason."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not JSON ({e})") from None
    if not isinstance(doc, dict) or "schema_version" not in doc or not isinstance(doc.get("processes"), list):
        raise ValueError(f"{path}: not a winhatch report (no schema_version / processes)")
    major = str(doc["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise ValueError(f"{path}: report schema version {doc['schema_version']} is not supported "
                         f"(this winhatch writes {SCHEMA_VERSION})")
    return doc
