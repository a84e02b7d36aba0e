/* The uncontended paths of SRW locks (ntdll's Rtl*SRWLock*, which kernel32's *SRWLock* forward to) and of
 * one-time initialisation that is already done (kernelbase's InitOnceExecuteOnce / InitOnceBeginInitialize).
 *
 * The SRW lock is one pointer-sized word in guest memory, kept as winhatch/win32/kernel32/sync.py keeps it:
 *   0 free;  1 held exclusively;  (n << 4) | 1 held shared by n;  bit 1 (SRW_WAITERS): some thread waits in the
 *   Python handler (the kernel wait) — then every call takes the Python path, which wakes the waiters.
 * Acquiring and releasing are compare-and-swaps of that word from the states above; anything else (a wait, a
 * release with waiters, a lock in an unexpected state) tail-jumps to the Python handler before changing it.
 *
 * INIT_ONCE: RTL_RUN_ONCE_DONE (2) in the low bits with the context above them is the only state served here; not
 * started or in progress (the initialiser must run, or the caller waits) is the Python path. */
#include "native.h"

#define SRW_LOCKED 1u
#define SRW_WAITERS 2u
#define SRW_SHARE 16u

typedef uintptr_t volatile srw_t;

void WINAPI RtlInitializeSRWLock(srw_t *l)
{
    *l = 0;
}

extern void WINAPI PY(RtlAcquireSRWLockExclusive)(srw_t *);
void WINAPI RtlAcquireSRWLockExclusive(srw_t *l)
{
    if (__sync_bool_compare_and_swap(l, (uintptr_t)0, (uintptr_t)SRW_LOCKED))
        return;
    PY(RtlAcquireSRWLockExclusive)(l);
}

extern u8 WINAPI PY(RtlTryAcquireSRWLockExclusive)(srw_t *);
u8 WINAPI RtlTryAcquireSRWLockExclusive(srw_t *l)
{
    if (__sync_bool_compare_and_swap(l, (uintptr_t)0, (uintptr_t)SRW_LOCKED))
        return 1;
    if (*l & SRW_LOCKED)
        return 0;                                   /* held: no waiting */
    return PY(RtlTryAcquireSRWLockExclusive)(l);    /* free with waiters */
}

extern void WINAPI PY(RtlReleaseSRWLockExclusive)(srw_t *);
void WINAPI RtlReleaseSRWLockExclusive(srw_t *l)
{
    if (__sync_bool_compare_and_swap(l, (uintptr_t)SRW_LOCKED, (uintptr_t)0))
        return;
    PY(RtlReleaseSRWLockExclusive)(l);
}

/* the word after one more shared owner, or 0 when that is not an uncontended shared acquire */
static inline uintptr_t shared_plus(uintptr_t v)
{
    if (v == 0)
        return SRW_SHARE | SRW_LOCKED;
    if ((v & 0xF) == SRW_LOCKED && v >= SRW_SHARE)
        return v + SRW_SHARE;
    return 0;
}

extern void WINAPI PY(RtlAcquireSRWLockShared)(srw_t *);
void WINAPI RtlAcquireSRWLockShared(srw_t *l)
{
    uintptr_t v = *l, n = shared_plus(v);
    if (n && __sync_bool_compare_and_swap(l, v, n))
        return;
    PY(RtlAcquireSRWLockShared)(l);
}

extern u8 WINAPI PY(RtlTryAcquireSRWLockShared)(srw_t *);
u8 WINAPI RtlTryAcquireSRWLockShared(srw_t *l)
{
    uintptr_t v = *l, n = shared_plus(v);
    if (n && __sync_bool_compare_and_swap(l, v, n))
        return 1;
    if ((v & 0xF) == SRW_LOCKED && v < SRW_SHARE)
        return 0;                                   /* held exclusively: no waiting */
    return PY(RtlTryAcquireSRWLockShared)(l);
}

extern void WINAPI PY(RtlReleaseSRWLockShared)(srw_t *);
void WINAPI RtlReleaseSRWLockShared(srw_t *l)
{
    uintptr_t v = *l;
    if ((v & 0xF) == SRW_LOCKED && v >= SRW_SHARE) {
        uintptr_t n = v == (SRW_SHARE | SRW_LOCKED) ? 0 : v - SRW_SHARE;
        if (__sync_bool_compare_and_swap(l, v, n))
            return;
    }
    PY(RtlReleaseSRWLockShared)(l);
}

/* ---- INIT_ONCE ------------------------------------------------------------------------------------------------ */
#define RUN_ONCE_DONE 2u
#define INIT_ONCE_CHECK_ONLY 1u

extern int WINAPI PY(InitOnceExecuteOnce)(uintptr_t volatile *, void *, void *, void **);
int WINAPI InitOnceExecuteOnce(uintptr_t volatile *once, void *fn, void *param, void **ctx)
{
    uintptr_t v = *once;
    if ((v & 3) == RUN_ONCE_DONE) {
        if (ctx)
            *ctx = (void *)(v & ~(uintptr_t)3);
        return 1;
    }
    return PY(InitOnceExecuteOnce)(once, fn, param, ctx);
}

extern int WINAPI PY(InitOnceBeginInitialize)(uintptr_t volatile *, u32, int *, void **);
int WINAPI InitOnceBeginInitialize(uintptr_t volatile *once, u32 flags, int *pending, void **ctx)
{
    uintptr_t v = *once;
    if (!(flags & ~INIT_ONCE_CHECK_ONLY) && pending && (v & 3) == RUN_ONCE_DONE) {
        *pending = 0;
        if (ctx)
            *ctx = (void *)(v & ~(uintptr_t)3);
        return 1;
    }
    return PY(InitOnceBeginInitialize)(once, flags, pending, ctx);
}
