"""Debugging a guest process from outside: the GDB remote stub (winhatch.debug.gdbstub, `winhatch run --gdb`)."""
