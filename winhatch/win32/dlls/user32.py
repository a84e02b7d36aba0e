"""user32: message boxes. There is no desktop: a message box is recorded as a `ui` event (its caption,
text and buttons are in the event log and the report) and answered at once as a user clicking the default
button would (IDOK for MB_OK, the first button otherwise), so the program goes on as it would on Windows.
"""
from __future__ import annotations

from winhatch.win32.api import api

U32 = "user32.dll"
IDOK, IDCANCEL, IDABORT, IDRETRY, IDIGNORE, IDYES, IDNO, IDTRYAGAIN, IDCONTINUE = 1, 2, 3, 4, 5, 6, 7, 10, 11
# MB_TYPEMASK value -> the default (first) button's result, or the result of MB_DEFBUTTON2/3
_BUTTONS = {0: (IDOK,), 1: (IDOK, IDCANCEL), 2: (IDABORT, IDRETRY, IDIGNORE), 3: (IDYES, IDNO, IDCANCEL),
            4: (IDYES, IDNO), 5: (IDRETRY, IDCANCEL), 6: (IDCANCEL, IDTRYAGAIN, IDCONTINUE)}


def _message_box(c, text, caption, style, api_name) -> int:
    buttons = _BUTTONS.get(style & 0xF, (IDOK,))
    default = (style >> 8) & 0xF  # MB_DEFBUTTON1..4 = 0x000, 0x100, 0x200, 0x300
    answer = buttons[default] if default < len(buttons) else buttons[0]
    c.machine.events.emit("ui", "message_box", c.proc.pid, c.thread.tid, api=api_name,
                          caption=caption if caption is not None else "Error", text=text or "",
                          style=f"0x{style:x}", answer=answer)
    return answer


@api(U32, "int WINAPI MessageBox%(HWND hWnd, LPCTSTR lpText, LPCTSTR lpCaption, UINT uType)")
def MessageBox(c, hwnd, text, caption, style):
    return _message_box(c, text, caption, style, c.name)


@api(U32, "int WINAPI MessageBoxEx%(HWND hWnd, LPCTSTR lpText, LPCTSTR lpCaption, UINT uType, WORD wLanguageId)")
def MessageBoxEx(c, hwnd, text, caption, style, lang):
    return _message_box(c, text, caption, style, c.name)


@api(U32, "int WINAPI MessageBoxTimeout%(HWND hWnd, LPCTSTR lpText, LPCTSTR lpCaption, UINT uType, "
          "WORD wLanguageId, DWORD dwMilliseconds)")
def MessageBoxTimeout(c, hwnd, text, caption, style, lang, ms):
    return _message_box(c, text, caption, style, c.name)
