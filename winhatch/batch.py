"""`winhatch batch`: a corpus of samples, each run in its own worker process under the run limits.

    winhatch batch samples/ more.exe --out results/ -j 2
    winhatch batch --list samples.txt --out results/ --ray auto

Every sample is run by `execute()`: a fresh `winhatch run` process in a private temporary folder, with the
guest limits (``--timeout``, ``--max-instructions``, ``--max-memory``) and a host bound on the worker (its
resident memory, a hard wall-clock limit, its output size) that kills it when crossed.  `execute()` takes the
sample's bytes and returns the report files as bytes, so the same function serves the local process pool and
Ray tasks on other machines, and the driver alone writes the output folder:

    OUT/<name>-<sha256[:12]>/report.json   the run's JSON report (docs/report-schema.json)
                             report.html   with --html
                             stdout.txt, stderr.txt   the guest's output (the first MiB of each)
                             result.json   this sample's summary line
    OUT/summary.jsonl                      one line per sample, in input order

A sample whose result.json exists is not run again (a second batch over the same folder only runs what is new
or was interrupted).  A sample that crashes the guest, hangs, runs out of memory or is refused as a malformed
image is recorded as such; it never stops the batch.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: how a sample ended, in the summary's ``status`` field
STATUSES = {
    "exited": "the guest process ran to its exit (exit_code is its status)",
    "crashed": "the guest ended on an unhandled exception",
    "unimplemented": "the guest called an API winhatch does not implement (first_unimplemented)",
    "startup-failed": "the process did not start (a missing DLL or export, a failing DllMain…)",
    "refused": "not a loadable image: the reason Windows would give, with its NTSTATUS",
    "limit": "a guest budget ran out (--timeout, --max-instructions)",
    "deadlock": "no guest thread could run again",
    "hung": "the worker did not finish within the hard wall-clock limit and was killed",
    "memory": "the worker's host memory passed --worker-memory and it was killed",
    "internal-error": "winhatch itself failed on this sample (a bug to report)",
}

OUTPUT_KEEP = 1 << 20          # bytes of the guest's stdout/stderr kept per sample
OUTPUT_KILL = 256 << 20        # a worker writing more than this is stopped (a guest printing without end)
MAX_WALK = 1_000_000           # directory entries looked at per path (a bound on what a path can expand to)


@dataclass
class Options:
    timeout: float = 60.0                 # guest wall-clock budget (winhatch run --timeout)
    max_instructions: int | None = None
    max_memory: str | None = None         # the guest machine's commit limit (winhatch run --max-memory)
    worker_memory: int = 2 << 30          # host resident memory per worker before it is killed
    grace: float = 30.0                   # hard limit = timeout + grace, then SIGINT, then SIGKILL
    html: bool = False


@dataclass
class Sample:
    path: str             # as given (the summary names samples by it)
    name: str             # the file name the guest sees
    sha256: str
    size: int
    key: str = field(default="")   # the output sub-folder

    def __post_init__(self):
        if not self.key:
            stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name)[:60] or "sample"
            self.key = f"{stem}-{self.sha256[:12]}"


# ------------------------------------------------------------------------------------------- collecting
def _is_pe_candidate(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(2) == b"MZ"
    except OSError:
        return False


def collect(paths: list[str], list_file: str | None = None) -> list[Path]:
    """The samples: each file given, every file starting with 'MZ' under each directory (sorted, symbolic
    links not followed), and each line of `list_file` (blank lines and # comments skipped).  Duplicates (the
    same path twice) are dropped; the same content under two names stays two samples."""
    out: list[Path] = []
    given = list(paths)
    if list_file:
        with open(list_file, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    given.append(line)
    seen: set[str] = set()

    def add(p: Path) -> None:
        k = str(p.resolve())
        if k not in seen:
            seen.add(k)
            out.append(p)

    for g in given:
        p = Path(g)
        if p.is_dir():
            n = 0
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs.sort()
                for fn in sorted(files):
                    n += 1
                    if n > MAX_WALK:
                        raise ValueError(f"{g}: more than {MAX_WALK} files")
                    fp = Path(root) / fn
                    if not fp.is_symlink() and fp.is_file() and _is_pe_candidate(fp):
                        add(fp)
        elif p.is_file():
            add(p)
        else:
            raise FileNotFoundError(f"{g}: no such file or directory")
    return out


def describe(p: Path) -> Sample:
    data = p.read_bytes()
    return Sample(path=str(p), name=p.name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


# ------------------------------------------------------------------------------------------- one sample
def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _iocs(report: dict) -> dict:
    """What the sample did, counted from its report: processes it started, files it created, overwrote or
    deleted, registry keys it created or deleted, network connections."""
    procs = report.get("processes") or []
    files_written = files_deleted = reg_written = conns = 0
    for p in procs:
        for f in p.get("files") or []:
            if f.get("status") != 0:
                continue
            op = f.get("op")
            if op == "open" and f.get("info") in (0, 2, 3):   # FILE_SUPERSEDED, FILE_CREATED, FILE_OVERWRITTEN
                files_written += 1
            elif op == "rename":
                files_written += 1
            elif op in ("delete", "rmdir"):
                files_deleted += 1
        for r in p.get("registry") or []:
            if r.get("status") == 0 and r.get("op") in ("create_key", "delete_key", "set_value", "delete_value"):
                reg_written += 1
        conns += len(p.get("network") or [])
    net = report.get("network")
    if isinstance(net, dict):
        conns = max(conns, len(net.get("connections") or []))
    return {"processes": max(0, len(procs) - 1), "files_written": files_written, "files_deleted": files_deleted,
            "registry_written": reg_written, "connections": conns}


def classify(report: dict | None, rc: int | None, stderr: str, killed: str | None) -> dict:
    """The summary fields of one run: status (STATUSES), exit_code, first_unimplemented, error, arch, iocs."""
    out = {"status": None, "exit_code": None, "first_unimplemented": None, "error": None, "arch": None,
           "iocs": None}
    last = next((ln for ln in reversed(stderr.splitlines()) if ln.startswith("winhatch:")), None)
    if killed == "memory":
        out["status"] = "memory"
    elif killed in ("hung", "output"):
        out["status"] = "hung" if killed == "hung" else "limit"
        out["error"] = "wrote more than 256 MiB of output" if killed == "output" else "killed after the hard limit"
    elif rc == 70 or "Traceback (most recent call last)" in stderr or report is None:
        out["status"] = "internal-error"
        out["error"] = (last or stderr.strip().splitlines()[-1:] or ["no report written"])[0][:300] \
            if stderr.strip() else "no report written"
    if report is None:
        return out
    res = report.get("result") or {}
    procs = report.get("processes") or []
    main = procs[0] if procs else None
    out["iocs"] = _iocs(report)
    if main:
        out["arch"] = main.get("arch")
        un = main.get("unimplemented_apis") or []
        if un:
            out["first_unimplemented"] = un[0].get("api")
    out["exit_code"] = res.get("exit_status")
    if out["status"] is None:
        err = res.get("error")
        outcome = res.get("outcome")        # the run's own verdict (RunResult.outcome)
        out["status"] = "hung" if outcome == "interrupted" else outcome if outcome in STATUSES else "internal-error"
        if err:
            out["error"] = err[:300]
    return out


def execute(name: str, data: bytes, opts: dict) -> dict:
    """Run one sample: `winhatch run` in its own process and temporary folder.  Returns {"summary": {...},
    "files": {"report.json": bytes, "stdout.txt": bytes, …}}.  Pure in its inputs and outputs (it writes only
    inside its own temporary folder), so a Ray task on another machine runs it unchanged."""
    o = Options(**opts)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="winhatch-batch-") as d:
        d = Path(d)
        (d / "in").mkdir()
        (d / "tmp").mkdir()
        sample = d / "in" / (re.sub(r"[\\/\x00]", "_", name) or "sample")
        sample.write_bytes(data)
        report = d / "report.json"
        cmd = [sys.executable, "-m", "winhatch.cli", "run", "--report", str(report), "--timeout", str(o.timeout),
               "--out", str(d / "run")]
        if o.html:
            cmd += ["--html", str(d / "report.html")]
        if o.max_instructions:
            cmd += ["--max-instructions", str(o.max_instructions)]
        if o.max_memory is not None:
            cmd += ["--max-memory", str(o.max_memory)]
        cmd.append(str(sample))
        env = dict(os.environ)
        env.pop("WINHATCH_DEBUG", None)
        env["TMPDIR"] = str(d / "tmp")
        env["PYTHONUNBUFFERED"] = "1"
        out_p, err_p = d / "stdout", d / "stderr"
        killed = None
        peak = 0
        hard = o.timeout + o.grace
        with open(out_p, "wb") as out, open(err_p, "wb") as err:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=d / "tmp",
                                 start_new_session=True)
            sigint_at = None
            while True:
                pid, status, _ = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                rss = _rss_kb(p.pid) * 1024
                peak = max(peak, rss)
                el = time.monotonic() - t0
                if killed is None:
                    if rss > o.worker_memory:
                        killed = "memory"
                        p.kill()
                    elif os.fstat(out.fileno()).st_size > OUTPUT_KILL:
                        killed = "output"
                        p.kill()
                    elif el > hard:
                        killed = "hung"
                        p.send_signal(signal.SIGINT)    # winhatch writes the report on Ctrl-C
                        sigint_at = el
                elif killed == "hung" and sigint_at is not None and el > sigint_at + 5:
                    p.kill()
                    sigint_at = None
                time.sleep(0.01 if el < 1 else 0.05)
            rc = os.waitstatus_to_exitcode(status)
        stderr = err_p.read_bytes()[:OUTPUT_KEEP].decode("utf-8", "replace")
        rep = None
        files: dict[str, bytes] = {}
        if report.exists():
            raw = report.read_bytes()
            try:
                rep = json.loads(raw)
                files["report.json"] = raw
            except ValueError:
                rep = None
        if o.html and (d / "report.html").exists():
            files["report.html"] = (d / "report.html").read_bytes()
        dropped = d / "run" / "dropped"       # the files the sample dropped (the run caps their total size)
        if dropped.is_dir():
            for dp, _dns, fns in os.walk(dropped, followlinks=False):
                for fn in fns:
                    p = Path(dp) / fn
                    if p.is_file() and not p.is_symlink():
                        files["dropped/" + p.relative_to(dropped).as_posix()] = p.read_bytes()
        with open(out_p, "rb") as f:
            files["stdout.txt"] = f.read(OUTPUT_KEEP)
        files["stderr.txt"] = stderr.encode()
        summary = classify(rep, rc, stderr, killed)
        if summary.get("error"):     # the same message wherever the worker ran: the sample by its name
            summary["error"] = summary["error"].replace(str(sample), sample.name)
        summary.update(worker_rc=rc, peak_rss_mb=peak >> 20, seconds=round(time.monotonic() - t0, 2))
    return {"summary": summary, "files": files}


def _execute_path(args) -> tuple[int, dict]:
    i, path, name, opts = args
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return i, {"summary": {"status": "refused", "error": f"cannot read: {e.strerror}"}, "files": {}}
    return i, execute(name, data, opts)


# ------------------------------------------------------------------------------------------- the batch
def _result_line(s: Sample, summary: dict, cached: bool) -> dict:
    line = {"sample": s.path, "name": s.name, "sha256": s.sha256, "size": s.size, "dir": s.key}
    line.update({k: summary.get(k) for k in ("status", "exit_code", "first_unimplemented", "error", "arch",
                                             "iocs", "seconds", "peak_rss_mb")})
    line["cached"] = cached
    return line


def _store(out: Path, s: Sample, res: dict) -> dict:
    d = out / s.key
    d.mkdir(parents=True, exist_ok=True)
    for fn, b in res["files"].items():
        p = d / fn
        if ".." in Path(fn).parts or Path(fn).is_absolute():
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b)
    line = _result_line(s, res["summary"], False)
    tmp = d / "result.json.tmp"
    tmp.write_text(json.dumps(line, indent=1))
    os.replace(tmp, d / "result.json")    # last: its presence means the sample is done
    return line


def _cached(out: Path, s: Sample) -> dict | None:
    try:
        line = json.loads((out / s.key / "result.json").read_text())
    except (OSError, ValueError):
        return None
    if line.get("sha256") != s.sha256:
        return None
    line.update(sample=s.path, cached=True)
    return line


class Progress:
    """A progress bar on a terminal (rich); otherwise a line every few samples."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        from rich.console import Console
        self.total, self.done = total, 0
        self.counts: dict[str, int] = {}
        self.console = Console(file=stream or sys.stderr, highlight=False)
        self.enabled = enabled
        self.bar = None
        self.t0 = time.monotonic()
        if enabled and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RP, TextColumn, TimeElapsedColumn
            self.bar = RP(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.fields[counts]}"), console=self.console, transient=True)
            self.task = self.bar.add_task("batch", total=total, counts="")
            self.bar.start()

    def advance(self, line: dict) -> None:
        self.done += 1
        st = line.get("status") or "?"
        self.counts[st] = self.counts.get(st, 0) + 1
        text = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        if self.bar is not None:
            self.bar.update(self.task, advance=1, counts=text)
        elif self.enabled and (self.done % 10 == 0 or self.done == self.total):
            self.console.print(f"[{self.done}/{self.total} {time.monotonic() - self.t0:.0f}s] {text}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_batch(paths: list[str], out: str | Path, *, list_file: str | None = None, jobs: int | None = None,
              ray_address: str | None = None, opts: Options | None = None, progress: bool = True,
              rerun: bool = False) -> list[dict]:
    """Run every sample; write the output folder; return the summary lines in input order."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    opts = opts or Options()
    samples = [describe(p) for p in collect(paths, list_file)]
    lines: list[dict | None] = [None] * len(samples)
    todo = []
    for i, s in enumerate(samples):
        c = None if rerun else _cached(out, s)
        if c is not None:
            lines[i] = c
        else:
            todo.append(i)
    bar = Progress(len(todo), enabled=progress)
    od = asdict(opts)
    try:
        if ray_address:
            results = _run_ray(samples, todo, od, ray_address)
        else:
            results = _run_local(samples, todo, od, jobs or os.cpu_count() or 1)
        for i, res in results:
            lines[i] = _store(out, samples[i], res)
            bar.advance(lines[i])
    finally:
        bar.close()
        done = [ln for ln in lines if ln is not None]
        with open(out / "summary.jsonl.tmp", "w") as f:
            for ln in done:
                f.write(json.dumps(ln) + "\n")
        os.replace(out / "summary.jsonl.tmp", out / "summary.jsonl")
    return [ln for ln in lines if ln is not None]


def _run_local(samples, todo, opts, jobs):
    if not todo:
        return
    tasks = [(i, samples[i].path, samples[i].name, opts) for i in todo]
    if jobs <= 1:
        for t in tasks:
            yield _execute_path(t)
        return
    from multiprocessing import get_context
    with get_context("spawn").Pool(min(jobs, len(tasks))) as pool:
        yield from pool.imap_unordered(_execute_path, tasks)


def _run_ray(samples, todo, opts, address):
    """The same `execute` as Ray tasks: the driver sends each sample's bytes and writes what comes back, so
    the workers need winhatch installed but no shared folder.  At most 4 tasks per CPU are in flight."""
    if (address not in ("auto", "local") and "RAY_AUTH_MODE" not in os.environ
            and (Path.home() / ".ray" / "auth_token").exists()):
        # a head started by `ray start` (Ray >= 2.5x) requires its token, which ray.init sends to an explicit
        # address only when told to (read when ray is first imported)
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs the ray package: pip install 'winhatch[ray]'") from None
    if address == "local":     # a cluster of this machine alone, started and stopped by the batch
        ray.init(ignore_reinit_error=True, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    else:                      # "auto" (RAY_ADDRESS or a head started on this machine) or HOST:PORT
        ray.init(address=address, ignore_reinit_error=True, logging_level="ERROR", log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(execute)
        window = max(2, 4 * int(ray.cluster_resources().get("CPU", 1)))
        pending: dict = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < window:
                i = queue.pop(0)
                s = samples[i]
                pending[task.remote(s.name, Path(s.path).read_bytes(), opts)] = i
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as e:  # noqa: BLE001 — a lost worker is this sample's result, not the batch's end
                    res = {"summary": {"status": "internal-error", "error": f"ray task failed: {type(e).__name__}"},
                           "files": {}}
                yield i, res
    finally:
        ray.shutdown()


# ------------------------------------------------------------------------------------------- the table
def render_table(lines: list[dict], stream=None) -> None:
    from rich.table import Table

    from winhatch.report.console import output_console
    con = output_console(file=stream) if stream is not None else output_console()
    t = Table(show_lines=False)
    for col in ("sample", "arch", "status", "exit", "first unimplemented / error", "procs", "files", "reg", "net",
                "time"):
        t.add_column(col, overflow="fold")
    for ln in lines:
        io = ln.get("iocs") or {}
        ec = ln.get("exit_code")
        what = ln.get("first_unimplemented") or ln.get("error") or ""
        t.add_row(ln.get("name", ""), ln.get("arch") or "", ln.get("status") or "",
                  "" if ec is None else f"0x{ec:X}" if ec > 0xFFFF else str(ec), what[:80],
                  str(io.get("processes", "")), str(io.get("files_written", 0) + io.get("files_deleted", 0))
                  if io else "", str(io.get("registry_written", "")), str(io.get("connections", "")),
                  f"{ln.get('seconds') or 0:.1f}s" + (" (cached)" if ln.get("cached") else ""))
    con.print(t)
    counts: dict[str, int] = {}
    for ln in lines:
        counts[ln.get("status")] = counts.get(ln.get("status"), 0) + 1
    con.print(f"{len(lines)} samples: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=str)))
