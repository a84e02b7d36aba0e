"""`winhatch run --coverage FILE`: the basic blocks the guest executed, per module, in the drcov format that
Lighthouse (IDA, Binary Ninja) and bncov read.

Each guest process's CPU gets a Unicorn block hook when the process is created (before its first instruction).
The hook records each distinct block (address, size) once per process; at exit the blocks are placed in the
module that holds them (those outside every module — shellcode, generated code — are counted but not written:
drcov describes blocks as module offsets) and written as drcov version 2:

    DRCOV VERSION: 2
    DRCOV FLAVOR: winhatch
    Module Table: version 2, count N
    Columns: id, base, end, entry, checksum, timestamp, path
      0, 0x140000000, 0x14003e000, 0x0000000000000000, 0x00000000, 0x00000000, C:\\app\\prog.exe
    BB Table: M bbs
    <M records of struct { uint32 start (offset from the module's base); uint16 size; uint16 module id }>

One file holds every process: module ids are numbered across processes, and each module line names its
guest path (a module loaded in two processes appears twice, once per base). The cost is a Python call per
executed block: a CPU-bound program runs several times slower (measured in the README), which is why it
is optional.
"""
from __future__ import annotations

import bisect
import struct


class CoverageRecorder:
    def __init__(self):
        self.blocks: dict[int, set[tuple[int, int]]] = {}     # pid -> {(address, size)}
        self._procs: dict[int, object] = {}
        self._hooks = []

    # an event-log subscriber: installs the hook when a process is created
    def __call__(self, ev) -> None:
        if ev.category != "process" or ev.name != "process_create":
            return
        machine = getattr(self, "machine", None)
        if machine is None:
            return
        proc = next((p for p in machine.processes if p.pid == ev.pid), None)
        if proc is None or getattr(proc, "cpu", None) is None:
            return
        self.attach(proc)

    def attach(self, proc) -> None:
        from winhatch.cpu.ucconst import UC_HOOK_BLOCK
        seen = self.blocks.setdefault(proc.pid, set())
        add = seen.add

        def on_block(uc, address, size, user_data):
            add((address, size))

        self._hooks.append(on_block)      # keep the callback alive as long as the engine
        proc.cpu.uc.hook_add(UC_HOOK_BLOCK, on_block)
        self._procs[proc.pid] = proc

    def setup(self, machine) -> None:
        """The runner's setup_machine hook: remember the machine and subscribe."""
        self.machine = machine
        machine.events.subscribe(self)

    def modules_of(self, pid: int) -> list[tuple[int, int, int, str]]:
        proc = self._procs.get(pid)
        ldr = proc.subsystem.get("ldr") if proc is not None else None
        out = []
        for m in (ldr.modules if ldr is not None else []):
            entry = 0
            pe = getattr(m, "pe", None)
            if pe is not None:
                try:
                    entry = m.base + pe.optional_header.AddressOfEntryPoint if pe.optional_header.AddressOfEntryPoint \
                        else 0
                except AttributeError:
                    entry = 0
            out.append((m.base, m.base + m.size, entry, m.path or m.name))
        return sorted(out)

    def write(self, path) -> dict:
        """Write the drcov file; returns {"modules", "blocks", "outside"} (blocks outside every module)."""
        table = []                         # (id, base, end, entry, path)
        records = bytearray()
        n_blocks = outside = 0
        for pid in sorted(self.blocks):
            mods = self.modules_of(pid)
            bases = [m[0] for m in mods]
            first_id = len(table)
            for i, (base, end, entry, mpath) in enumerate(mods):
                table.append((first_id + i, base, end, entry, mpath))
            for addr, size in sorted(self.blocks[pid]):
                k = bisect.bisect_right(bases, addr) - 1
                if k < 0 or addr >= mods[k][1]:
                    outside += 1
                    continue
                off = addr - mods[k][0]
                if off > 0xFFFFFFFF:
                    outside += 1
                    continue
                records += struct.pack("<IHH", off, min(size, 0xFFFF), first_id + k)
                n_blocks += 1
        lines = ["DRCOV VERSION: 2", "DRCOV FLAVOR: winhatch",
                 f"Module Table: version 2, count {len(table)}",
                 "Columns: id, base, end, entry, checksum, timestamp, path"]
        for mid, base, end, entry, mpath in table:
            lines.append(f"{mid:3d}, 0x{base:016x}, 0x{end:016x}, 0x{entry:016x}, 0x00000000, 0x00000000, {mpath}")
        lines.append(f"BB Table: {n_blocks} bbs")
        with open(path, "wb") as f:
            f.write(("\n".join(lines) + "\n").encode("utf-8"))
            f.write(records)
        return {"modules": len(table), "blocks": n_blocks, "outside": outside}


def parse_drcov(data: bytes) -> dict:
    """Read a drcov file back: {"modules": [{"id", "base", "end", "path"}], "blocks": [(offset, size, id)]}."""
    head, sep, rest = data.partition(b"BB Table: ")
    if not sep:
        raise ValueError("not a drcov file: no BB Table")
    count_line, _, body = rest.partition(b"\n")
    count = int(count_line.split()[0])
    mods = []
    for line in head.decode("utf-8").splitlines():
        parts = [p.strip() for p in line.split(",", 6)]
        if len(parts) == 7 and parts[0].isdigit():
            mods.append({"id": int(parts[0]), "base": int(parts[1], 16), "end": int(parts[2], 16), "path": parts[6]})
    if len(body) < 8 * count:
        raise ValueError("truncated BB table")
    blocks = [struct.unpack_from("<IHH", body, 8 * i) for i in range(count)]
    return {"modules": mods, "blocks": blocks}
