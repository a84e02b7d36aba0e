"""Snapshots: save a running machine to a file and continue from it later (issue 20).

    from winhatch import snapshot
    info = snapshot.save(machine, "run.whsnap", process=proc)     # at a safe point (see below)
    res = snapshot.resume("run.whsnap")                            # a RunResult, as runner.run gives
    results = snapshot.fork("run.whsnap", [setup_a, setup_b])      # one run per setup(machine)

`winhatch run --snapshot-at WHEN --snapshot-file F prog.exe` writes one while the program runs (WHEN:
``api:Name`` / ``api:Name#N`` before the Nth call of that API, ``addr:0x401000`` / ``addr:prog.exe+0x1234``
when that instruction is about to run, ``icount:N`` after N guest instructions), and `winhatch run
--from-snapshot F` continues from it.

What a snapshot holds.  Guest threads are not host threads: the whole machine is Python objects (processes,
threads and their saved contexts, kernel objects and handle tables, the registry, the VFS's bookkeeping,
the emulated clock, the console, the loader's state in ``process.subsystem``) plus, per process, one
Unicorn engine and the host memory behind sections, stacks and TEBs.  The Python graph is pickled; the few
objects holding host resources are reduced to what rebuilds them:

- a CPU (`winhatch.cpu.Cpu`): its Python attributes and Unicorn's register context (every register with
  the hidden segment state, FS/GS bases, x87, SSE, GDTR); its memory is rebuilt from the address space's
  shadow of the engine's regions (`UcShadow`): host-backed regions are mapped again over the restored
  host buffers, engine-owned ones are written back from the saved bytes;
- host memory (``mmap``: sections, stacks, TEBs): its size and the non-zero 64 KiB chunks;
- ctypes views of such memory: (buffer, offset, size);
- a function defined inside another (the closures the dispatcher and the layers install): by value (code,
  globals module, cells);
- the host's streams (the console's stdout/stderr/stdin): by name, bound to the new run's streams;
- files: the sandbox (drive C:) is archived whole; in other writable host folders mounted into the guest,
  the files changed since the machine started are archived; host files the guest has open are opened again
  by path when the restored guest uses them.

The machine's components (dispatcher, event log, clock, VFS, registry …) and the API handlers are the
subsystem's: a restore builds a fresh machine with `winhatch.win32.subsystem.setup` (so every handler closure
is bound to it) and loads the saved state into those same component objects.  Host paths under the old
sandbox are rewritten to the new one.

A snapshot can only be taken between two scheduling slices when no guest call is in progress on the host's
stack (no DllMain, TLS callback or other guest callback running, no thread waiting inside one): the
dispatcher's safe point.  A trigger met inside such a call takes the snapshot at the next safe point.
What cannot be saved is refused with ``snapshot: cannot save …`` (a live host socket under --net host, a
file deleted while the guest holds it open, …).

File format: a zip (deflate) with ``meta.json`` (magic, format number, winhatch version and source digest,
Python and Unicorn versions, architecture, the sample's SHA-256), ``graph.pickle``, ``mem/N`` (host memory
chunks) and ``files.tar``.  A file from another winhatch build (or not a snapshot at all) is refused.
A snapshot is a pickle with code in it (the closures): like any pickle, load only snapshots you made — one
from an untrusted source runs its code in the host's Python, outside the sandbox.
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib
import io
import json
import marshal
import mmap
import os
import pickle
import sys
import tarfile
import time
import types
import zipfile
from pathlib import Path, PurePath

MAGIC = "winhatch-snapshot"
FORMAT = 1
CHUNK = 0x10000
_ZERO = bytes(CHUNK)
#: host memory larger than this is scanned through /proc/self/pagemap (only pages the host ever backed)
_SCAN_LIMIT = 64 << 20
#: files archived from a writable host folder outside the sandbox, at most
MAX_FILES = 100_000


class SnapshotError(Exception):
    """A snapshot cannot be written or read; the message starts with ``snapshot:``."""


class StopAfterSnapshot(Exception):
    """Raised out of the dispatcher after the snapshot was written when the run must stop there."""

    def __init__(self, info: dict | None, error: str | None = None):
        super().__init__(error or "stopped after the snapshot")
        self.info = info
        self.error = error


# ------------------------------------------------------------------------------------------------ identity
_DIGEST: list[str] = []


def code_digest() -> str:
    """SHA-256 (first 16 hex digits) of winhatch's Python sources: a snapshot is the pickled state of these
    classes, so it is read only by the same code."""
    if not _DIGEST:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode() + b"\0")
            h.update(p.read_bytes())
        _DIGEST.append(h.hexdigest()[:16])
    return _DIGEST[0]


def _versions() -> dict:
    from winhatch import __version__
    from winhatch.cpu.ucbind import uc_version
    # the engine library's version (its context layout is what a snapshot depends on), without importing the
    # unicorn package
    return {"winhatch": __version__, "code": code_digest(), "python": sys.implementation.cache_tag,
            "unicorn": "%d.%d.%d" % uc_version()}


# ------------------------------------------------------------------------------------------------ host memory
def _buffer_address(buf) -> int:
    v = (ctypes.c_char * 1).from_buffer(buf)
    try:
        return ctypes.addressof(v)
    finally:
        del v


def _touched_chunks(mm) -> list[int]:
    """Offsets of the CHUNK-sized pieces of `mm` that may hold non-zero bytes."""
    size = len(mm)
    if size <= _SCAN_LIMIT:
        return list(range(0, size, CHUNK))
    try:   # a huge reservation (a 64 GiB stack): only the pages the host backed can be non-zero
        base = _buffer_address(mm)
        out = set()
        with open("/proc/self/pagemap", "rb", buffering=0) as f:
            npages = size // mmap.PAGESIZE
            step = 1 << 16
            for first in range(0, npages, step):
                n = min(step, npages - first)
                f.seek(((base // mmap.PAGESIZE) + first) * 8)
                raw = f.read(n * 8)
                ents = memoryview(raw).cast("Q")
                for k in range(len(ents)):
                    if ents[k] >> 62:          # present (bit 63) or swapped (bit 62)
                        out.add(((first + k) * mmap.PAGESIZE) // CHUNK * CHUNK)
        return sorted(out)
    except OSError:
        return list(range(0, size, CHUNK))


def _load_mmap(size: int, chunks: list) -> mmap.mmap:
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0x4000)
    mm = mmap.mmap(-1, size, flags=flags)
    for off, data in chunks:
        mm[off: off + len(data)] = data
    return mm


def _load_view(buf, offset: int, size: int, ctype):
    return (ctype * size).from_buffer(buf, offset)


class _Blob:
    """Bytes stored as their own zip member (guest memory), loaded back by persistent_load."""
    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


# ------------------------------------------------------------------------------------------------ functions
class _EmptyCell:
    """Marks a closure cell that had no value."""


def _importable(obj) -> bool:
    mod = sys.modules.get(getattr(obj, "__module__", None) or "")
    if mod is None:
        return False
    cur = mod
    for part in obj.__qualname__.split("."):
        cur = getattr(cur, part, None)
        if cur is None:
            return False
    return cur is obj


def _fn_new(code: bytes, module: str, name: str, ncells: int):
    mod = importlib.import_module(module)
    cells = tuple(types.CellType() for _ in range(ncells)) if ncells else None
    return types.FunctionType(marshal.loads(code), mod.__dict__, name, None, cells)


def _fn_setstate(f, state) -> None:
    defaults, kwdefaults, fdict, qualname, cells = state
    f.__defaults__ = defaults
    f.__kwdefaults__ = kwdefaults
    f.__qualname__ = qualname
    if fdict:
        f.__dict__.update(fdict)
    for cell, v in zip(f.__closure__ or (), cells):
        if v is not _EmptyCell:
            cell.cell_contents = v


# ------------------------------------------------------------------------------------------------ the CPU
#: Cpu attributes built by Cpu.__init__ around the Unicorn engine: a restored CPU keeps its new engine's
_CPU_NATIVE = frozenset("""uc _h _buf _bref _wbuf _sarr _scarr _in_n _in_ids _in_vals _in_ptrs _out_ids _out_vals
    _out_ptrs _out_ptrs_nr _out_ids_nr _pfmt_s _pc_sync_flag _restart_on_pc_write _emu_counter _invalid_addr
    _cb_intr _cb_mem _preempt_slot _preempt_hooks _cs_engine _host _pc_id _sp_id _ax_id _mask _mode _exec_pages
    """.split())


def _cpu_new(arch: str):
    from winhatch.cpu import Cpu
    return Cpu(arch)


def _cpu_setstate(cpu, state) -> None:
    attrs, ctx = state
    cpu.__dict__.update(attrs)
    cpu._snapshot_context = ctx


# ------------------------------------------------------------------------------------------------ pickling
_ATOMIC = frozenset((int, float, bool, type(None), bytes, tuple, list, dict, set, frozenset, complex))


class _Saver(pickle.Pickler):
    def __init__(self, f, machine, comps: dict, static: dict, streams: dict, sandbox: str):
        super().__init__(f, protocol=pickle.HIGHEST_PROTOCOL)
        self.comps = comps
        self.static = static
        self.streams = streams
        self.sandbox = sandbox
        self.blobs: list[bytes] = []
        self._codes: dict[int, bytes] = {}
        self._bases: dict[int, int] = {}
        self._where: list[str] = []

    def persistent_id(self, obj):
        t = type(obj)
        if t is str:
            if obj.startswith(self.sandbox):
                return ("path", obj[len(self.sandbox):])
            return None
        if t in _ATOMIC:
            return None
        if t is _Blob:
            self.blobs.append(obj.data)
            return ("blob", len(self.blobs) - 1)
        i = id(obj)
        k = self.comps.get(i)
        if k is not None:
            return ("comp", k)
        k = self.static.get(i)
        if k is not None:
            return ("static", k)
        k = self.streams.get(i)
        if k is not None:
            return ("stream", k)
        return None

    def reducer_override(self, obj):
        t = type(obj)
        if t is types.FunctionType:
            if _importable(obj):
                return NotImplemented
            code = self._codes.get(id(obj.__code__))
            if code is None:
                code = self._codes[id(obj.__code__)] = marshal.dumps(obj.__code__)
            cells = []
            for c in obj.__closure__ or ():
                try:
                    cells.append(c.cell_contents)
                except ValueError:
                    cells.append(_EmptyCell)
            return (_fn_new, (code, obj.__module__, obj.__name__, len(cells)),
                    (obj.__defaults__, obj.__kwdefaults__, dict(obj.__dict__) or None, obj.__qualname__, cells),
                    None, None, _fn_setstate)
        if isinstance(obj, PurePath):     # by its text, so a path under the sandbox is rewritten on load
            return (t, (str(obj),))
        if t is types.ModuleType:
            if sys.modules.get(obj.__name__) is obj:
                return (importlib.import_module, (obj.__name__,))
            raise SnapshotError(f"snapshot: cannot save the module object {obj.__name__} made at run time")
        if t is mmap.mmap:
            chunks = []
            for off in _touched_chunks(obj):
                data = obj[off: off + CHUNK]
                if data != _ZERO[: len(data)]:
                    chunks.append((off, _Blob(data)))
            return (_load_mmap, (len(obj), chunks))
        if isinstance(obj, ctypes.Array) and isinstance(getattr(obj, "_objects", None), dict):
            src = next(iter(obj._objects.values()), None)
            buf = getattr(src, "obj", None)
            if type(buf) is mmap.mmap:
                base = self._bases.get(id(buf))
                if base is None:
                    base = self._bases[id(buf)] = _buffer_address(buf)
                return (_load_view, (buf, ctypes.addressof(obj) - base, len(obj), obj._type_))
        name = t.__name__
        if name == "Cpu" and t.__module__ == "winhatch.cpu.core":
            return self._reduce_cpu(obj)
        if name == "Thread" and t.__module__ == "winhatch.kernel.ps.objects":
            # call_objects: a cache of the API layer's per-thread call objects (of classes made at start-up)
            red = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
            state = dict(red[2])
            state["call_objects"] = {}
            state.pop("api_hook_retry", None)     # a hooked call waiting to be re-run: its hooks are the caller's
            return (red[0], red[1], state) + tuple(red[3:])
        if name == "Struct" and t.__module__ in ("struct", "_struct"):
            import struct
            return (struct.Struct, (obj.format,))
        if t.__module__ in ("socket", "ssl") or name in ("socket", "SSLSocket"):
            raise SnapshotError("snapshot: cannot save a live host socket (a run with --net host)")
        if t.__module__ in ("_thread", "threading") or name in ("TextIOWrapper", "BufferedWriter",
                                                               "BufferedReader", "FileIO", "Popen"):
            raise SnapshotError(f"snapshot: cannot save a host {name} object held by the machine")
        if isinstance(obj, type) and not _importable(obj):
            raise SnapshotError(f"snapshot: cannot save the class {obj.__qualname__} made at run time")
        return NotImplemented

    def _reduce_cpu(self, cpu):
        if cpu._in_run:
            raise SnapshotError("snapshot: cannot save a CPU in the middle of a run")
        attrs = {k: v for k, v in cpu.__dict__.items() if k not in _CPU_NATIVE}
        ctx = cpu.uc.context_save()
        return (_cpu_new, (cpu.arch,), (attrs, (bytes(ctx), ctx.size, ctx.arch, ctx.mode)),
                None, None, _cpu_setstate)


class _Loader(pickle.Unpickler):
    def __init__(self, f, comps: dict, static, streams: dict, sandbox: str, blobs):
        super().__init__(f)
        self.comps = comps
        self.static = static
        self.streams = streams
        self.sandbox = sandbox
        self.blobs = blobs

    def persistent_load(self, pid):
        kind = pid[0]
        if kind == "path":
            return self.sandbox + pid[1]
        if kind == "blob":
            return self.blobs(pid[1])
        if kind == "comp":
            return self.comps[pid[1]]
        if kind == "static":
            return self.static(pid[1])
        if kind == "stream":
            return self.streams.get(pid[1])
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


# ------------------------------------------------------------------------------------------------ components
#: machine attributes restored into the new machine's own objects (closures made at start-up hold these)
_COMPONENTS = ("clock", "events", "notify", "cid", "namespace", "traps", "dispatcher", "services", "commit_pool",
               "vfs", "registry", "console", "images")
#: components whose start-up state is kept as the new machine built it (handler tables)
_KEEP = ("traps", "services")
#: machine attributes that stay the new machine's
_MACHINE_KEEP = ("_tmp", "console")


def _components(machine) -> dict[int, str]:
    out = {id(machine): "machine"}
    for name in _COMPONENTS:
        obj = getattr(machine, name, None)
        if obj is not None:
            out[id(obj)] = name
    return out


def _static_index(machine) -> dict:
    """id -> key of what start-up made and a snapshot refers to without saving it: the trap handlers and
    their functions (built ones: an API's handler is built on its first call), module- and class-level
    sentinels of winhatch's modules (compared by identity)."""
    idx: dict = {}
    for (dll, name), h in list(machine.traps._by_name.items()):
        idx[id(h)] = ("trap", dll, name)
        fn = h.fn
        idx[id(fn)] = ("trapfn", dll, name)
        if type(fn) is types.FunctionType:
            for i, fr in enumerate(getattr(fn, "frames", None) or ()):
                idx[id(fr)] = ("trapframe", dll, name, i)
    for key, v in _sentinels().items():
        idx[id(v)] = key
    return idx


def _sentinels() -> dict:
    out = {}
    for modname, mod in list(sys.modules.items()):
        if not modname.startswith("winhatch") or mod is None:
            continue
        for k, v in list(vars(mod).items()):
            if type(v) is object:
                out[("global", modname, k)] = v
            elif isinstance(v, type) and v.__module__ == modname:
                for ck, cv in list(vars(v).items()):
                    if type(cv) is object:
                        out[("classattr", modname, k, ck)] = cv
    return out


def _static_resolver(machine):
    sentinels: dict = {}

    def resolve(key):
        kind = key[0]
        if kind in ("trap", "trapfn", "trapframe"):
            h = machine.traps.handler_for(key[1], key[2])
            if kind == "trap":
                return h
            fn = h.fn
            if kind == "trapfn":
                return fn
            build = getattr(fn, "build", None)
            return (build() if build is not None else fn).frames[key[3]]
        if not sentinels:
            sentinels.update(_sentinels())
        v = sentinels.get(tuple(key))
        if v is None:
            raise pickle.UnpicklingError(f"the snapshot refers to {key!r}, which this winhatch does not have")
        return v
    return resolve


# ------------------------------------------------------------------------------------------------ files
def _writable_roots(machine) -> list[tuple[int, Path]]:
    sandbox = os.path.realpath(machine.sandbox)
    out = []
    for i, m in enumerate(machine.vfs._mounts):
        host = os.path.realpath(m.host)
        if m.readonly or host == sandbox or host.startswith(sandbox + os.sep):
            continue
        out.append((i, Path(host)))
    return out


def _archive_files(machine, since: float) -> bytes:
    buf = io.BytesIO()
    sandbox = Path(machine.sandbox)
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(sandbox), arcname="sandbox", recursive=True)
        count = 0
        for i, root in _writable_roots(machine):
            for dirpath, dirnames, filenames in os.walk(root):
                for fn in filenames:
                    p = os.path.join(dirpath, fn)
                    try:
                        st = os.lstat(p)
                    except OSError:
                        continue
                    if st.st_mtime < since or not os.path.isfile(p) or os.path.islink(p):
                        continue
                    count += 1
                    if count > MAX_FILES:
                        raise SnapshotError(f"snapshot: cannot save more than {MAX_FILES} changed files of {root}")
                    tar.add(p, arcname=f"mount{i}/{os.path.relpath(p, root)}", recursive=False)
    return buf.getvalue()


def _extract_files(data: bytes, sandbox: Path, roots: dict[int, Path]) -> None:
    import shutil
    for child in sandbox.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        for m in tar.getmembers():
            parts = Path(m.name).parts
            if not parts or ".." in parts or m.issym() or m.islnk() or not (m.isfile() or m.isdir()):
                continue
            if parts[0] == "sandbox":
                dest = sandbox.joinpath(*parts[1:])
            elif parts[0].startswith("mount") and parts[0][5:].isdigit() and int(parts[0][5:]) in roots:
                dest = roots[int(parts[0][5:])].joinpath(*parts[1:])
            else:
                continue
            if m.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            with open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
            os.utime(dest, (m.mtime, m.mtime))


# ------------------------------------------------------------------------------------------------ save
def _check_saveable(machine) -> None:
    d = machine.dispatcher
    if d._nest or d._pinned:
        raise SnapshotError("snapshot: cannot save while a guest call (DllMain, a callback) is in progress")
    for p in machine.processes:
        if p.cpu is not None and p.cpu._in_run:
            raise SnapshotError("snapshot: cannot save while a CPU runs (call save at the dispatcher's safe point)")
    for hf in list(machine.vfs._host_files.values()):
        if hf.pinned:
            raise SnapshotError(f"snapshot: cannot save the file {hf.path}: deleted while the guest holds it open")
    net = getattr(machine, "net", None)
    if net is not None and getattr(net, "mode", "fake") == "host":
        raise SnapshotError("snapshot: cannot save a machine on the host's network (--net host): its sockets "
                            "are the host's")


def save(machine, path, *, process=None, program: str | None = None, args=(), sample_sha256: str | None = None,
         extra: dict | None = None) -> dict:
    """Write the machine's state to `path` (see the module docstring); call it at the dispatcher's safe point
    (`Dispatcher.safe_point`) or when the machine is not running.  `process`: the run's main process (what
    `resume` waits for).  Returns {"path", "bytes", "seconds", "memory_bytes"}."""
    t0 = time.perf_counter()
    _check_saveable(machine)
    machine_state = {k: v for k, v in machine.__dict__.items() if k not in _MACHINE_KEEP}
    comps = _components(machine)
    comp_states = {}
    for name in _COMPONENTS:
        obj = getattr(machine, name, None)
        if obj is None or name in _KEEP:
            continue
        st = dict(obj.__dict__)
        if name == "events":
            st["_subscribers"] = []
            st["on_api_wanted"] = [fn for fn in st["on_api_wanted"]]
        elif name == "dispatcher":
            st.update(safe_point=None, _deadline=None, interrupted=False, stop_at_instructions=0)
        elif name == "vfs":
            st["_fd_lru"] = type(st["_fd_lru"])()
        comp_states[name] = st
    con = machine.console
    streams = {}
    for n in ("stdout", "stderr", "stdin"):
        s = getattr(getattr(con, n, None), "stream", None)
        if s is not None:
            streams[id(s)] = n
    static = _static_index(machine)
    sandbox = str(machine.sandbox)
    host_files = [(hf, hf.path) for hf in machine.vfs._host_files.values()]
    payload = {"machine": machine_state, "components": comp_states, "process": process,
               "cpus": [(p, _cpu_memory(p)) for p in machine.processes if p.cpu is not None],
               "host_files": host_files, "extra": dict(extra or {})}
    gbuf = io.BytesIO()
    saver = _Saver(gbuf, machine, comps, static, streams, sandbox)
    # instrumentation is the caller's, not the machine's: a Session's hooks (closures, wrapped handlers and the
    # trap caches holding them) stay out of the file; a restored machine starts without hooks
    hooks = getattr(machine, "hooks", None)
    if hooks:
        from winhatch.kernel.hooks import HookRegistry
        bare = HookRegistry(machine)
        bare.on_api_change = list(hooks.on_api_change)
        machine.hooks = bare
        machine_state["hooks"] = bare
        bare._api_changed()
    try:
        saver.dump(payload)
    except SnapshotError:
        raise
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise SnapshotError(f"snapshot: cannot save the machine: {e}") from None
    finally:
        if hooks:
            machine.hooks = hooks
            hooks._api_changed()
    since = getattr(machine, "snapshot_epoch", 0) or 0
    files = _archive_files(machine, since)
    proc = process
    meta = {"magic": MAGIC, "format": FORMAT, **_versions(),
            "arch": getattr(proc, "arch", None), "sample_sha256": sample_sha256, "program": program,
            "args": list(args), "image": getattr(proc, "image_name", None), "created": time.time(),
            "emulated_time": machine.clock.elapsed(), "instructions": machine.dispatcher.instructions,
            "api_calls": machine.dispatcher.api_calls, "sandbox_epoch": since,
            "limits": dict(machine.limits), "arches": list(getattr(machine, "subsystem_arches", ()) or ()),
            "blobs": len(saver.blobs)}
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    mem = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("meta.json", json.dumps(meta, indent=1))
        z.writestr("graph.pickle", gbuf.getvalue())
        for i, b in enumerate(saver.blobs):
            mem += len(b)
            z.writestr(f"mem/{i}", b)
        z.writestr("files.tar", files)
    os.replace(tmp, path)
    return {"path": str(path), "bytes": path.stat().st_size, "seconds": time.perf_counter() - t0,
            "memory_bytes": mem}


def _cpu_memory(proc) -> list:
    """The engine's regions of one process: (start, end, perms, saved chunks or None for host-backed ones,
    shadowed?).  Regions the memory manager tracks (its UcShadow) are rebuilt through it; the few the CPU
    maps for itself (the GDT page) are saved as they are."""
    cpu = proc.cpu
    shadow = proc.aspace.uc if proc.aspace is not None else None
    spans = []
    if shadow is not None:
        spans = [(r.start, r.end, r.perms, r.section) for r in (shadow.regs[s] for s in shadow.starts)]
    out = []
    for start, end, perms, section in spans:
        out.append((start, end, perms, None if section is not None else _engine_bytes(cpu, start, end), True))
    # the engine's own regions outside the shadow
    import bisect
    starts = [s[0] for s in spans]
    for b, e, perms in cpu.mem_regions():
        cur, e = b, e + 1
        while cur < e:
            k = bisect.bisect_right(starts, cur) - 1
            if k >= 0 and spans[k][0] <= cur < spans[k][1]:
                cur = spans[k][1]
                continue
            nxt = starts[k + 1] if k + 1 < len(starts) else e
            hi = min(e, nxt)
            if any(cur <= a < hi for a in cpu._host):
                raise SnapshotError(f"snapshot: cannot save {proc.image_name}: host memory at {cur:#x} mapped "
                                    f"outside the memory manager")
            out.append((cur, hi, perms, _engine_bytes(cpu, cur, hi), False))
            cur = hi
    return out


def _engine_bytes(cpu, start: int, end: int) -> list:
    data = []
    for off in range(0, end - start, CHUNK):
        n = min(CHUNK, end - start - off)
        b = cpu.mem_read(start + off, n)
        if b != _ZERO[:n]:
            data.append((off, _Blob(b)))
    return data


# ------------------------------------------------------------------------------------------------ load
def read_meta(path) -> dict:
    """The snapshot's meta.json, after checking it is a snapshot this winhatch can read."""
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("meta.json"))
    except FileNotFoundError:
        raise SnapshotError(f"snapshot: {path}: no such file") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as e:
        raise SnapshotError(f"snapshot: {path} is not a winhatch snapshot ({e})") from None
    if not isinstance(meta, dict) or meta.get("magic") != MAGIC:
        raise SnapshotError(f"snapshot: {path} is not a winhatch snapshot (no snapshot header)")
    if meta.get("format") != FORMAT:
        raise SnapshotError(f"snapshot: {path} has format {meta.get('format')}, this winhatch reads format {FORMAT}")
    mine = _versions()
    theirs = {k: meta.get(k) for k in mine}
    if theirs != mine:
        raise SnapshotError(f"snapshot: {path} was written by another winhatch build "
                            f"({_fmt_versions(theirs)}; this is {_fmt_versions(mine)})")
    return meta


def _fmt_versions(v: dict) -> str:
    return f"winhatch {v.get('winhatch')} code {v.get('code')}, {v.get('python')}, unicorn {v.get('unicorn')}"


def load(path, *, console=None, setup_machine=None, subscribers=()):
    """Build a machine from the snapshot at `path`: returns (machine, main process, meta).  `console`: the new
    run's `Console` (its streams receive the guest's output from here on); `setup_machine(machine)`: called
    on the restored machine before it runs (e.g. events to record);
    `subscribers`: event subscribers of the new run."""
    from winhatch.kernel.io.console import Console
    from winhatch.kernel.machine import Machine
    from winhatch.win32 import subsystem
    t0 = time.perf_counter()
    meta = read_meta(path)
    try:
        z = zipfile.ZipFile(path)
        graph = z.read("graph.pickle")
        files = z.read("files.tar")
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib_error()) as e:
        raise SnapshotError(f"snapshot: {path} is damaged ({e})") from None
    if console is None:
        console = Console(io.BytesIO(), io.BytesIO(), None)
    machine = Machine(console=console, limits=meta.get("limits") or {})
    subsystem.setup(machine, arches=tuple(meta.get("arches") or ("x64",)))
    static = _static_resolver(machine)
    comps = {"machine": machine}
    for name in _COMPONENTS:
        if getattr(machine, name, None) is not None:
            comps[name] = getattr(machine, name)
    new_con = machine.console
    streams = {n: getattr(getattr(new_con, n, None), "stream", None) for n in ("stdout", "stderr", "stdin")}

    def blob(i):
        try:
            return z.read(f"mem/{i}")
        except (KeyError, zipfile.BadZipFile, OSError, zlib_error()) as e:
            raise SnapshotError(f"snapshot: {path} is damaged (memory chunk {i}: {e})") from None

    sandbox = Path(machine.sandbox)
    try:
        payload = _Loader(io.BytesIO(graph), comps, static, streams, str(sandbox), blob).load()
    except SnapshotError:
        raise
    except Exception as e:   # noqa: BLE001 — whatever a damaged pickle raises
        raise SnapshotError(f"snapshot: {path} is damaged ({type(e).__name__}: {e})") from None
    finally:
        z.close()
    # files: the sandbox as it was, the changed files of the other writable folders
    saved_vfs = payload["components"].get("vfs", {})
    roots = {}
    sb = os.path.realpath(sandbox)
    for i, m in enumerate(saved_vfs.get("_mounts", [])):
        host = os.path.realpath(m.host)
        if not m.readonly and not (host == sb or host.startswith(sb + os.sep)):
            roots[i] = Path(host)
    _extract_files(files, sandbox, roots)
    # the components: the new machine's objects with the saved state
    keep = {k: machine.__dict__[k] for k in _MACHINE_KEEP if k in machine.__dict__}
    machine.__dict__.clear()
    machine.__dict__.update(payload["machine"])
    machine.__dict__.update(keep)
    for name, st in payload["components"].items():
        obj = comps[name]
        if name == "events":
            st = dict(st)
            st["_subscribers"] = obj._subscribers
        if name == "console":
            _restore_console(obj, st)
            continue
        obj.__dict__.clear()
        obj.__dict__.update(st)
    machine.console = new_con
    machine.vfs.console = new_con
    for p in machine.processes:
        if getattr(p, "console", None) is not None:
            p.console = new_con
    _fix_host_files(machine, payload["host_files"])
    for proc, regions in payload["cpus"]:
        _rebuild_cpu(proc, regions)
    ev = machine.events   # host times of the new events follow the saved ones
    ev._t0 = time.perf_counter() - (ev.events[-1].host_time if ev.events else 0.0)
    if setup_machine:
        setup_machine(machine)
    machine.events._api_wanted_changed()
    machine.dispatcher._deadline = None
    machine.snapshot_epoch = meta.get("sandbox_epoch") or 0
    for fn in subscribers:
        machine.events.subscribe(fn)
    meta["load_seconds"] = time.perf_counter() - t0
    return machine, payload["process"], meta


def zlib_error():
    import zlib
    return zlib.error


def _restore_console(con, saved: dict) -> None:
    """The saved console (screen buffer, modes, code pages, title) over the new run's streams; the captured
    output starts empty (the new run's output is what the guest prints from the snapshot on)."""
    for n in ("stdout", "stderr", "stdin"):
        old = saved.get(n)
        new = getattr(con, n, None)
        if old is None or new is None:
            continue
        st = dict(old.__dict__)
        st["stream"] = new.stream
        st["console"] = con
        if "_captured" in st:
            st["_captured"] = bytearray()
            st["truncated"] = False
        new.__dict__.update(st)
        saved = dict(saved)
        saved[n] = new
    con.__dict__.update(saved)


def _fix_host_files(machine, host_files) -> None:
    """Host files the guest had open: their descriptors are opened again on first use, by path; the
    (device, inode) they are checked against is the restored file's."""
    vfs = machine.vfs
    vfs._fd_lru.clear()
    by_ident = {}
    for hf, p in host_files:
        hf.fds = {}
        try:
            st = os.stat(p)
            hf.ident = (st.st_dev, st.st_ino)
        except OSError:
            pass
        by_ident[hf.ident] = hf
    vfs._host_files = by_ident
    vfs._dir_cache = {}
    old = vfs._image_sections
    vfs._image_sections = {}
    for key, secs in old.items():
        vfs._image_sections.setdefault(key, secs)


def _rebuild_cpu(proc, regions) -> None:
    """Map the process's memory in its new engine and load the saved register context."""
    from winhatch.cpu.ucbind import UcContext
    cpu = proc.cpu
    shadow = proc.aspace.uc if proc.aspace is not None else None
    if shadow is not None:
        shadow.backend = cpu
        proc.aspace.backend = cpu
    for start, end, perms, data, shadowed in regions:
        host = None
        if shadowed and shadow is not None:
            r = shadow.regs[start]
            if r.section is not None:
                host = r.section.host_view(r.hoff, end - start)
                r.hostobj = host
        cpu.mem_map(start, end - start, perms, host)
        if data:
            for off, b in data:
                cpu.uc.mem_write(start + off, b)
    blob, size, arch, mode = cpu.__dict__.pop("_snapshot_context")
    cpu.uc.context_restore(UcContext.from_bytes(blob, size, arch, mode))
    cpu.uc.ctl_flush_tb()


# ------------------------------------------------------------------------------------------------ triggers
class Trigger:
    """When to take the snapshot of a running machine: ``api:Name`` / ``api:dll!Name`` / ``api:Name#N``
    (before the Nth call of that API: the call is made after the snapshot, by the run going on and by the
    restored one), ``addr:0x401000`` / ``addr:module+0x1234`` (when that instruction is about to run),
    ``icount:N`` (after N guest instructions: instructions are counted for it, which slows the CPU).  The
    snapshot is taken at the first safe point (Dispatcher.safe_point) once the condition is met."""

    def __init__(self, when: str):
        self.when = when
        kind, _, arg = when.partition(":")
        self.kind = kind.strip().lower()
        arg = arg.strip()
        self.count = 1
        self.module = None
        self.address = 0
        self.name = None
        if self.kind == "api" and arg:
            name, _, n = arg.partition("#")
            self.name = name.strip()
            if n:
                self.count = _int(n, when)
                if self.count < 1:
                    raise ValueError(f"bad --snapshot-at {when!r}: the call number starts at 1")
        elif self.kind == "addr" and arg:
            mod, plus, off = arg.rpartition("+")
            if plus:
                self.module = mod.strip().lower()
                self.address = _int(off, when)
            else:
                self.address = _int(arg, when)
        elif self.kind == "icount" and arg:
            self.count = _int(arg, when)
            if self.count < 1:
                raise ValueError(f"bad --snapshot-at {when!r}: an instruction count is at least 1")
        else:
            raise ValueError(f"bad --snapshot-at {when!r}: use api:Name[#N], addr:0xADDR, addr:module+0xOFF "
                             f"or icount:N")
        self.seen = 0
        self.pending = False
        self.done = False

    def install(self, machine, on_point) -> None:
        """Watch the machine; `on_point()` runs at the first safe point after the condition is met."""
        self.machine = machine
        self.on_point = on_point
        d = machine.dispatcher
        d.safe_point = self._safe_point
        if self.kind == "api":
            machine.events.subscribe(self._on_api, categories=("api",))
        elif self.kind == "icount":
            d.stop_at_instructions = self.count
        else:
            machine.notify.PsSetLoadImageNotifyRoutine(self._on_image)
            self._hooked: set = set()

    # api
    def _on_api(self, ev) -> None:
        if self.done or ev.name != "call":
            return
        api = ev.data.get("api", "")
        want = self.name
        if not (api == want or api.rpartition("!")[2] == want or api.lower() == want.lower()):
            return
        self.seen += 1
        if self.seen < self.count and not self.pending:
            return
        from winhatch.kernel.ke.wait import Preempt
        self.pending = True
        d = self.machine.dispatcher
        if d._nest or d._pinned or d._speculating is not None:
            return           # inside a guest call: the snapshot is taken at the next safe point
        log = self.machine.events.events
        if log and log[-1] is ev:
            log.pop()        # the call is made again after the snapshot
        raise Preempt()

    # addr
    def _on_image(self, name: str, pid: int, info) -> None:
        if self.done:
            return
        proc = next((p for p in self.machine.processes if p.pid == pid), None)
        if proc is None or proc.cpu is None:
            return
        if self.module is not None:
            if (info.image_name or "").lower() != self.module:
                return
            va = info.image_base + self.address
        else:
            if id(proc.cpu) in self._hooked:
                return
            va = self.address
        from winhatch.cpu.ucconst import UC_HOOK_CODE
        cpu = proc.cpu
        self._hooked.add(id(cpu))

        def hit(uc, address, size, _ud, cpu=cpu):
            if not self.done:
                self.pending = True
                cpu.stop()
        cpu.uc.hook_add(UC_HOOK_CODE, hit, None, va, va)

    def _safe_point(self) -> None:
        if self.done:
            return
        if self.kind == "icount" and self.machine.dispatcher.instructions >= self.count:
            self.pending = True
        if not self.pending:
            return
        self.done = True
        d = self.machine.dispatcher
        d.safe_point = None
        d.stop_at_instructions = 0
        self.on_point()


def _int(text: str, when: str) -> int:
    try:
        return int(text.strip().replace("_", ""), 0)
    except ValueError:
        raise ValueError(f"bad --snapshot-at {when!r}: {text!r} is not a number") from None


def request(machine, path, *, on_saved=None, stop: bool = False, **kw) -> None:
    """Take a snapshot of `machine` as soon as it can be saved: usable from any callback (an event subscriber,
    a notify routine, an API hook).  The running thread's slice ends after the call in progress (the snapshot
    is taken after it); inside a guest call (DllMain, a callback) it is taken at the next safe point.
    `on_saved(info)` gets save()'s result; `stop`: end the run there (the result's outcome is "snapshot")."""
    d = machine.dispatcher
    prev = d.safe_point

    def point():
        d.safe_point = prev
        info = save(machine, path, process=kw.pop("process", None) or getattr(machine, "snapshot_process", None),
                    **kw)
        if on_saved is not None:
            on_saved(info)
        if stop:
            raise StopAfterSnapshot(info)
    d.safe_point = point
    d.end_slice()


#: the name the issue uses: restore(path) -> (machine, main process, meta)
def restore(path, **kw):
    """`load` under the issue's name: (machine, main process, meta) of the snapshot at `path`."""
    return load(path, **kw)


def resume(path, **kw):
    """Continue a run from the snapshot at `path` to its end: a RunResult (`winhatch.runner.run` with
    ``from_snapshot``; its keyword arguments apply: stdout, stderr, trace, subscribers, timeout …)."""
    from winhatch import runner
    return runner.run(None, from_snapshot=path, **kw)


def fork(path, setups, **kw) -> list:
    """Start one run from the snapshot at `path` for each `setup(machine)` in `setups` (called on the restored
    machine before it runs on: write a file the guest will read, install a hook, change a registry value …);
    returns their RunResults in order.  Every run has its own machine and sandbox."""
    from winhatch import runner
    out = []
    for setup in setups:
        out.append(runner.run(None, from_snapshot=path, after_restore=setup, **kw))
    return out
