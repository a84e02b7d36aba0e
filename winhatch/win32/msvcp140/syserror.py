"""msvcp140.dll: std::system_error from the runtime (_Throw_Cpp_error, _Throw_C_error) and the error tables
of <system_error> (_Syserror_map: a generic error's message; _Winerror_map: a Windows error's generic one).

The messages are Microsoft's STL's: each std::errc enumerator's name with spaces for underscores ("device or
resource busy"), "unknown error" for another value. _Winerror_map knows the Windows errors Microsoft's STL maps
(its table: the file, sharing, memory and Winsock errors below) and gives 0 for the rest.

_Throw_Cpp_error(code) throws system_error(errc, generic_category()) for the runtime's codes _BUSY 0,
_INVALID_ARGUMENT 1, _NO_SUCH_PROCESS 2, _NOT_ENOUGH_MEMORY 3, _OPERATION_NOT_PERMITTED 4,
_RESOURCE_DEADLOCK_WOULD_OCCUR 5, _RESOURCE_UNAVAILABLE_TRY_AGAIN 6; what() is the error's message.
_Throw_C_error maps the C threads results (_Thrd_nomem 1 and _Thrd_timedout 2: try again; _Thrd_busy 3:
busy; _Thrd_error 4: invalid argument; anything else aborts).

The error_code in the thrown object names this DLL's generic category: an error_category object {vfptr,
_Addr = 3 (the generic category's identity, which operator== compares)} in the DLL's image, whose vftable is
[scalar deleting destructor, name, message, default_error_condition, equivalent(const error_code&, int),
equivalent(int, const error_condition&)] (the two overloads in reverse declaration order, as MSVC lays them
out). message() builds a std::string (MSVC layout: a 16-byte buffer or a heap pointer, size, capacity) in the
caller's return slot.
"""
from __future__ import annotations

import struct

from winhatch.win32 import api as api_mod
from winhatch.win32.api import api, internal_data, internal_function
from winhatch.win32.msvcrt import runtime as R
from winhatch.win32.msvcp140 import msvcp140 as P

DLL = "msvcp140.dll"
GENERIC_ADDR = 3

ERRC = {   # std::errc: value -> enumerator
    102: "address_family_not_supported", 100: "address_in_use", 101: "address_not_available",
    113: "already_connected", 7: "argument_list_too_long", 33: "argument_out_of_domain", 14: "bad_address",
    9: "bad_file_descriptor", 104: "bad_message", 32: "broken_pipe", 106: "connection_aborted",
    103: "connection_already_in_progress", 107: "connection_refused", 108: "connection_reset",
    18: "cross_device_link", 109: "destination_address_required", 16: "device_or_resource_busy",
    41: "directory_not_empty", 8: "executable_format_error", 17: "file_exists", 27: "file_too_large",
    38: "filename_too_long", 40: "function_not_supported", 110: "host_unreachable", 111: "identifier_removed",
    42: "illegal_byte_sequence", 25: "inappropriate_io_control_operation", 4: "interrupted", 22: "invalid_argument",
    29: "invalid_seek", 5: "io_error", 21: "is_a_directory", 115: "message_size", 116: "network_down",
    117: "network_reset", 118: "network_unreachable", 119: "no_buffer_space", 10: "no_child_process",
    121: "no_link", 39: "no_lock_available", 120: "no_message_available", 122: "no_message",
    123: "no_protocol_option", 28: "no_space_on_device", 124: "no_stream_resources", 6: "no_such_device_or_address",
    19: "no_such_device", 2: "no_such_file_or_directory", 3: "no_such_process", 20: "not_a_directory",
    128: "not_a_socket", 125: "not_a_stream", 126: "not_connected", 12: "not_enough_memory", 129: "not_supported",
    105: "operation_canceled", 112: "operation_in_progress", 1: "operation_not_permitted",
    130: "operation_not_supported", 140: "operation_would_block", 133: "owner_dead", 13: "permission_denied",
    134: "protocol_error", 135: "protocol_not_supported", 30: "read_only_file_system",
    36: "resource_deadlock_would_occur", 11: "resource_unavailable_try_again", 34: "result_out_of_range",
    127: "state_not_recoverable", 137: "stream_timeout", 139: "text_file_busy", 138: "timed_out",
    23: "too_many_files_open_in_system", 24: "too_many_files_open", 31: "too_many_links",
    114: "too_many_symbolic_link_levels", 132: "value_too_large", 136: "wrong_protocol_type",
}
_BY_NAME = {v: k for k, v in ERRC.items()}

# Windows error -> errc (Microsoft's STL's table)
WINERR = {
    5: "permission_denied", 183: "file_exists", 20: "no_such_device", 111: "filename_too_long",
    170: "device_or_resource_busy", 142: "device_or_resource_busy", 82: "permission_denied", 1011: "io_error",
    1012: "io_error", 1013: "io_error", 16: "permission_denied", 55: "no_such_device",
    2404: "device_or_resource_busy", 145: "directory_not_empty", 267: "invalid_argument", 112: "no_space_on_device",
    80: "file_exists", 2: "no_such_file_or_directory", 39: "no_space_on_device", 12: "permission_denied",
    15: "no_such_device", 1: "function_not_supported", 6: "invalid_argument", 123: "invalid_argument",
    87: "invalid_argument", 33: "no_lock_available", 212: "no_lock_available", 131: "invalid_argument",
    998: "permission_denied", 8: "not_enough_memory", 21: "resource_unavailable_try_again",
    17: "cross_device_link", 50: "not_supported", 110: "io_error", 2401: "device_or_resource_busy",
    995: "operation_canceled", 14: "not_enough_memory", 3: "no_such_file_or_directory", 30: "io_error",
    4393: "invalid_argument", 1237: "resource_unavailable_try_again", 25: "io_error", 32: "permission_denied",
    4: "too_many_files_open", 29: "io_error", 19: "permission_denied",
    10013: "permission_denied", 10048: "address_in_use", 10049: "address_not_available",
    10047: "address_family_not_supported", 10037: "connection_already_in_progress", 10009: "bad_file_descriptor",
    10053: "connection_aborted", 10061: "connection_refused", 10054: "connection_reset",
    10039: "destination_address_required", 10014: "bad_address", 10065: "host_unreachable",
    10036: "operation_in_progress", 10004: "interrupted", 10022: "invalid_argument", 10056: "already_connected",
    10024: "too_many_files_open", 10040: "message_size", 10063: "filename_too_long", 10050: "network_down",
    10052: "network_reset", 10051: "network_unreachable", 10055: "no_buffer_space", 10042: "no_protocol_option",
    10057: "not_connected", 10038: "not_a_socket", 10045: "operation_not_supported",
    10043: "protocol_not_supported", 10041: "wrong_protocol_type", 10060: "timed_out",
    10035: "operation_would_block",
}

CPP_CODES = ("device_or_resource_busy", "invalid_argument", "no_such_process", "not_enough_memory",
             "operation_not_permitted", "resource_deadlock_would_occur", "resource_unavailable_try_again")


def message(ev: int) -> str:
    name = ERRC.get(ev)
    return name.replace("_", " ") if name else "unknown error"


# ------------------------------------------------------------------------------------------ the tables
BLOB = "system_error data"
CAT_SLOTS = ("dtor", "name", "message", "default_error_condition", "equivalent(code,int)", "equivalent(int,cond)")
internal_data(DLL, BLOB, 0x800)
for _s in CAT_SLOTS:
    internal_function(DLL, f"_Generic_error_category::{_s}")


class _Data:
    """The generic category object, its vftable and the message strings _Syserror_map returns."""

    def __init__(self, c):
        from winhatch.ldr import loader
        m = loader.state_of(c.proc).by_name[DLL]
        sec = next(x for x in m.pe.sections if x.name == api_mod.INTERNAL_DATA)
        layout, _ = api_mod.internal_data_layout(DLL)
        at = m.base + sec.virtual_address + layout[BLOB]
        ps = c.ptr_size
        internal = P._internal_addrs(c)
        c.write_ptr(at, 0)                               # no RTTI Complete Object Locator
        vft = at + ps
        for i, slot in enumerate(CAT_SLOTS):
            c.write_ptr(vft + i * ps, internal[f"_Generic_error_category::{slot}"])
        self.generic = vft + len(CAT_SLOTS) * ps
        c.write_ptr(self.generic, vft)
        c.write_ptr(self.generic + ps, GENERIC_ADDR)
        at = self.generic + 2 * ps
        self.strings: dict[str, int] = {}
        for text in sorted({message(v) for v in ERRC} | {"unknown error", "generic"}):
            self.strings[text] = at
            c.write(at, text.encode() + b"\0")
            at += len(text) + 1


def _data(c) -> _Data:
    d = c.proc.subsystem.get("msvcp140_syserror")
    if d is None:
        d = c.proc.subsystem["msvcp140_syserror"] = _Data(c)
    return d


def _syserror_map(c, ev):
    ev = ev - (1 << 32) if ev & 0x80000000 else ev
    return _data(c).strings[message(ev)]


def _winerror_map(c, err):
    name = WINERR.get(err & 0xFFFFFFFF)
    return _BY_NAME[name] if name else 0


P._declare_plain("?_Syserror_map@std@@YAPEBDH@Z", "const char * __cdecl Syserror_map(int ev)", _syserror_map)
P._declare_plain("?_Winerror_map@std@@YAHH@Z", "int __cdecl Winerror_map(int err)", _winerror_map)


# ------------------------------------------------------------------------------------------ the generic category
def _new_string(c, ret: int, text: bytes) -> int:
    """std::string (MSVC): union { char _Buf[16]; char *_Ptr; } _Bx; size_t _Mysize, _Myres (x64 32, x86 24)."""
    ps = c.ptr_size
    n = len(text)
    if n < 16:
        c.write(ret, text.ljust(16, b"\0"))
        cap = 15
    else:
        buf = R.alloc(c, n + 1)
        c.write(buf, text + b"\0")
        c.write(ret, bytes(16))
        c.write_ptr(ret, buf)
        cap = n
    c.write_ptr(ret + 16, n)
    c.write_ptr(ret + 16 + ps, cap)
    return ret


def _cat_dtor(c, this, flags):
    return this                  # the DLL's static object


def _cat_name(c, this):
    return _data(c).strings["generic"]


def _cat_message(c, this, ret, ev):
    ev = ev - (1 << 32) if ev & 0x80000000 else ev
    return _new_string(c, ret, message(ev).encode())


def _cat_default_condition(c, this, ret, ev):
    c.write(ret, bytes(2 * c.ptr_size))
    c.write_u32(ret, ev)
    c.write_ptr(ret + c.ptr_size, this)
    return ret


def _is_generic(c, cat: int) -> bool:
    return bool(cat) and c.ptr(cat + c.ptr_size) == GENERIC_ADDR


def _cat_equiv_code(c, this, code, ev):
    """equivalent(const error_code &code, int ev): code's category is this one and its value is ev."""
    return int(_is_generic(c, c.ptr(code + c.ptr_size)) and c.u32(code) == ev & 0xFFFFFFFF)


def _cat_equiv_cond(c, this, ev, cond):
    """equivalent(int ev, const error_condition &cond): default_error_condition(ev) == cond."""
    return int(_is_generic(c, c.ptr(cond + c.ptr_size)) and c.u32(cond) == ev & 0xFFFFFFFF)


def _internal(slot: str, proto: str, fn) -> None:
    api(DLL, proto)(fn)
    api_mod._REGISTRY[-1].name = f"_Generic_error_category::{slot}"


_internal("dtor", "void * __thiscall dtor(void *this_, unsigned int flags)", _cat_dtor)
_internal("name", "const char * __thiscall name(void *this_)", _cat_name)
_internal("message", "void * __thiscall message(void *this_, void *ret, int ev)", _cat_message)
_internal("default_error_condition", "void * __thiscall default_error_condition(void *this_, void *ret, int ev)",
          _cat_default_condition)
_internal("equivalent(code,int)", "int __thiscall equivalent(void *this_, const void *code, int ev)",
          _cat_equiv_code)
_internal("equivalent(int,cond)", "int __thiscall equivalent(void *this_, int ev, const void *cond)",
          _cat_equiv_cond)


# ------------------------------------------------------------------------------------------ the throwers
def _throw_cpp_error(c, code):
    from winhatch.win32.vcruntime.cxx_classes import MSVCP, throw
    code &= 0xFFFFFFFF
    if code >= len(CPP_CODES):
        P.stop(c, f"std::_Throw_Cpp_error with the unknown code {code}")
    ev = _BY_NAME[CPP_CODES[code]]
    ps = c.ptr_size
    extra = struct.pack("<I", ev) + bytes(ps - 4) + _data(c).generic.to_bytes(ps, "little")
    throw(c, "system_error", message(ev).encode(), dll=MSVCP, extra=extra)


def _throw_c_error(c, code):
    from winhatch.win32.msvcrt.process import abort
    code &= 0xFFFFFFFF
    mapped = {1: 6, 2: 6, 3: 0, 4: 1}.get(code)
    if mapped is None:
        abort(c)
        return
    _throw_cpp_error(c, mapped)


P._declare("?_Throw_Cpp_error@std@@YAXH@Z", "void __cdecl Throw_Cpp_error(int code)", _throw_cpp_error)
P._declare("?_Throw_C_error@std@@YAXH@Z", "void __cdecl Throw_C_error(int code)", _throw_c_error)
