"""An exception in a DLL's entry point (issue 16): ntdll's LdrpCallInitRoutine calls DllMain inside
__try/__except, so an exception nothing in the DLL handles ends the DLL's initialisation, not the process.
Vectored handlers see it first, as for any exception. A run-time LoadLibrary then fails with
STATUS_DLL_INIT_FAILED (ERROR_DLL_INIT_FAILED) and the DLL is unloaded after DLL_PROCESS_DETACH, as for a DllMain
that returns FALSE; at start-up the process fails to initialise with STATUS_DLL_INIT_FAILED.

Reference: wine64 prints the same lines except the error of the faulting load, 998 (ERROR_NOACCESS: Wine's loader
returns the exception code); Windows's loader turns the caught exception into STATUS_DLL_INIT_FAILED (1114), the
status Wine's own kernel32/tests/loader.c accepts first for such a DLL. The x86 build also checks that the
thread's exception registration chain is restored (the loader's frame is a registration of its own)."""
import fixturebuild
from winhatch import runner
from winhatch.ntstatus import STATUS_DLL_INIT_FAILED


def _bins(arch):
    dll = fixturebuild.build("ldr_initfault.c", arch, dll=True)
    dyn = fixturebuild.build("ldr_useinitfault.c", arch)
    static = fixturebuild.build("ldr_useinitfault_static.c", arch, libs=[str(dll)], extra_inputs=[dll])
    return dll, dyn, static


def test_loadlibrary_of_a_dll_whose_entry_point_faults_fails_and_unloads(app_dir, arch):
    dll, dyn, _ = _bins(arch)
    app_dir(dll)
    res = runner.run(app_dir(dyn), [])
    assert res.exit_status == 0, (res.error, res.stdout, res.crash)
    assert res.stdout.decode().splitlines() == [
        "fault: loaded=0 err=1114 veh=1 log=AD still_mapped=0 chain_kept=1",
        "fault: loaded=0 err=1114 veh=2 log=AD still_mapped=0 chain_kept=1",   # unloaded: DllMain runs again
        "false: loaded=0 err=1114 veh=2 log=AD still_mapped=0 chain_kept=1",
        "ok: loaded=1 err=0 veh=2 log=AD still_mapped=0 chain_kept=1",
        "detachfault: loaded=1 err=0 veh=3 log=AD still_mapped=0 chain_kept=1",
        "threadfault: loaded=1 thread_exit=5 veh=4",
        "alive",
    ]


def test_entry_point_fault_at_startup_fails_process_initialisation(app_dir, arch):
    dll, _, static = _bins(arch)
    app_dir(dll)
    res = runner.run(app_dir(static), [])
    assert res.exit_status == STATUS_DLL_INIT_FAILED == 0xC0000142
    assert res.startup_error["dll"] == "ldr_initfault.dll"
    assert res.stdout == b""


def test_wow64transition_is_exported_by_the_32bit_ntdll_only(app_dir, arch):
    """x86: the variable holds the relocated address of ntdll's transition routine, which the system-service
    stubs call (on Windows it points into wow64cpu.dll, which winhatch does not have: the int 2Eh routine plays
    its part; Wine's loader.c checks the owner's file name, see tests/winetest/reasons/kernel32-loader.toml).
    x64 (and wine64): no such export."""
    exe = fixturebuild.build("ldr_wow64transition.c", arch)
    res = runner.run(app_dir(exe), [])
    assert res.exit_status == 0, (res.error, res.stdout)
    out = res.stdout.decode().splitlines()
    if arch == "x64":
        assert out == ["present=0"]
    else:
        assert out == ["present=1", "set=1", "image=1 executable=1", "stub_calls_it=1"]


def test_cplusplus_exception_in_dllmain(app_dir, arch):
    """A C++ exception caught inside DllMain does not disturb the load; on x64 (mingw's SEH-based C++ exceptions)
    one escaping DllMain is taken by the loader's handler and the load fails with ERROR_DLL_INIT_FAILED. (x86
    mingw's DWARF exceptions never reach Windows's dispatcher: an escaping one ends in std::terminate, so only the
    caught case runs there. wine64 hangs on the escaping throw; the expectation follows Windows's loader.)"""
    dll = fixturebuild.build("ldr_initthrow.cpp", arch, dll=True, flags=["-static-libgcc", "-static-libstdc++"])
    exe = fixturebuild.build("ldr_useinitthrow.c", arch)
    app_dir(dll)
    res = runner.run(app_dir(exe), ["throw"] if arch == "x64" else [])
    assert res.exit_status == 0, (res.error, res.stdout, res.crash)
    expect = ["catch: loaded=1 err=0"] + (["throw: loaded=0 err=1114"] if arch == "x64" else []) + ["alive"]
    assert res.stdout.decode().splitlines() == expect
