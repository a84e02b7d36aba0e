/* winhatch's own test of Wine's test harness: an access violation in a test reaches test.h's
   unhandled-exception filter (installed because the platform is "windows"), which names the last check. */
#include <windows.h>
#include "wine/test.h"

START_TEST(harness_crash)
{
    ok(1, "a check before the crash\n");
    *(volatile int *)8 = 1;
    ok(1, "never reached\n");
}
