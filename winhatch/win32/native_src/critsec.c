/* The uncontended paths of ntdll's critical sections (kernel32's EnterCriticalSection ... forward to these),
 * over the guest's RTL_CRITICAL_SECTION as the Python handlers (winhatch/win32/kernel32/sync.py) keep it:
 * OwningThread = the owner's thread ID, RecursionCount = its levels, LockCount = -1 + levels + waiters.
 *   enter: the owner recurses; a free section is claimed with a compare-and-swap of OwningThread; a section
 *          another thread owns is the Python path (the thread waits there, as Windows' kernel wait).
 *   leave: the last level clears OwningThread then takes its count out of LockCount atomically; if that
 *          leaves waiters (LockCount != -1), the Python handler runs to wake them (it finds the section free
 *          and not the caller's, and only satisfies the waits that can be satisfied).
 *   try:   never waits, so never needs Python. */
#include "native.h"

typedef struct {
    void *DebugInfo;
    volatile int LockCount;
    volatile int RecursionCount;
    void *volatile OwningThread;
    void *LockSemaphore;
    uintptr_t SpinCount;
} cs_t;

static inline void *tid(void) { return (void *)(uintptr_t)TEB_FIELD(teb(), TEB_CLIENT_TID, u32); }

static inline int claim(cs_t *cs, void *me)
{
    void *owner = cs->OwningThread;
    if (owner == me) {
        cs->RecursionCount++;
        __sync_fetch_and_add(&cs->LockCount, 1);
        return 1;
    }
    if (owner == 0 && __sync_bool_compare_and_swap(&cs->OwningThread, (void *)0, me)) {
        cs->RecursionCount = 1;
        __sync_fetch_and_add(&cs->LockCount, 1);
        return 1;
    }
    return 0;
}

extern u32 WINAPI PY(RtlEnterCriticalSection)(cs_t *);
u32 WINAPI RtlEnterCriticalSection(cs_t *cs)
{
    if (claim(cs, tid()))
        return 0;
    return PY(RtlEnterCriticalSection)(cs);
}

int WINAPI RtlTryEnterCriticalSection(cs_t *cs)
{
    return claim(cs, tid());
}

extern u32 WINAPI PY(RtlLeaveCriticalSection)(cs_t *);
u32 WINAPI RtlLeaveCriticalSection(cs_t *cs)
{
    int n = cs->RecursionCount;
    if (n <= 0 || cs->OwningThread != tid())
        return PY(RtlLeaveCriticalSection)(cs);     /* not the caller's: as the Python handler decides */
    if (n > 1) {
        cs->RecursionCount = n - 1;
        __sync_fetch_and_sub(&cs->LockCount, 1);
        return 0;
    }
    cs->RecursionCount = 0;
    cs->OwningThread = 0;
    if (__sync_sub_and_fetch(&cs->LockCount, 1) != -1)
        return PY(RtlLeaveCriticalSection)(cs);     /* waiters: wake them */
    return 0;
}
