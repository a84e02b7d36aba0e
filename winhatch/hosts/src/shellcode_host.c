/* winhatch's shellcode host (`winhatch run --shellcode FILE`): what analysts' loaders do. It reads the raw
   position-independent code from the file named by its first argument, copies it into a fresh
   PAGE_EXECUTE_READWRITE allocation and calls its first byte on this, the process's main thread. The
   shellcode finds kernel32 and ntdll itself (through the PEB's loader lists, as shellcode does); whatever it
   returns becomes the exit code. Built by tools/build_hosts.py; the binaries are committed with the sha256 of
   this source. */
#include <windows.h>

typedef DWORD_PTR (*entry_t)(void);

void __cdecl start(void)
{
    int argc = 0;
    LPWSTR *argv = CommandLineToArgvW(GetCommandLineW(), &argc);
    if (!argv || argc < 2)
        ExitProcess(0xC000000D);                               /* STATUS_INVALID_PARAMETER */
    HANDLE f = CreateFileW(argv[1], GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (f == INVALID_HANDLE_VALUE)
        ExitProcess(0xC0000034);                               /* STATUS_OBJECT_NAME_NOT_FOUND */
    DWORD size = GetFileSize(f, NULL), got = 0;
    if (size == 0 || size == INVALID_FILE_SIZE)
        ExitProcess(0xC0000011);                               /* STATUS_END_OF_FILE */
    unsigned char *code = VirtualAlloc(NULL, size, MEM_COMMIT | MEM_RESERVE, PAGE_EXECUTE_READWRITE);
    if (!code || !ReadFile(f, code, size, &got, NULL) || got != size)
        ExitProcess(0xC0000017);                               /* STATUS_NO_MEMORY */
    CloseHandle(f);
    LocalFree(argv);
    ExitProcess((UINT)((entry_t)code)());
}
