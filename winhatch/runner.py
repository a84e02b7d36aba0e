"""The Python API behind `winhatch run`: create a process from a host PE file and run it to its end.

    from winhatch import runner
    result = runner.run("hello.exe", ["a b", "c"], trace={"stages"})
    result.exit_status, result.stdout, result.events, result.modules, result.memory_map
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from winhatch.kernel.ke.dispatcher import MachineStop
from winhatch.ntstatus import NtStatusError, status_name

APP_DIR = "C:\\app"


@dataclass
class RunResult:
    exit_status: int | None
    stdout: bytes
    stderr: bytes
    process: object = None
    machine: object = None
    events: list = field(default_factory=list)
    error: str | None = None  # why the process could not start or was stopped (one line)
    crash: dict | None = None
    startup_error: dict | None = None
    unimplemented: list = field(default_factory=list)

    @property
    def modules(self) -> list[dict]:
        st = self.process.subsystem.get("ldr") if self.process else None
        if st is None:
            return []
        return [{"name": m.name, "path": m.path, "base": m.base, "size": m.size, "load_count": m.load_count,
                 "hint_hits": m.hint_hits, "hint_misses": m.hint_misses} for m in st.modules]

    @property
    def memory_map(self) -> list[dict]:
        if self.process is None or self.process.aspace is None:
            return []
        out = []
        for r in self.process.aspace.regions():
            out.append({k: getattr(r, k) for k in ("BaseAddress", "AllocationBase", "AllocationProtect",
                                                     "RegionSize", "State", "Protect", "Type")
                        if hasattr(r, k)})
        return out


def quote_arg(a: str) -> str:
    """Quote one argument so the C runtime's parser gives it back unchanged."""
    if a and not any(ch in a for ch in ' \t\n\v"'):
        return a
    out = ['"']
    bs = 0
    for ch in a:
        if ch == "\\":
            bs += 1
            continue
        if ch == '"':
            out.append("\\" * (bs * 2 + 1) + '"')
        else:
            out.append("\\" * bs + ch)
        bs = 0
    out.append("\\" * (bs * 2) + '"')
    return "".join(out)


def build_command_line(program_guest_path: str, args: list[str]) -> str:
    return " ".join([quote_arg(program_guest_path)] + [quote_arg(a) for a in args])


def run(path: str | Path, args: list[str] | tuple = (), *, cwd: str | None = None, env: dict[str, str] | None = None,
        timeout: float | None = None, max_instructions: int | None = None, stdout=None, stderr=None, stdin=None,
        trace=None, subscribers=(), notify=None, readonly_app_dir: bool = False, setup_machine=None) -> RunResult:
    """Run a PE program. stdout/stderr: binary streams for the guest's output (captured copies are returned
    in the result either way). `notify`: dict with optional 'process', 'thread', 'image' callbacks."""
    from winhatch.kernel.io.console import Console
    from winhatch.kernel.machine import Machine
    from winhatch.kernel.ps.create import CreateProcessInternalW
    from winhatch.pe import PEFile, PEFormatError
    from winhatch.win32 import subsystem

    host = Path(path).resolve()
    if not host.is_file():
        return RunResult(None, b"", b"", error=f"{path}: no such file")
    try:
        arch = PEFile.open(str(host)).arch
    except PEFormatError as e:
        return RunResult(None, b"", b"", error=f"{path}: {e}")
    out = stdout if stdout is not None else io.BytesIO()
    err = stderr if stderr is not None else io.BytesIO()
    console = Console(out, err, stdin)
    machine = Machine(console=console)
    if setup_machine:
        setup_machine(machine)
    for fn in subscribers:
        machine.events.subscribe(fn)
    if notify:
        if notify.get("process"):
            machine.notify.PsSetCreateProcessNotifyRoutineEx(notify["process"])
        if notify.get("thread"):
            machine.notify.PsSetCreateThreadNotifyRoutine(notify["thread"])
        if notify.get("image"):
            machine.notify.PsSetLoadImageNotifyRoutine(notify["image"])
    try:
        subsystem.setup(machine, arches=(arch,) if arch in ("x86", "x64") else ("x64",))
        machine.vfs.mount(APP_DIR, host.parent, readonly=readonly_app_dir)
        guest = APP_DIR + "\\" + host.name
        environment = machine.default_environment()
        if env:
            environment.update(env)
        machine.dispatcher.timeout_s = timeout or 0.0
        machine.dispatcher.max_instructions = max_instructions or 0
        cmd = build_command_line(guest, list(args))
        res = CreateProcessInternalW(machine, None, None, cmd, environment=environment,
                                     current_directory=cwd or APP_DIR)
        if not res.ok:
            return RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                             events=machine.events.events,
                             error=f"CreateProcess failed: {res.message} (error {res.error}, "
                                   f"{status_name(res.status)})")
        proc = res.process
        error = None
        try:
            machine.dispatcher.run(until=lambda: proc.exited)
        except MachineStop as e:
            error = e.reason
            machine.terminate_process(proc, e.status)
        if not proc.exited:
            error = error or "no thread can run (all threads are waiting)"
            machine.terminate_process(proc, 0xC0000194)
        if getattr(proc, "stop_message", None):
            error = proc.stop_message
        return RunResult(proc.exit_status, console.captured_stdout, console.captured_stderr, proc, machine,
                         machine.events.events, error, getattr(proc, "crash", None),
                         getattr(proc, "startup_error", None), proc.subsystem.get("unimplemented", []))
    except NtStatusError as e:
        return RunResult(None, console.captured_stdout, console.captured_stderr, machine=machine,
                         events=machine.events.events, error=str(e))

