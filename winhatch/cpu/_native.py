"""Thin ctypes layer over libunicorn for the hot paths.

The official Python binding costs ~5-6 µs per register read (generic type dispatch); calling the C
library directly costs ~0.7 µs.  Trap handlers do several register/memory accesses per API call, so
the difference is most of a trap's cost.  The engine is winhatch.cpu.ucbind's ``Engine`` (rare operations:
map/unmap/protect/ctl/context); registers, memory and hooks of the hot paths go through the prototypes below.
"""
from __future__ import annotations

import ctypes

# The library and the prototypes of the rarer calls are winhatch.cpu.ucbind's (no import of the unicorn package).
from winhatch.cpu.ucbind import HOOK_INTR, HOOK_MEM_INVALID, LIB_PATH, lib  # noqa: F401  (re-exported)

c_void_p = ctypes.c_void_p
c_int = ctypes.c_int
c_u64 = ctypes.c_uint64
c_size = ctypes.c_size_t

# Hot-path variants, measured (µs per call, shared box, noisy): uc_reg_read through a CDLL prototype with
# argtypes 2.0, without argtypes 0.7 (the handle is passed as a ready c_void_p, the id as a small int, the
# value by byref); uc_mem_read 2.7 through CDLL vs 1.5 through PyDLL (which keeps the GIL: these calls
# are short, and releasing/re-taking the GIL costs more than the call).  uc_emu_start must stay on the
# CDLL so the watchdog thread can run while the guest executes.
_lib_fast = ctypes.CDLL(LIB_PATH)
reg_read = _lib_fast.uc_reg_read
reg_read.argtypes = None
reg_read.restype = c_int
reg_write = _lib_fast.uc_reg_write
reg_write.argtypes = None
reg_write.restype = c_int
# uc_reg_read_batch(uc, int *ids, void **vals, int count) / uc_reg_write_batch: one call for the registers
# an API trap needs (the stack pointer and the argument registers in, the return registers out).
reg_read_batch = _lib_fast.uc_reg_read_batch
reg_read_batch.argtypes = None
reg_read_batch.restype = c_int
reg_write_batch = _lib_fast.uc_reg_write_batch
reg_write_batch.argtypes = None
reg_write_batch.restype = c_int
_pylib = ctypes.PyDLL(LIB_PATH)
mem_read = _pylib.uc_mem_read
mem_read.argtypes = (c_void_p, c_u64, c_void_p, c_size)
mem_read.restype = c_int
mem_write = _pylib.uc_mem_write
mem_write.argtypes = (c_void_p, c_u64, ctypes.c_char_p, c_size)
mem_write.restype = c_int
# the same, from a ctypes object (byref of the CPU's scratch integer: no bytes object per small write)
mem_write_p = _pylib["uc_mem_write"]   # a separate function object (attribute access is cached)
mem_write_p.argtypes = (c_void_p, c_u64, c_void_p, c_size)
mem_write_p.restype = c_int

UC_ERR_OK = 0
