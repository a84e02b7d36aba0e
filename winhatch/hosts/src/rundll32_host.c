/* winhatch's rundll32 (`winhatch run LIB.dll [--export NAME] [ARGS]`): rundll32's semantics. It loads the
   DLL named by its first argument (DllMain runs with DLL_PROCESS_ATTACH); with an export (second argument,
   a name or #ordinal) it calls it as rundll32 does, void CALLBACK f(HWND, HINSTANCE, LPSTR/LPWSTR cmdline,
   int nCmdShow): the wide form NAMEW when the DLL exports it, else NAME with the ANSI command line (the
   arguments after the export); then it frees the DLL (DLL_PROCESS_DETACH) and exits with 0. Without an
   export (the argument "-") it only loads and frees the DLL. Exit codes: 0 done; the NTSTATUS of a DLL that
   does not load (STATUS_DLL_NOT_FOUND, STATUS_DLL_INIT_FAILED …); STATUS_ENTRYPOINT_NOT_FOUND (0xC0000139)
   for a missing export. Built by tools/build_hosts.py; the binaries are committed with this source's sha256. */
#include <windows.h>

typedef void (CALLBACK *entry_a)(HWND, HINSTANCE, LPSTR, int);
typedef void (CALLBACK *entry_w)(HWND, HINSTANCE, LPWSTR, int);

/* the command line after the first n arguments (rundll32 passes the rest verbatim) */
static LPWSTR skip_args(LPWSTR p, int n)
{
    for (int i = 0; i < n && *p; i++) {
        while (*p == L' ' || *p == L'\t') p++;
        int quoted = 0;
        while (*p && (quoted || (*p != L' ' && *p != L'\t'))) {
            if (*p == L'"') quoted = !quoted;
            p++;
        }
    }
    while (*p == L' ' || *p == L'\t') p++;
    return p;
}

void __cdecl start(void)
{
    int argc = 0;
    LPWSTR *argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    if (!argv || argc < 3)
        ExitProcess(0xC000000D);                               /* STATUS_INVALID_PARAMETER */
    HMODULE m = LoadLibraryW(argv[1]);
    if (!m) {
        DWORD e = GetLastError();
        ExitProcess(e == ERROR_MOD_NOT_FOUND ? 0xC0000135 : e == ERROR_DLL_INIT_FAILED ? 0xC0000142
                    : e == ERROR_PROC_NOT_FOUND ? 0xC0000139 : 0xC000007B);
    }
    if (lstrcmpW(argv[2], L"-") != 0) {
        LPWSTR rest = skip_args(GetCommandLineW(), 3);
        FARPROC f = NULL, fw = NULL;
        char name[512];
        if (argv[2][0] == L'#') {
            ULONG_PTR ord = 0;
            for (LPWSTR d = argv[2] + 1; *d >= L'0' && *d <= L'9' && ord < 0x10000; d++)
                ord = ord * 10 + (*d - L'0');
            f = GetProcAddress(m, (LPCSTR)ord);
        } else {
            int n = WideCharToMultiByte(CP_ACP, 0, argv[2], -1, name, sizeof name - 2, NULL, NULL);
            if (n > 0) {
                name[n - 1] = 'W';
                name[n] = 0;
                fw = GetProcAddress(m, name);                   /* NAMEW first, as rundll32 does */
                name[n - 1] = 0;
                if (!fw)
                    f = GetProcAddress(m, name);
            }
        }
        if (fw) {
            ((entry_w)fw)(NULL, (HINSTANCE)m, rest, SW_SHOWDEFAULT);
        } else if (f) {
            char cmd[4096];
            if (!WideCharToMultiByte(CP_ACP, 0, rest, -1, cmd, sizeof cmd, NULL, NULL))
                cmd[0] = 0;
            ((entry_a)f)(NULL, (HINSTANCE)m, cmd, SW_SHOWDEFAULT);
        } else {
            ExitProcess(0xC0000139);                           /* STATUS_ENTRYPOINT_NOT_FOUND */
        }
    }
    FreeLibrary(m);
    ExitProcess(0);
}
