"""kernel32 / kernelbase: the preferred UI languages — Get{System,User,Thread}PreferredUILanguages,
SetThreadPreferredUILanguages and SetThreadUILanguage — over ntdll's lists (winhatch.win32.ntdll.rtl_muilang):
the NTSTATUS becomes the last error (STATUS_BUFFER_TOO_SMALL: ERROR_INSUFFICIENT_BUFFER, a bad flag or size:
ERROR_INVALID_PARAMETER)."""
from __future__ import annotations

from winhatch.ntstatus import ERROR_INVALID_PARAMETER
from winhatch.win32.api import api
from winhatch.win32.kernel32.common import K32
from winhatch.win32.ntdll import rtl_muilang as mui


def _result(c, status: int) -> int:
    if status:
        c.set_last_nt_error(status)
        return 0
    return 1


@api(K32, "BOOL WINAPI GetSystemPreferredUILanguages(DWORD dwFlags, PULONG pulNumLanguages, "
          "LPWSTR_RAW pwszLanguagesBuffer, PULONG pcchLanguagesBuffer)")
def GetSystemPreferredUILanguages(c, flags, pcount, buf, psize):
    return _result(c, mui.RtlGetSystemPreferredUILanguages(c, flags, 0, pcount, buf, psize))


@api(K32, "BOOL WINAPI GetUserPreferredUILanguages(DWORD dwFlags, PULONG pulNumLanguages, "
          "LPWSTR_RAW pwszLanguagesBuffer, PULONG pcchLanguagesBuffer)")
def GetUserPreferredUILanguages(c, flags, pcount, buf, psize):
    return _result(c, mui.RtlGetUserPreferredUILanguages(c, flags, 0, pcount, buf, psize))


@api(K32, "BOOL WINAPI GetThreadPreferredUILanguages(DWORD dwFlags, PULONG pulNumLanguages, "
          "LPWSTR_RAW pwszLanguagesBuffer, PULONG pcchLanguagesBuffer)")
def GetThreadPreferredUILanguages(c, flags, pcount, buf, psize):
    return _result(c, mui.RtlGetThreadPreferredUILanguages(c, flags, pcount, buf, psize))


@api(K32, "BOOL WINAPI SetThreadPreferredUILanguages(DWORD dwFlags, LPCWSTR_RAW pwszLanguagesBuffer, "
          "PULONG pulNumLanguages)")
def SetThreadPreferredUILanguages(c, flags, buf, pcount):
    return _result(c, mui.RtlSetThreadPreferredUILanguages(c, flags, buf, pcount))


@api(K32, "LANGID WINAPI SetThreadUILanguage(LANGID LangId)")
def SetThreadUILanguage(c, langid):
    """A LANGID (its primary language one Windows assigns) becomes the thread's only UI language and is returned;
    0 sets nothing and returns the thread's UI language (GetThreadUILanguage). Another value: 0 with
    ERROR_INVALID_PARAMETER."""
    from winhatch.win32.kernel32.locale import LANG_LAST
    langid &= 0xFFFF
    if langid == 0:
        return thread_ui_language(c)
    if not (0 < langid & 0x3FF <= LANG_LAST):
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    mui.set_thread_languages(c, [langid])
    return langid


def thread_ui_language(c) -> int:
    """The thread's first own UI language, else the user's."""
    own = mui.thread_languages(c)
    return own[0] if own else mui.user_language(c)
