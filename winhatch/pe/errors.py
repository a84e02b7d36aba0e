"""The one exception the PE parser raises."""
from __future__ import annotations

from winhatch.ntstatus import STATUS_INVALID_IMAGE_FORMAT, NtStatusError

# Not in winhatch.ntstatus (documented value from ntstatus.h).
STATUS_INVALID_IMAGE_LE_FORMAT = 0xC000012E


class PEFormatError(NtStatusError):
    """A malformed image: carries the NTSTATUS Windows gives, the reason and the file offset (or None).

    str(err) -> "<reason> at offset 0x40 (STATUS_INVALID_IMAGE_FORMAT, 0xC000007B)".
    """

    def __init__(self, reason: str, offset: int | None = None, status: int = STATUS_INVALID_IMAGE_FORMAT):
        self.reason = reason
        self.offset = offset
        where = f" at offset 0x{offset:x}" if offset is not None else ""
        super().__init__(status, reason + where)

    def __reduce__(self):  # picklable (pytest-xdist ships exceptions between processes)
        return (type(self), (self.reason, self.offset, self.status))
