"""The national-language system services: the default locales and UI languages the kernel keeps
(winhatch.kernel.ex.nls, the profile's [locale]) — what kernelbase's GetUserDefaultLCID, GetSystemDefaultLCID,
GetUserDefaultUILanguage and GetSystemDefaultUILanguage ask."""
from __future__ import annotations

import struct

from winhatch.kernel.ke.services import kernel_service, user_write


@kernel_service("NtQueryDefaultLocale")
def NtQueryDefaultLocale(machine, thread, UserProfile, DefaultLocaleId):
    """The user's (UserProfile TRUE) or the system's default LCID; a bad pointer: STATUS_ACCESS_VIOLATION."""
    nls = machine.nls
    lcid = nls.user.lcid if UserProfile & 0xFF else nls.system.lcid
    user_write(thread.process, DefaultLocaleId, struct.pack("<I", lcid))
    return 0


@kernel_service("NtQueryDefaultUILanguage")
def NtQueryDefaultUILanguage(machine, thread, DefaultUILanguageId):
    """The user's UI language (a LANGID)."""
    user_write(thread.process, DefaultUILanguageId, struct.pack("<H", machine.nls.ui.langid))
    return 0


@kernel_service("NtQueryInstallUILanguage")
def NtQueryInstallUILanguage(machine, thread, InstallUILanguageId):
    """The language Windows was installed in: the UI language of the profile."""
    user_write(thread.process, InstallUILanguageId, struct.pack("<H", machine.nls.ui.langid))
    return 0
