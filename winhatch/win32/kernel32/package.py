"""kernel32 / kernelbase: package identity — parsing an app package's full name into a PACKAGE_ID
(PackageIdFromFullName). The full name is "Name_Major.Minor.Build.Revision_Architecture_ResourceId_PublisherId";
the publisher id is 13 characters of Crockford's base-32 alphabet (the hash of the publisher, which the name
does not carry: PACKAGE_ID.publisher is NULL)."""
from __future__ import annotations

import struct

from winhatch.ntstatus import ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER
from winhatch.win32.api import api

K32 = ("kernel32.dll", "kernelbase.dll")
ARCHITECTURES = {"x86": 0, "arm": 5, "x64": 9, "neutral": 11, "arm64": 12, "unknown": 0xFFFF}
PUBLISHER_ID_CHARS = set("0123456789abcdefghjkmnpqrstvwxyz")


def parse_full_name(text: str):
    """(name, version, architecture, resource id, publisher id) or None if the name is malformed."""
    parts = text.split("_")
    if len(parts) != 5:
        return None
    name, version, arch, resource, publisher = parts
    if not name:
        return None
    nums = version.split(".")
    if len(nums) != 4 or not all(n.isdigit() and int(n) <= 0xFFFF for n in nums):
        return None
    code = ARCHITECTURES.get(arch.lower())
    if code is None:
        return None
    if len(publisher) != 13 or not set(publisher.lower()) <= PUBLISHER_ID_CHARS:
        return None
    major, minor, build, rev = (int(n) for n in nums)
    return name, (major << 48) | (minor << 32) | (build << 16) | rev, code, resource, publisher


@api(K32, "LONG WINAPI PackageIdFromFullName(PCWSTR packageFullName, UINT32 flags, UINT32 *bufferLength, "
     "BYTE *buffer)")
def PackageIdFromFullName(c, pname, flags, plen, buf):
    """PACKAGE_ID (reserved, processorArchitecture, version, name, publisher, resourceId, publisherId) then the
    strings it points at: name, resource id, publisher id. Returns a Win32 error code (the last error is not
    set). A NULL buffer with a nonzero length is ERROR_INVALID_PARAMETER; a short one ERROR_INSUFFICIENT_BUFFER
    with the length needed."""
    if pname is None or not plen:
        return ERROR_INVALID_PARAMETER
    parsed = parse_full_name(pname)
    if parsed is None:
        return ERROR_INVALID_PARAMETER
    have = c.u32(plen)
    if not buf and have:
        return ERROR_INVALID_PARAMETER
    name, version, code, resource, publisher = parsed
    ps = c.ptr_size
    head = 16 + 4 * ps
    strings = [(name + "\0").encode("utf-16-le"), (resource + "\0").encode("utf-16-le"),
               (publisher + "\0").encode("utf-16-le")]
    need = head + sum(len(s) for s in strings)
    if have < need:
        c.write_u32(plen, need)
        return ERROR_INSUFFICIENT_BUFFER
    addrs, off = [], buf + head
    for s in strings:
        addrs.append(off)
        off += len(s)
    fmt = "<IIQ" + ("4Q" if ps == 8 else "4I")
    c.write(buf, struct.pack(fmt, 0, code, version, addrs[0], 0, addrs[1], addrs[2]) + b"".join(strings))
    c.write_u32(plen, need)
    return 0
