"""RtlGetEnabledExtendedFeatures: the XSTATE features the system enables, as ntdll answers it — from
KUSER_SHARED_DATA.XState.EnabledFeatures in the guest's shared page, masked with the caller's FeatureMask."""
from __future__ import annotations

from winhatch.kernel.structs import KUSER_SHARED_DATA, KUSER_SHARED_DATA_ADDRESS, XSTATE_CONFIGURATION
from winhatch.win32.api import api

NT = "ntdll.dll"


def enabled_xstate_features(c) -> int:
    arch = c.arch
    off = KUSER_SHARED_DATA.offset(arch, "XState") + XSTATE_CONFIGURATION.offset(arch, "EnabledFeatures")
    return int.from_bytes(c.read(KUSER_SHARED_DATA_ADDRESS + off, 8), "little")


@api(NT, "ULONG64 NTAPI RtlGetEnabledExtendedFeatures(ULONG64 FeatureMask)")
def RtlGetEnabledExtendedFeatures(c, mask):
    return enabled_xstate_features(c) & mask
