/* The heap: ntdll's RtlAllocateHeap / RtlFreeHeap / RtlReAllocateHeap / RtlSizeHeap, kernel32's HeapFree and
 * GetProcessHeap, the C runtimes' malloc / free / calloc / realloc / _msize (over the process heap, as msvcrt and
 * ucrtbase do on Windows 8 and later).
 *
 * The heap's structures are in guest memory, laid out as winhatch/ldr/heap.py describes (the Python half of the
 * same algorithm: it serves the traced path and everything this code leaves to it).  This code serves the common
 * cases without leaving the guest: a block from a bin (split, the rest merged with its free neighbour) or from the
 * committed part of the current segment, a free with its neighbours merged, a size, a reallocation in place or by
 * moving.  It tail-jumps to the Python handler, before changing anything, when:
 *   - the handle is not a heap this code knows (no control block), or a pointer is not a busy block of one of its
 *     segments (a large block, a bad pointer, a double free: the Python handler decides, as Windows does);
 *   - the block needs more committed memory, a new segment or its own virtual allocation (LARGE_BLOCK or more);
 *   - another thread holds the heap's lock (the Python handler waits, then runs again);
 *   - a reallocation in place is impossible with HEAP_REALLOC_IN_PLACE_ONLY, or a C runtime call fails (errno).
 * The lock: the owner's thread ID and a recursion count in the control block, taken with a compare-and-swap
 * unless the call or the heap says HEAP_NO_SERIALIZE. */
#include "native.h"

#if defined(__x86_64__)
#define W 8
#define HDR 16
#define SIG_OFF 0x10
#define FLAGS_OFF 0x70
#define FORCE_OFF 0x74
#define PEB_PROCESS_HEAP 0x30
static inline u8 *peb(void) { u8 *p; __asm__("movq %%gs:0x60, %0" : "=r"(p)); return p; }
static inline unsigned flog2(size_t v) { return 63 - __builtin_clzll(v); }
#else
#define W 4
#define HDR 8
#define SIG_OFF 0x8
#define FLAGS_OFF 0x40
#define FORCE_OFF 0x44
#define PEB_PROCESS_HEAP 0x18
static inline u8 *peb(void) { u8 *p; __asm__("movl %%fs:0x30, %0" : "=r"(p)); return p; }
static inline unsigned flog2(size_t v) { return 31 - __builtin_clz(v); }
#endif
#define GRAN HDR
#define MINB (HDR + 2 * W + HDR)
#define CTL 0x400
#define SEG_TABLE 0xA00
#define MAX_SEGMENTS 64
#define NSMALL 128
#define NB 160
#define SEG_FIRST 0x40
#define LARGE_BLOCK 0x7F000
#define MAGIC 0x50484857
#define BUSY 1u
#define PREV_BUSY 2u
#define LARGE 4u
#define LOG2_SMALL_END (flog2(NSMALL * GRAN))
#define SCAN_LIMIT (1u << 20)

#define HEAP_NO_SERIALIZE 0x1u
#define HEAP_ZERO_MEMORY 0x8u
#define HEAP_REALLOC_IN_PLACE_ONLY 0x10u
#define HEAP_SETTABLE_USER_INFO 0xF00u      /* HEAP_SETTABLE_USER_VALUE | HEAP_SETTABLE_USER_FLAGS: Python's */
#define USER_INFO(b) (*(volatile u8 *)((b) + 6))

typedef struct {
    uintptr_t magic, owner, count;
    u8 *top, *committed, *seg_end;
    uintptr_t nsegs;
    u8 *large;
    uintptr_t version;
    uintptr_t reserved[7];
    u32 bitmap[8];
    u8 *bins[NB];
} ctl_t;

typedef struct { u8 *base, *end, *committed; } seg_t;

#define CTLP(h) ((ctl_t *)((h) + CTL))
#define SEGS(h) ((seg_t *)((h) + SEG_TABLE))
#define HWORD(b) (*(volatile u32 *)(b))
#define BSIZE(b) (HWORD(b) & ~7u)
#define UNUSED(b) (*(volatile u8 *)((b) + 4))
#define KIND(b) (*(volatile u8 *)((b) + 5))
#define NEXT(b) (*(u8 *volatile *)((b) + HDR))
#define PREV(b) (*(u8 *volatile *)((b) + HDR + W))
#define FOOT(b, s) (*(volatile u32 *)((b) + (s) - 4))

static inline void set_hdr(u8 *b, size_t size, u32 flags, size_t unused)
{
    HWORD(b) = (u32)size | flags;
    *(volatile u32 *)(b + 4) = (u32)unused;        /* unused, kind 0, reserved 0 */
}

static inline void zero(u8 *p, size_t n)
{
    __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(0) : "memory");
}

static inline void copy(u8 *d, const u8 *s, size_t n)
{
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static inline u32 my_tid(void) { return TEB_FIELD(teb(), TEB_CLIENT_TID, u32); }

static inline int is_heap(u8 *h)
{
    return h && !((uintptr_t)h & 0xFFFF) && CTLP(h)->magic == MAGIC;
}

static inline u32 force_flags(u8 *h) { return *(volatile u32 *)(h + FORCE_OFF); }

static inline int lock(ctl_t *k, u32 flags)
{
    if (flags & HEAP_NO_SERIALIZE)
        return 1;
    uintptr_t me = my_tid();
    if (k->owner == me) {
        k->count++;
        return 1;
    }
    if (__sync_bool_compare_and_swap(&k->owner, (uintptr_t)0, me)) {
        k->count = 1;
        return 1;
    }
    return 0;
}

static inline void unlock(ctl_t *k, u32 flags)
{
    if (flags & HEAP_NO_SERIALIZE)
        return;
    if (--k->count == 0)
        __atomic_store_n(&k->owner, (uintptr_t)0, __ATOMIC_RELEASE);
}

/* ---- bins ---------------------------------------------------------------------------------------------------- */
static inline unsigned bin_of(size_t size)
{
    size_t q = size / GRAN;
    if (q < NSMALL)
        return (unsigned)q;
    unsigned i = NSMALL + flog2(size) - LOG2_SMALL_END;
    return i < NB ? i : NB - 1;
}

static inline void bin_insert(ctl_t *k, u8 *b, size_t size)
{
    unsigned i = bin_of(size);
    u8 *head = k->bins[i];
    NEXT(b) = head;
    PREV(b) = 0;
    if (head)
        PREV(head) = b;
    k->bins[i] = b;
    k->bitmap[i >> 5] |= 1u << (i & 31);
}

static inline void bin_remove(ctl_t *k, u8 *b, size_t size)
{
    u8 *n = NEXT(b), *p = PREV(b);
    if (p)
        NEXT(p) = n;
    else {
        unsigned i = bin_of(size);
        k->bins[i] = n;
        if (!n)
            k->bitmap[i >> 5] &= ~(1u << (i & 31));
    }
    if (n)
        PREV(n) = p;
}

static u8 *find_free(ctl_t *k, size_t need)
{
    unsigned i = bin_of(need);
    u32 budget = SCAN_LIMIT;
    while (i < NB) {
        u32 word = k->bitmap[i >> 5] >> (i & 31);
        if (!word) {
            i = (i | 31) + 1;
            continue;
        }
        i += __builtin_ctz(word);
        for (u8 *b = k->bins[i]; b; b = NEXT(b)) {
            if (BSIZE(b) >= need)
                return b;
            if (!--budget)
                return 0;
        }
        i++;
    }
    return 0;
}

/* b..b+size becomes one free block whose previous block is busy */
static inline void mark_free(ctl_t *k, u8 *b, size_t size)
{
    set_hdr(b, size, PREV_BUSY, 0);
    FOOT(b, size) = (u32)size;
    bin_insert(k, b, size);
    HWORD(b + size) &= ~PREV_BUSY;
}

/* the range b..b+size (its previous block busy) is free: merged with a free next block or with top */
static void release(ctl_t *k, u8 *b, size_t size)
{
    u8 *n = b + size;
    if (n == k->top) {
        k->top = b;
        return;
    }
    if (!(HWORD(n) & BUSY)) {
        size_t ns = BSIZE(n);
        bin_remove(k, n, ns);
        size += ns;
        if (b + size == k->top) {
            k->top = b;
            return;
        }
    }
    mark_free(k, b, size);
}

static inline size_t need_of(size_t size)
{
    size_t s = (size + HDR + GRAN - 1) & ~(size_t)(GRAN - 1);
    return s < MINB ? MINB : s;
}

/* a block of `size` bytes (< LARGE_BLOCK), or 0 when it needs the Python path (more memory) */
static u8 *alloc_core(ctl_t *k, size_t size, u32 flags)
{
    size_t need = need_of(size);
    u8 *b = find_free(k, need);
    if (b) {
        size_t bs = BSIZE(b);
        bin_remove(k, b, bs);
        if (bs - need >= MINB) {
            set_hdr(b, need, BUSY | PREV_BUSY, need - HDR - size);
            release(k, b + need, bs - need);
        } else {
            set_hdr(b, bs, BUSY | PREV_BUSY, bs - HDR - size);
            HWORD(b + bs) |= PREV_BUSY;
        }
    } else {
        u8 *top = k->top;
        if (need + HDR > (size_t)(k->committed - top))
            return 0;
        k->top = top + need;
        b = top;
        set_hdr(b, need, BUSY | PREV_BUSY, need - HDR - size);
    }
    k->version++;
    if (flags & HEAP_ZERO_MEMORY)
        zero(b + HDR, size);
    return b + HDR;
}

/* the header of the busy block whose user address is p, in one of h's segments; else 0 */
static u8 *busy_block(u8 *h, ctl_t *k, u8 *p)
{
    if (!p || ((uintptr_t)p & (GRAN - 1)))
        return 0;
    u8 *b = p - HDR;
    seg_t *s = SEGS(h);
    uintptr_t n = k->nsegs;
    if (n == 0 || n > MAX_SEGMENTS)
        return 0;
    for (uintptr_t i = n; i-- > 0;) {
        u8 *first = s[i].base + (i ? SEG_FIRST : 0x1000);
        u8 *limit = i == n - 1 ? k->top : s[i].committed;
        if (b < first || b >= limit)
            continue;
        u32 v = HWORD(b);
        size_t sz = v & ~7u;
        if (!(v & BUSY) || (v & LARGE) || KIND(b) || sz < MINB || (sz & (GRAN - 1)) || sz > (size_t)(limit - b))
            return 0;
        return b;
    }
    return 0;
}

static void free_core(ctl_t *k, u8 *b)
{
    size_t size = BSIZE(b);
    if (!(HWORD(b) & PREV_BUSY)) {
        size_t ps = *(volatile u32 *)(b - 4);
        b -= ps;
        bin_remove(k, b, ps);
        size += ps;
    }
    release(k, b, size);
    k->version++;
}

/* in place or by moving; 0: the Python path (nothing was changed) */
static u8 *realloc_core(ctl_t *k, u8 *b, size_t size, u32 flags)
{
    u8 *p = b + HDR;
    u32 bflags = HWORD(b) & 7u;
    size_t bs = BSIZE(b);
    size_t old = bs - HDR - UNUSED(b);
    size_t need = need_of(size);
    if (need <= bs) {                                           /* shrink in place */
        if (bs - need >= MINB) {
            set_hdr(b, need, bflags, 0);
            release(k, b + need, bs - need);
            bs = need;
        }
        set_hdr(b, bs, bflags, bs - HDR - size);
    } else {
        u8 *n = b + bs;
        if (n == k->top) {
            if (need + HDR > (size_t)(k->committed - b))
                goto move;
            k->top = b + need;                                  /* grow into top */
            set_hdr(b, need, bflags, need - HDR - size);
        } else if (!(HWORD(n) & BUSY) && bs + BSIZE(n) >= need) {   /* grow into the next free block */
            size_t total = bs + BSIZE(n);
            bin_remove(k, n, BSIZE(n));
            if (total - need >= MINB) {
                set_hdr(b, need, bflags, need - HDR - size);
                release(k, b + need, total - need);
            } else {
                set_hdr(b, total, bflags, total - HDR - size);
                HWORD(b + total) |= PREV_BUSY;
            }
        } else
            goto move;
    }
    k->version++;
    if ((flags & HEAP_ZERO_MEMORY) && size > old)
        zero(p + old, size - old);
    return p;
move:
    if (flags & HEAP_REALLOC_IN_PLACE_ONLY)
        return 0;
    u8 *q = alloc_core(k, size, 0);
    if (!q)
        return 0;
    copy(q, p, old < size ? old : size);
    if ((flags & HEAP_ZERO_MEMORY) && size > old)
        zero(q + old, size - old);
    free_core(k, b);
    return q;
}

/* ---- the exports ------------------------------------------------------------------------------------------- */
static inline void *heap_alloc(u8 *h, u32 flags, size_t size)
{
    if (!is_heap(h) || size >= LARGE_BLOCK || (flags & HEAP_SETTABLE_USER_INFO))
        return 0;
    ctl_t *k = CTLP(h);
    flags |= force_flags(h);
    if (!lock(k, flags))
        return 0;
    void *p = alloc_core(k, size, flags);
    unlock(k, flags);
    return p;
}

/* 1: freed; 0: the Python path */
static inline int heap_free(u8 *h, u32 flags, u8 *p)
{
    if (!is_heap(h))
        return 0;
    ctl_t *k = CTLP(h);
    flags |= force_flags(h);
    if (!lock(k, flags))
        return 0;
    u8 *b = busy_block(h, k, p);
    if (b)
        free_core(k, b);
    unlock(k, flags);
    return b != 0;
}

/* the size asked for, or -1: the Python path */
static inline size_t heap_size(u8 *h, u8 *p)
{
    if (!is_heap(h))
        return (size_t)-1;
    ctl_t *k = CTLP(h);
    u32 flags = force_flags(h);
    if (!lock(k, flags))
        return (size_t)-1;
    u8 *b = busy_block(h, k, p);
    size_t r = b ? BSIZE(b) - HDR - UNUSED(b) : (size_t)-1;
    unlock(k, flags);
    return r;
}

static inline void *heap_realloc(u8 *h, u32 flags, u8 *p, size_t size)
{
    if (!is_heap(h) || size >= LARGE_BLOCK)
        return 0;
    ctl_t *k = CTLP(h);
    flags |= force_flags(h);
    if (!lock(k, flags))
        return 0;
    u8 *b = busy_block(h, k, p);
    /* a block with user information (a user value, settable flags) keeps it: Python's path */
    void *q = b && !USER_INFO(b) ? realloc_core(k, b, size, flags) : 0;
    unlock(k, flags);
    return q;
}

static inline u8 *process_heap(void) { return *(u8 *volatile *)(peb() + PEB_PROCESS_HEAP); }

extern void *WINAPI PY(RtlAllocateHeap)(void *, u32, size_t);
void *WINAPI RtlAllocateHeap(void *heap, u32 flags, size_t size)
{
    void *p = heap_alloc(heap, flags, size);
    if (p)
        return p;
    return PY(RtlAllocateHeap)(heap, flags, size);
}

extern u8 WINAPI PY(RtlFreeHeap)(void *, u32, void *);
u8 WINAPI RtlFreeHeap(void *heap, u32 flags, void *p)
{
    if (p && heap_free(heap, flags, p))
        return 1;
    return PY(RtlFreeHeap)(heap, flags, p);
}

extern int WINAPI PY(HeapFree)(void *, u32, void *);
int WINAPI HeapFree(void *heap, u32 flags, void *p)
{
    if (p && heap_free(heap, flags, p))
        return 1;
    return PY(HeapFree)(heap, flags, p);
}

extern size_t WINAPI PY(RtlSizeHeap)(void *, u32, void *);
size_t WINAPI RtlSizeHeap(void *heap, u32 flags, void *p)
{
    size_t n = heap_size(heap, p);
    if (n != (size_t)-1)
        return n;
    return PY(RtlSizeHeap)(heap, flags, p);
}

extern void *WINAPI PY(RtlReAllocateHeap)(void *, u32, void *, size_t);
void *WINAPI RtlReAllocateHeap(void *heap, u32 flags, void *p, size_t size)
{
    void *q = heap_realloc(heap, flags, p, size);
    if (q)
        return q;
    return PY(RtlReAllocateHeap)(heap, flags, p, size);
}

void *WINAPI GetProcessHeap(void)
{
    return process_heap();
}

/* ---- the C runtime ------------------------------------------------------------------------------------------ */
#define CRT_ALLOC(name)                                                                                            \
    extern void *PY(name)(size_t);                                                                               \
    void *name(size_t size)                                                                                      \
    {                                                                                                            \
        void *p = heap_alloc(process_heap(), 0, size ? size : 1);                                                \
        if (p)                                                                                                   \
            return p;                                                                                            \
        return PY(name)(size);                                                                                   \
    }
CRT_ALLOC(malloc)
CRT_ALLOC(_malloc_base)

#define CRT_FREE(name)                                                                                             \
    extern void PY(name)(void *);                                                                                \
    void name(void *p)                                                                                           \
    {                                                                                                            \
        if (!p || heap_free(process_heap(), 0, p))                                                               \
            return;                                                                                              \
        PY(name)(p);                                                                                             \
    }
CRT_FREE(free)
CRT_FREE(_free_base)

#define CRT_CALLOC(name)                                                                                           \
    extern void *PY(name)(size_t, size_t);                                                                       \
    void *name(size_t n, size_t size)                                                                            \
    {                                                                                                            \
        size_t total = n * size;                                                                                 \
        if (!size || total / size == n) {                                                                        \
            void *p = heap_alloc(process_heap(), HEAP_ZERO_MEMORY, total ? total : 1);                           \
            if (p)                                                                                               \
                return p;                                                                                        \
        }                                                                                                        \
        return PY(name)(n, size);                                                                                \
    }
CRT_CALLOC(calloc)
CRT_CALLOC(_calloc_base)

#define CRT_REALLOC(name)                                                                                          \
    extern void *PY(name)(void *, size_t);                                                                       \
    void *name(void *p, size_t size)                                                                             \
    {                                                                                                            \
        u8 *h = process_heap();                                                                                  \
        if (p && size) {                                                                                         \
            void *q = heap_realloc(h, 0, p, size);                                                               \
            if (q)                                                                                               \
                return q;                                                                                        \
        } else if (!p) {                                                                                         \
            void *q = heap_alloc(h, 0, size ? size : 1);                                                         \
            if (q)                                                                                               \
                return q;                                                                                        \
        } else if (heap_free(h, 0, p))                                                                           \
            return 0;                                                                                            \
        return PY(name)(p, size);                                                                                \
    }
CRT_REALLOC(realloc)
CRT_REALLOC(_realloc_base)

#define CRT_MSIZE(name)                                                                                            \
    extern size_t PY(name)(void *);                                                                              \
    size_t name(void *p)                                                                                         \
    {                                                                                                            \
        size_t n = p ? heap_size(process_heap(), p) : (size_t)-1;                                                \
        if (n != (size_t)-1)                                                                                     \
            return n;                                                                                            \
        return PY(name)(p);                                                                                      \
    }
CRT_MSIZE(_msize)
CRT_MSIZE(_msize_base)
