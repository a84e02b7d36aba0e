"""LdrRegisterDllNotification / LdrUnregisterDllNotification: the loader calls the registered callbacks as guest
code (tests/fixtures/src/ldr_notify.c, with ldr_dlla.dll). The expected lines are wine64's output of the x64
build, except where Wine and Windows differ (said below)."""
from winhatch import runner

EXPECTED = [
    "register: 00000000",
    "A: attach static=0",
    # the callback ran before DllMain, with the module last in the memory-order list, and its data points at
    # the module's own LDR entry strings
    "load: calls=1 base_ok=1 data_ok=1",
    "A: detach",
    "free: calls=2",
    "A: attach static=0",
    "two: load calls=13",          # registration order, LOADED = 1
    "A: detach",
    "two: free calls=24",          # UNLOADED = 2, after DllMain's detach
    "unregister: 00000000 00000000",
    # Wine returns STATUS_SUCCESS for a cookie no longer registered; Microsoft documents STATUS_DLL_NOT_FOUND
    "unregister again: c0000135",
    # the EntryPoint the callback writes into the LDR entry is the DllMain called (ldr_dlla's own, which
    # prints, is not): attach 3 after the notification, detach 4 before the unload notification
    "replaced: load ok=1 calls=13",
    "replaced: free calls=42",
    # a DllMain failing in LoadLibrary: DLL_PROCESS_DETACH, the unload notification, ERROR_DLL_INIT_FAILED,
    # and the DLL is gone
    "failing: module=0 error=1114 calls=1342 still_loaded=0",
]


def test_dll_notifications(ldr_bins, app_dir, arch, build_fixture):
    app_dir(ldr_bins[arch]["a"])
    exe = app_dir(build_fixture("ldr_notify.c", arch))
    res = runner.run(exe, [])
    assert res.stdout.decode().splitlines() == EXPECTED
    assert res.exit_status == 0
    sent = [e.data for e in res.events if e.category == "loader" and e.name == "LdrpSendDllNotifications"]
    assert [(e["module"], e["reason"]) for e in sent][:3] == [("ldr_dlla.dll", 1), ("ldr_dlla.dll", 2),
                                                              ("ldr_dlla.dll", 1)]
