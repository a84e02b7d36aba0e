/* The few functions of Wine's own runtime that wine/debug.h (included by wine/test.h) expects to be
 * linked in. On Windows, Wine's test executables get them from its static start-up library; this is
 * winhatch's own minimal version for building Wine's conformance tests with mingw-w64
 * (tools/winetest.py). The tests only use them to format values for messages (wine_dbgstr_w and
 * friends), so no debug channel is ever enabled here.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

struct __wine_debug_channel;

/* wine_dbgstr_* build a string on the stack and ask for a copy that stays valid for a while: a ring of
 * buffers shared by all threads (the index is advanced atomically). */
#define RING_SLOTS 64
#define SLOT_SIZE 1024
static char ring[RING_SLOTS][SLOT_SIZE];
static LONG ring_next;

const char * __cdecl __wine_dbg_strdup(const char *str)
{
    LONG slot = InterlockedIncrement(&ring_next) & (RING_SLOTS - 1);
    size_t len = strlen(str);
    if (len >= SLOT_SIZE) len = SLOT_SIZE - 1;
    memcpy(ring[slot], str, len);
    ring[slot][len] = 0;
    return ring[slot];
}

unsigned char __cdecl __wine_dbg_get_channel_flags(struct __wine_debug_channel *channel)
{
    (void)channel;
    return 0;  /* no channel is enabled: TRACE/WARN/FIXME/ERR print nothing */
}

int __cdecl __wine_dbg_output(const char *str)
{
    return fputs(str, stderr) < 0 ? -1 : (int)strlen(str);
}

int __cdecl __wine_dbg_header(int cls, struct __wine_debug_channel *channel, const char *function)
{
    (void)cls; (void)channel; (void)function;
    return -1;  /* -1: do not print the message that would follow */
}

int WINAPI __wine_dbg_write(const char *str, unsigned int len)
{
    return (int)fwrite(str, 1, len, stderr);
}

/* Wine links a test directory's files into one program (kernel32_test.exe, ntdll_test.exe) with the IMPORTS of
 * its tests/Makefile.in, user32 and advapi32, and the other files use them: on Windows both DLLs are loaded in
 * every test's process. A file built alone would import them only if it calls them itself (kernel32/loader's
 * test_dll_file looks advapi32 up with GetModuleHandle), so one function of each is referenced here. */
void *const winetest_imports[] = { (void *)GetDesktopWindow, (void *)RegCloseKey };
