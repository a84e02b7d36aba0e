/* winhatch's own test of Wine's test harness (include/wine/test.h) under winhatch: what test.h needs to
   believe it runs on Windows and to count checks, skips and a child process's failures.
   Built and run by tests/winetest/test_winetest.py with tools/winetest.py's recipe. */
#include <stdio.h>
#include <string.h>
#include <windows.h>
#include "wine/test.h"

START_TEST(harness)
{
    char **argv, cmd[MAX_PATH + 64];
    int argc = winetest_get_mainargs(&argv);
    STARTUPINFOA si = {sizeof(si)};
    PROCESS_INFORMATION pi;

    if (argc >= 3 && !strcmp(argv[2], "child"))
    {
        ok(1, "child check\n");
        ok(0, "deliberate failure in the child\n");   /* its exit code: 1 failure, added to the parent's */
        return;
    }
    ok(argc == 2, "runtest passes the test name: argc %d\n", argc);
    ok(!strcmp(winetest_platform, "windows"), "platform %s\n", winetest_platform);
    ok(GetProcAddress(GetModuleHandleA("ntdll.dll"), "wine_server_call") == NULL, "a wine_* export\n");
    ok(GetErrorMode() == (SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX), "error mode %#x\n", GetErrorMode());
    skip("a deliberate skip\n");
    ok(0, "deliberate failure\n");
    todo_wine ok(1, "todo_wine is a plain check on Windows\n");

    snprintf(cmd, sizeof(cmd), "\"%s\" harness child", argv[0]);
    ok(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi), "CreateProcess %lu\n",
       GetLastError());
    winetest_wait_child_process(pi.hProcess);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
}
