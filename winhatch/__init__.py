"""winhatch — an emulator of how Windows gives birth to a process.

    import winhatch
    r = winhatch.run("hello.exe", ["a", "b"], trace="stages")
    r.exit_status, r.stdout, r.events, r.modules, r.memory_map, r.report()

`winhatch.run` is `winhatch.runner.run` (see its docstring for every option: cwd, env, timeout,
max_instructions, max_memory, max_handles, stdout/stderr/stdin streams, trace, subscribers, notify callbacks);
a Ctrl-C during it ends the guests with STATUS_CONTROL_C_EXIT, removes the sandbox and raises
`winhatch.runner.Interrupted` (a KeyboardInterrupt carrying the result).  `winhatch.deps` walks a PE file's
dependency tree without running it.  `winhatch.Session` runs a program with instrumentation hooks (APIs,
system services, addresses and code ranges, memory, exceptions, process/thread/image events) and gives
access to guest memory, registers, modules, memory regions and handles (see `winhatch.session`).
"""

__version__ = "0.1.0"

__all__ = ["run", "deps", "RunResult", "Session", "__version__"]


def run(path, args=(), **kw):
    """Create a process from a PE file and run it; returns a `RunResult` (see `winhatch.runner.run`).  Ctrl-C:
    the guests end with STATUS_CONTROL_C_EXIT (0xC000013A), the sandbox is removed, then
    `winhatch.runner.Interrupted` (a KeyboardInterrupt) is raised with the result in ``.result``."""
    from winhatch import runner
    return runner.run(path, args, **kw)


def deps(path, **kw) -> dict:
    """The dependency tree of a PE file, found as the loader would (see `winhatch.report.deps`)."""
    from winhatch.report.deps import dependency_tree
    return dependency_tree(path, **kw)


def __getattr__(name):
    if name == "RunResult":
        from winhatch.runner import RunResult
        return RunResult
    if name == "Session":
        from winhatch.session import Session
        return Session
    raise AttributeError(f"module 'winhatch' has no attribute {name!r}")
