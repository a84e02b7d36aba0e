"""LdrpInitializeProcess's copy of the process parameters into the process heap: the kernel writes
RTL_USER_PROCESS_PARAMETERS and the environment into the new process as their own allocations; once the process
heap exists, ntdll copies the structure with its strings into one heap block (Length = MaximumLength = the
block's HeapSize; the strings packed after the structure in the order DllPath, ImagePathName, CommandLine,
WindowTitle, DesktopInfo, ShellInfo, RuntimeData, each MaximumLength bytes, unaligned), the current directory's
buffer into a block of its own and the environment into another (EnvironmentSize = its HeapSize), and points
PEB.ProcessParameters at the copy (Wine's ntdll/tests/env.c test_process_params checks all of this of the
current process, as on Windows)."""
from __future__ import annotations

from winhatch.kernel.structs import PEB, RTL_USER_PROCESS_PARAMETERS

_PACKED = ("DllPath", "ImagePathName", "CommandLine", "WindowTitle", "DesktopInfo", "ShellInfo", "RuntimeData")


def move_parameters_to_heap(proc, heap) -> None:
    arch = proc.arch
    aspace = proc.aspace
    R = RTL_USER_PROCESS_PARAMETERS
    old = proc.parameters["address"]
    size = R.size(arch)
    raw = aspace.read(old, size)
    fields = R.read(aspace, old, arch, *_PACKED, "CurrentDirectory", "Environment", "EnvironmentSize")
    total = size + sum(fields[n]["MaximumLength"] for n in _PACKED if fields[n]["Buffer"])
    new = heap.alloc(total)
    aspace.write(new, raw)
    cursor = new + size
    updates: dict = {}
    for n in _PACKED:
        us = fields[n]
        if not us["Buffer"] or not us["MaximumLength"]:
            updates[n] = {"Length": 0, "MaximumLength": 0, "Buffer": 0}      # no string: NULL and empty
            continue
        aspace.write(cursor, aspace.read(us["Buffer"], us["MaximumLength"]))
        updates[n] = {"Length": us["Length"], "MaximumLength": us["MaximumLength"], "Buffer": cursor}
        cursor += us["MaximumLength"]
    dos = fields["CurrentDirectory"]["DosPath"]
    if dos["Buffer"] and dos["MaximumLength"]:
        buf = heap.alloc(dos["MaximumLength"])
        aspace.write(buf, aspace.read(dos["Buffer"], dos["MaximumLength"]))
        updates["CurrentDirectory.DosPath"] = {"Length": dos["Length"], "MaximumLength": dos["MaximumLength"],
                                               "Buffer": buf}
    env_size = fields["EnvironmentSize"]
    env = fields["Environment"]
    new_env = env
    if env and env_size:
        new_env = heap.alloc(env_size)
        aspace.write(new_env, aspace.read(env, env_size))
    R.write(aspace, new, arch, MaximumLength=total, Length=total, Environment=new_env, EnvironmentSize=env_size,
            **updates)
    PEB.write(aspace, proc.peb, arch, ProcessParameters=new)
    proc.parameters = dict(proc.parameters, address=new, environment=new_env)
