"""The GDB remote stub (winhatch run --gdb PORT, winhatch/debug/gdbstub.py), driven by the real gdb-multiarch and by a
small client speaking the remote protocol (interrupt, kill, detach, errors).

The reference is gdb itself: the stops it reports (entry point, breakpoint, watchpoint with old and new value, the
thread that hit), the bytes it reads, the library list it shows, the exit code, checked against the program's file
(entry point, code bytes, symbols from the mingw toolchain's nm) and what the program prints about itself
(kernel32's base, its threads' ids)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from winhatch.pe import PEFile

pytestmark = pytest.mark.skipif(shutil.which("gdb-multiarch") is None, reason="gdb-multiarch not installed "
                                                                                "(make test installs it)")
WINHATCH = [sys.executable, "-m", "winhatch.cli"]
NM = {"x64": "x86_64-w64-mingw32-nm", "x86": "i686-w64-mingw32-nm"}
GDB_ARCH = {"x64": "i386:x86-64", "x86": "i386"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _symbols(exe, arch) -> dict[str, int]:
    out = subprocess.run([NM[arch], str(exe)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            name = parts[2].lstrip("_").split("@")[0]     # x86: _name, _name@N for stdcall
            syms.setdefault(name, int(parts[0], 16))
    return syms


class _Stub:
    """`winhatch run --gdb PORT` in a subprocess, started up to its first stop (it prints "waiting for gdb")."""

    def __init__(self, exe, *args, opts=()):
        self.port = _free_port()
        env = dict(os.environ)
        env.pop("WINHATCH_DEBUG", None)
        self.p = subprocess.Popen(WINHATCH + ["run", "--gdb", str(self.port), *opts, str(exe), *args], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err_lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.p.stderr.readline().decode()
            if not line:
                break
            self.err_lines.append(line)
            if "waiting for gdb" in line:
                return
        self.p.kill()
        raise AssertionError("the stub did not wait for gdb: " + "".join(self.err_lines))

    def finish(self, timeout=30):
        try:
            out, err = self.p.communicate(timeout=timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.communicate()
        return self.p.returncode, out.decode(), "".join(self.err_lines) + err.decode()


def _gdb(arch, port, *commands, timeout=60) -> str:
    cmd = ["gdb-multiarch", "-batch", "-nx", "-ex", f"set architecture {GDB_ARCH[arch]}",
           # Windows paths are absolute: gdb then reads the program and its DLLs from the guest (vFile)
           "-ex", "set target-file-system-kind dos-based",
           "-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        cmd += ["-ex", c]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.stdout + r.stderr


def _pc(text: str, arch: str) -> list[int]:
    reg = "rip" if arch == "x64" else "eip"
    return [int(m, 16) for m in re.findall(rf"^{reg}\s+(0x[0-9a-f]+)", text, re.M)]


def test_gdb_session_entry_step_break_watch_libraries_exit(build_fixture, arch):
    import capstone
    exe = build_fixture("gdb_target.c", arch)
    pe = PEFile.open(str(exe))
    syms = _symbols(exe, arch)
    entry = pe.image_base + pe.entry_point_rva
    bump, counter = syms["gdb_bump"], syms["gdb_counter"]
    reg = "rip" if arch == "x64" else "eip"
    stub = _Stub(exe)
    text = _gdb(arch, stub.port, f"info registers {reg}", "stepi", f"info registers {reg}", f"break *{bump:#x}",
                "continue", f"x/4xb {bump:#x}", f"watch *(int*){counter:#x}", "continue", "info sharedlibrary",
                "continue")
    rc, out, err = stub.finish()
    assert "Traceback" not in err, err
    # the first stop is the program's entry point, after the loader; stepi executes exactly its first instruction
    pcs = _pc(text, arch)
    assert pcs[0] == entry, text
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if arch == "x64" else capstone.CS_MODE_32)
    first = next(md.disasm(pe.read_rva(pe.entry_point_rva, 16), entry))
    nxt = int(first.op_str, 16) if first.mnemonic == "jmp" else entry + first.size
    assert pcs[1] == nxt != entry, (first, text)
    # the breakpoint hits at its address, and memory shows the file's bytes there (no 0xCC in guest memory)
    assert re.search(rf"Breakpoint 1, 0x0*{bump:x} in", text), text
    want = pe.read_rva(bump - pe.image_base, 4)
    m = re.search(rf"0x0*{bump:x}[^:]*:\s+((?:0x[0-9a-f]{{2}}\s*){{4}})", text)
    assert m and bytes(int(b, 16) for b in m[1].split()) == want, text
    # the watchpoint reports the write, with the values before and after, stopped after the writing instruction
    assert "Hardware watchpoint 2" in text and "Old value = 5" in text and "New value = 7" in text, text
    stop = int(re.search(r"New value = 7\n(0x[0-9a-f]+) in", text)[1], 16)
    code = pe.read_rva(bump - pe.image_base, 0x40)
    writer = [i for i in md.disasm(code, bump) if i.mnemonic.split()[-1] in ("add", "xadd")
              and "ptr [" in i.op_str.split(",")[0]]
    assert writer and stop == writer[0].address + writer[0].size, (writer, text)
    # kernel32 in the shared library list, at the base the program itself sees (+ its first section)
    k32_section = int(re.search(r"kernel32 [0-9a-fA-F]+ section ([0-9a-fA-F]+)", out)[1], 16)
    m = re.search(r"^(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+\S+(?: \(\*\))?\s+\S*KERNEL32\.dll$", text, re.M | re.I)
    assert m and int(m[1], 16) == k32_section, text
    # the end: gdb hears the exit code, the run ends with it; the watched read-modify-write ran once (5 + 2)
    assert "exited with code 07]" in text, text
    assert "counter 7" in out and rc == 7, (rc, out, err)


def test_gdb_loader_stop_tls_callback_threads(build_fixture, arch):
    exe = build_fixture("gdb_target.c", arch)
    syms = _symbols(exe, arch)
    stub = _Stub(exe, opts=("--gdb-stop", "loader"))
    text = _gdb(arch, stub.port, "info symbol $pc", "info sharedlibrary", f"break *{syms['gdb_tls']:#x}",
                "continue", "info sharedlibrary", "delete", f"break *{syms['gdb_worker']:#x}", "continue",
                "info threads", "delete", "continue")
    rc, out, err = stub.finish()
    assert "Traceback" not in err, err
    # the very first instruction: ntdll's LdrInitializeThunk, before any other DLL is loaded
    assert re.search(r"LdrInitializeThunk in section \.text of \S*ntdll\.dll", text), text
    first_list = text[text.index("LdrInitializeThunk in section"):]
    first_list = first_list[:first_list.index("Breakpoint 1 at")]
    assert "ntdll.dll" in first_list and "KERNEL32" not in first_list.upper(), text
    # a breakpoint in a TLS callback: loader-time code, reached before the entry point; the DLLs loaded since are
    # in the list by then
    assert re.search(rf"Breakpoint 1, 0x0*{syms['gdb_tls']:x} in", text), text
    after = text[text.index("Breakpoint 1, "):]
    assert re.search(r"KERNEL32\.dll", after, re.I), text
    # the second thread hits its breakpoint; thread ids are the guest's TIDs (the program prints them)
    main_tid, worker_tid = int(re.search(r"main (\d+)", out)[1]), int(re.search(r"worker (\d+)", out)[1])
    m = re.search(rf"\[Switching to Thread (\d+)\]\n\nThread \d+ hit Breakpoint 2, 0x0*{syms['gdb_worker']:x}", text)
    assert m and int(m[1]) == worker_tid, text
    threads = re.findall(r"^\*?\s+\d+\s+Thread (\d+) ", text, re.M)
    assert sorted(map(int, threads)) == sorted([main_tid, worker_tid]), text
    assert "exited with code 07]" in text and rc == 7, (rc, text, err)


class _Client:
    """A minimal remote-protocol client (acknowledgement mode): what gdb sends, without gdb."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def _read_packet(self) -> str:
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i + 1) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                body = self.buf[i + 1:j]
                assert (sum(body) & 0xFF) == int(self.buf[j + 1:j + 3], 16)
                self.buf = self.buf[j + 3:]
                self.s.sendall(b"+")
                return body.decode("latin-1")
            data = self.s.recv(65536)
            if not data:
                raise EOFError
            self.buf += data

    def send(self, body: str) -> None:
        raw = body.encode("latin-1")
        self.s.sendall(b"$" + raw + b"#%02x" % (sum(raw) & 0xFF))

    def ask(self, body: str) -> str:
        self.send(body)
        return self._read_packet()


def test_protocol_interrupt_errors_kill(build_fixture, arch):
    exe = build_fixture("gdb_target.c", arch)
    stub = _Stub(exe, "spin")
    c = _Client(stub.port)
    assert "PacketSize=" in c.ask("qSupported:swbreak+;hwbreak+")
    first = c.ask("?")
    tid = int(re.match(r"T05thread:([0-9a-f]+);", first)[1], 16)
    assert c.ask("qC") == f"QC{tid:x}"
    assert c.ask("m0,4").startswith("E")                 # unmapped memory: an error, not a crash
    regs = c.ask("g")
    assert len(regs) == 2 * (8 * 16 + 8 + 4 * 7 + 10 * 8 + 4 * 8 + 16 * 16 + 4 + 16 if arch == "x64" else
                             4 * 8 + 4 + 4 * 7 + 10 * 8 + 4 * 8 + 16 * 8 + 4), regs
    c.send("vCont;c")
    time.sleep(1.0)                                     # the guest spins in main without calling an API
    c.s.sendall(b"\x03")
    stop = c._read_packet()
    assert re.match(rf"T02thread:{tid:x};", stop), stop
    # it stopped where it computes: in the program's image, and it can go on and be interrupted again
    pc_hex = c.ask("p10" if arch == "x64" else "p8")
    pc = int.from_bytes(bytes.fromhex(pc_hex), "little")
    pe = PEFile.open(str(exe))
    assert pe.image_base <= pc < pe.image_base + pe.size_of_image, hex(pc)
    c.send("vCont;c")
    time.sleep(0.3)
    c.s.sendall(b"\x03")
    assert c._read_packet().startswith("T02")
    c.send("k")
    rc, out, err = stub.finish()
    assert "killed by the debugger" in err and "Traceback" not in err, err
    assert rc == 0, (rc, err)                           # TerminateProcess(process, 0), as gdbserver on Windows


def test_protocol_detach_lets_the_run_finish(build_fixture, arch):
    exe = build_fixture("gdb_target.c", arch)
    syms = _symbols(exe, arch)
    stub = _Stub(exe)
    c = _Client(stub.port)
    c.ask("qSupported")
    c.ask("?")
    assert c.ask(f"Z0,{syms['gdb_bump']:x},1") == "OK"
    c.send("vCont;c")
    stop = c._read_packet()
    assert stop.startswith("T05") and "swbreak:;" in stop, stop
    assert c.ask("D") == "OK"
    rc, out, err = stub.finish()
    assert rc == 7 and "counter 7" in out, (rc, out, err)


def test_gdb_sees_an_access_violation_first(build_fixture, arch):
    """An exception reaches the debugger before the guest's handlers (first chance): gdb stops with SIGSEGV at the
    faulting instruction; continuing passes it on (gdb's default for SIGSEGV) and the process dies of it."""
    exe = build_fixture("gdb_target.c", arch)
    syms = _symbols(exe, arch)
    stub = _Stub(exe, "crash")
    text = _gdb(arch, stub.port, "continue", "x/i $pc", "continue")
    rc, out, err = stub.finish()
    assert "Program received signal SIGSEGV" in text, text
    m = re.search(r"=> (0x[0-9a-f]+) <gdb_crash(?:\+\d+)?>:\s+movl\s+\$0x1,\(%[er][a-z]{2}\)", text)
    assert m and syms["gdb_crash"] <= int(m[1], 16) < syms["gdb_crash"] + 16, text
    assert "exited with code 030000000005]" in text, text          # 0xC0000005, in gdb's octal
    assert rc == 5 and "STATUS_ACCESS_VIOLATION" in err, (rc, err)


def _addresses(insn) -> int | None:
    """The absolute address a memory operand names ([0x409008] or [rip + 0x6a60]), else None."""
    m = re.search(r"\[(rip \+ )?(0x[0-9a-f]+)\]", insn.op_str)
    if not m:
        return None
    return int(m[2], 16) + (insn.address + insn.size if m[1] else 0)


def test_gdb_read_watchpoint_stops_after_each_read(build_fixture, arch):
    """rwatch (Z3): the lock add reads the counter (stop after it), then the load of the return value (stop after
    it); the program still computes 7."""
    import capstone
    exe = build_fixture("gdb_target.c", arch)
    pe = PEFile.open(str(exe))
    syms = _symbols(exe, arch)
    bump = syms["gdb_bump"]
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64 if arch == "x64" else capstone.CS_MODE_32)
    insns = list(md.disasm(pe.read_rva(bump - pe.image_base, 0x40), bump))
    readers = [i for i in insns if _addresses(i) == syms["gdb_counter"]][:2]   # lock add, then the load
    stub = _Stub(exe)
    text = _gdb(arch, stub.port, f"break *{bump:#x}", "continue", "delete", f"rwatch *(int*){syms['gdb_counter']:#x}",
                "continue", "continue", "delete", "continue")
    rc, out, err = stub.finish()
    stops = [int(a, 16) for a in re.findall(r"Value = 7\n(0x[0-9a-f]+) in gdb_bump", text)]
    assert len(readers) == 2 and stops == [i.address + i.size for i in readers], (readers, text)
    assert "exited with code 07]" in text and rc == 7 and "counter 7" in out, (rc, text)
