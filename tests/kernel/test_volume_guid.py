"""A volume's GUID name is the RFC 4122 version-5 UUID of "volume-<drive>" in winhatch's namespace, made with
hashlib (winhatch.kernel.io.mountmgr.volume_guid): exactly what the standard library's uuid.uuid5 gives."""
import string
import uuid

from winhatch.kernel.io.mountmgr import _GUID_NS, volume_guid


def test_volume_guid_is_uuid5():
    ns = uuid.UUID(bytes=_GUID_NS)
    for drive in string.ascii_uppercase + "cz":
        assert volume_guid(drive) == "{" + str(uuid.uuid5(ns, "volume-" + drive.upper())) + "}"
    assert volume_guid("C") == volume_guid("c")
