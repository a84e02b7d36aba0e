"""ntdll.dll user mode: the Rtl library (rtl_*), the loader entry points (ldr), the native I/O helpers (io),
   SLists, and exception dispatch — the dispatcher machinery (exceptions: KiUserExceptionDispatcher,
   RtlDispatchException, RtlUnwind(Ex), the x64 unwinder) and its APIs (seh). The Nt*/Zw* exports are
   system-call stubs: their services live with the kernel component that owns them (winhatch/kernel/*/)."""
