/* ntdll's interlocked singly linked lists over the guest's SLIST_HEADER, in winnt.h's layout (the Python
 * handlers in winhatch/win32/ntdll/slist.py describe it and are the reference): a compare-and-swap of the
 * whole header (cmpxchg16b on x64, cmpxchg8b on x86), the sequence number bumped by every push and pop.
 *   x86  u64: Next:32 | Depth:16 | Sequence:16
 *   x64  q0 = Depth:16 | Sequence:48 ; q1 = HeaderType:1 | Reserved:3 | NextEntry:60 (address >> 4)
 * RtlInterlockedPushListSList (x86 __fastcall) stays in Python. */
#include "native.h"

typedef struct entry { struct entry *next; } entry;

#if defined(__x86_64__)
typedef unsigned __int128 hdr_t;
#define FIRST(h) ((entry *)(uintptr_t)((u64)((h) >> 64) & ~(u64)0xF))
#define DEPTH(h) ((u32)(u64)(h) & 0xFFFF)
#define SEQ(h) ((u64)(h) >> 16)
static inline hdr_t make(const hdr_t old, entry *first, u32 depth, u64 seq)
{
    u64 q0 = (depth & 0xFFFF) | (seq << 16);
    u64 q1 = ((u64)(uintptr_t)first & ~(u64)0xF) | ((u64)(old >> 64) & 0xF);
    return ((hdr_t)q1 << 64) | q0;
}
#else
typedef u64 hdr_t;
#define FIRST(h) ((entry *)(uintptr_t)(u32)(h))
#define DEPTH(h) ((u32)((h) >> 32) & 0xFFFF)
#define SEQ(h) ((u32)((h) >> 48))
static inline hdr_t make(const hdr_t old, entry *first, u32 depth, u32 seq)
{
    (void)old;
    return (u32)(uintptr_t)first | ((u64)(depth & 0xFFFF) << 32) | ((u64)(seq & 0xFFFF) << 48);
}
#endif

static inline hdr_t load(volatile hdr_t *h)
{
    /* a torn read is harmless: the compare-and-swap below validates the whole header */
#if defined(__x86_64__)
    volatile u64 *q = (volatile u64 *)h;
    u64 lo = q[0], hi = q[1];
    return ((hdr_t)hi << 64) | lo;
#else
    volatile u32 *q = (volatile u32 *)h;
    u32 lo = q[0], hi = q[1];
    return ((u64)hi << 32) | lo;
#endif
}

static inline int cas(volatile hdr_t *h, hdr_t old, hdr_t new_)
{
    return __sync_bool_compare_and_swap(h, old, new_);
}

void WINAPI RtlInitializeSListHead(volatile hdr_t *h)
{
    volatile u32 *q = (volatile u32 *)h;
    for (unsigned i = 0; i < sizeof(hdr_t) / 4; i++)
        q[i] = 0;
}

entry *WINAPI RtlFirstEntrySList(volatile hdr_t *h)
{
    return FIRST(load(h));
}

u16 WINAPI RtlQueryDepthSList(volatile hdr_t *h)
{
    return (u16)DEPTH(load(h));
}

entry *WINAPI RtlInterlockedPushEntrySList(volatile hdr_t *h, entry *e)
{
    for (;;) {
        hdr_t old = load(h);
        entry *first = FIRST(old);
        e->next = first;
        if (cas(h, old, make(old, e, DEPTH(old) + 1, SEQ(old) + 1)))
            return first;
    }
}

entry *WINAPI RtlInterlockedPopEntrySList(volatile hdr_t *h)
{
    for (;;) {
        hdr_t old = load(h);
        entry *first = FIRST(old);
        if (!first)
            return 0;
        entry *next = *(entry *volatile *)&first->next;
        if (cas(h, old, make(old, next, DEPTH(old) - 1, SEQ(old) + 1)))
            return first;
    }
}

entry *WINAPI RtlInterlockedFlushSList(volatile hdr_t *h)
{
    for (;;) {
        hdr_t old = load(h);
        entry *first = FIRST(old);
        if (!first)
            return 0;
        if (cas(h, old, make(old, 0, 0, SEQ(old))))
            return first;
    }
}

entry *WINAPI RtlInterlockedPushListSListEx(volatile hdr_t *h, entry *list, entry *end, u32 count)
{
    for (;;) {
        hdr_t old = load(h);
        entry *first = FIRST(old);
        end->next = first;
        if (cas(h, old, make(old, list, DEPTH(old) + count, SEQ(old) + 1)))
            return first;
    }
}
