/* winhatch-host: libs=user32 subsystem=windows */
/* winhatch's notepad.exe (C:\Windows\System32\notepad.exe and SysWOW64\notepad.exe): the program Windows ships
   there, as far as other programs see it — test suites and samples start it as a harmless process of the
   right bitness (Wine's ntdll/exception sets a WoW64 notepad's debug registers; process hollowing picks it as
   its host). Its main window has the class "Notepad" and the title "NAME - Notepad" ("Untitled - Notepad"
   without a file), with a multi-line child of the class "Edit" that holds the text of the file named on its
   command line (read as ANSI text, or UTF-16LE after its byte-order mark; a missing file leaves it empty).
   It runs a message loop until its window is closed (WM_CLOSE, as a user's click would send; exit code 0).
   Not modelled: menus, saving, printing, dialogs — a user never sees winhatch's windows.
   Built by tools/build_hosts.py; the binaries are committed with this source's sha256. */
#include <windows.h>

static HWND edit;

static LRESULT CALLBACK main_proc(HWND hwnd, UINT msg, WPARAM wp, LPARAM lp)
{
    switch (msg) {
    case WM_SIZE:
        if (edit)
            MoveWindow(edit, 0, 0, LOWORD(lp), HIWORD(lp), TRUE);
        return 0;
    case WM_SETFOCUS:
        if (edit)
            SetFocus(edit);
        return 0;
    case WM_DESTROY:
        PostQuitMessage(0);
        return 0;
    }
    return DefWindowProcW(hwnd, msg, wp, lp);
}

/* the command line's first argument after the program's name (quotes removed), or NULL */
static WCHAR *file_argument(WCHAR *cl)
{
    if (*cl == L'"') {
        cl++;
        while (*cl && *cl != L'"') cl++;
        if (*cl) cl++;
    } else {
        while (*cl && *cl != L' ' && *cl != L'\t') cl++;
    }
    while (*cl == L' ' || *cl == L'\t') cl++;
    if (!*cl)
        return NULL;
    if (*cl == L'"') {
        WCHAR *s = ++cl;
        while (*cl && *cl != L'"') cl++;
        *cl = 0;
        return s;
    }
    WCHAR *e = cl;
    while (*e) e++;
    while (e > cl && (e[-1] == L' ' || e[-1] == L'\t')) *--e = 0;
    return cl;
}

/* the file's text as UTF-16 in a heap block (NULL when it cannot be read) */
static WCHAR *read_text(const WCHAR *path)
{
    HANDLE f = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (f == INVALID_HANDLE_VALUE)
        return NULL;
    DWORD size = GetFileSize(f, NULL), got = 0;
    WCHAR *text = NULL;
    if (size != INVALID_FILE_SIZE && size < (64u << 20)) {
        BYTE *raw = HeapAlloc(GetProcessHeap(), 0, size + 2);
        if (raw && ReadFile(f, raw, size, &got, NULL)) {
            raw[got] = raw[got + 1] = 0;
            if (got >= 2 && raw[0] == 0xFF && raw[1] == 0xFE) {
                text = HeapAlloc(GetProcessHeap(), 0, got);
                if (text) {
                    DWORD units = (got - 2) / 2;
                    for (DWORD i = 0; i < units; i++)
                        text[i] = (WCHAR)(raw[2 + 2 * i] | raw[3 + 2 * i] << 8);
                    text[units] = 0;
                }
            } else {
                int n = MultiByteToWideChar(CP_ACP, 0, (char *)raw, (int)got, NULL, 0);
                text = HeapAlloc(GetProcessHeap(), 0, (n + 1) * sizeof(WCHAR));
                if (text) {
                    MultiByteToWideChar(CP_ACP, 0, (char *)raw, (int)got, text, n);
                    text[n] = 0;
                }
            }
        }
        if (raw)
            HeapFree(GetProcessHeap(), 0, raw);
    }
    CloseHandle(f);
    return text;
}

void __cdecl start(void)
{
    HINSTANCE inst = GetModuleHandleW(NULL);
    WCHAR *file = file_argument(GetCommandLineW());
    WCHAR title[MAX_PATH + 16];
    const WCHAR *name = L"Untitled";
    if (file) {
        name = file;
        for (const WCHAR *p = file; *p; p++)
            if (*p == L'\\' || *p == L'/')
                name = p + 1;
    }
    int n = 0;
    for (; name[n] && n < MAX_PATH; n++) title[n] = name[n];
    const WCHAR *suffix = L" - Notepad";
    for (int i = 0; suffix[i]; i++) title[n++] = suffix[i];
    title[n] = 0;

    WNDCLASSEXW wc = {sizeof wc};
    wc.lpfnWndProc = main_proc;
    wc.hInstance = inst;
    wc.hCursor = LoadCursorW(NULL, (LPCWSTR)IDC_IBEAM);
    wc.hbrBackground = (HBRUSH)(COLOR_WINDOW + 1);
    wc.lpszClassName = L"Notepad";
    RegisterClassExW(&wc);
    HWND hwnd = CreateWindowExW(0, L"Notepad", title, WS_OVERLAPPEDWINDOW, CW_USEDEFAULT, CW_USEDEFAULT,
                                CW_USEDEFAULT, CW_USEDEFAULT, NULL, NULL, inst, NULL);
    if (!hwnd)
        ExitProcess(GetLastError());
    edit = CreateWindowExW(WS_EX_CLIENTEDGE, L"Edit", L"", WS_CHILD | WS_VISIBLE | WS_VSCROLL | WS_HSCROLL |
                           ES_MULTILINE | ES_AUTOVSCROLL | ES_AUTOHSCROLL | ES_NOHIDESEL, 0, 0, 0, 0, hwnd,
                           NULL, inst, NULL);
    if (file) {
        WCHAR *text = read_text(file);
        if (text) {
            SetWindowTextW(edit, text);
            HeapFree(GetProcessHeap(), 0, text);
        }
    }
    ShowWindow(hwnd, SW_SHOWDEFAULT);
    UpdateWindow(hwnd);
    MSG msg;
    BOOL r;
    while ((r = GetMessageW(&msg, NULL, 0, 0)) != 0 && r != -1) {
        TranslateMessage(&msg);
        DispatchMessageW(&msg);
    }
    ExitProcess(r == -1 ? 1 : (UINT)msg.wParam);
}
