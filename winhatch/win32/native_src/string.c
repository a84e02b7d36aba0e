/* The C runtime's memory and string functions (msvcrt.dll, ucrtbase.dll, the msvcr* DLLs, ntdll.dll), "C"
 * locale: case folding is ASCII only.  Their Python handlers (winhatch/win32/msvcrt/string.py) are the
 * reference and serve traced calls; results are identical (memcmp/strcmp/strncmp/wcscmp return -1, 0 or 1 as
 * msvcrt's do, _stricmp the difference of the first differing lower-cased units).  A bad pointer faults in
 * the guest, as on Windows. */
#include "native.h"

/* ---------------------------------------------------------------------------------------------- memory */
/* Stores into a JIT's code cache go to the Python handlers (their host writes drop the translated code they
 * overwrite): the engine misses a guest store over translated code on a page after a store beside that code
 * (winhatch.kernel.mm.aspace NATIVE_JIT_TABLE; tests/fixtures/src/smc_jit_page.c).  The kernel lists those
 * pages in the DLL's native state; a process without a JIT has none and pays one load and a test.  Stores are
 * word-aligned (the destination brought to a word boundary byte by byte first). */
static inline int jit_dest(const void *dst, size_t n)
{
    u32 k = *(volatile u32 *)&NSTATE.jit_count;
    if (__builtin_expect(k == 0, 1) || n == 0)
        return 0;
    if (k > JIT_RUNS)
        return 1;
    u64 lo = (uintptr_t)dst, hi = lo + n;
    for (u32 i = 0; i < k; i++)
        if (lo < NSTATE.jit[i].end && NSTATE.jit[i].start < hi)
            return 1;
    return 0;
}

static void *move(void *dst, const void *src, size_t n)
{
    u8 *d = dst;
    const u8 *s = src;
    if (d == s || n == 0)
        return dst;
    if ((uintptr_t)d - (uintptr_t)s >= n) {          /* forward copy is safe (d < s, or no overlap) */
        while (n && ((uintptr_t)d & (sizeof(size_t) - 1))) {
            *d++ = *s++;
            n--;
        }
        while (n >= sizeof(size_t)) {
            *(size_t *)d = *(const uword *)s;
            d += sizeof(size_t); s += sizeof(size_t); n -= sizeof(size_t);
        }
        while (n--)
            *d++ = *s++;
    } else {                                          /* d overlaps the tail of s: copy backwards */
        d += n; s += n;
        while (n && ((uintptr_t)d & (sizeof(size_t) - 1))) {
            *--d = *--s;
            n--;
        }
        while (n >= sizeof(size_t)) {
            d -= sizeof(size_t); s -= sizeof(size_t); n -= sizeof(size_t);
            *(size_t *)d = *(const uword *)s;
        }
        while (n--)
            *--d = *--s;
    }
    return dst;
}

extern void *PY(memmove)(void *, const void *, size_t);
extern void *PY(memcpy)(void *, const void *, size_t);
extern void *PY(memset)(void *, int, size_t);

void *memmove(void *dst, const void *src, size_t n)
{
    if (jit_dest(dst, n))
        return PY(memmove)(dst, src, n);
    return move(dst, src, n);
}

/* msvcrt's memcpy handles overlap as memmove does (the Python reference copies through a buffer) */
void *memcpy(void *dst, const void *src, size_t n)
{
    if (jit_dest(dst, n))
        return PY(memcpy)(dst, src, n);
    return move(dst, src, n);
}

void *memset(void *dst, int ch, size_t n)
{
    if (jit_dest(dst, n))
        return PY(memset)(dst, ch, n);
    u8 *d = dst;
    size_t w = ONES * (u8)ch;
    while (n && ((uintptr_t)d & (sizeof(size_t) - 1))) {
        *d++ = (u8)ch;
        n--;
    }
    while (n >= sizeof(size_t)) {
        *(size_t *)d = w;
        d += sizeof(size_t); n -= sizeof(size_t);
    }
    while (n--)
        *d++ = (u8)ch;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *p = a, *q = b;
    while (n >= sizeof(size_t) && *(const uword *)p == *(const uword *)q) {
        p += sizeof(size_t); q += sizeof(size_t); n -= sizeof(size_t);
    }
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p < *q ? -1 : 1;
    return 0;
}

static inline unsigned lower(unsigned u) { return u - 'A' < 26u ? u + 32 : u; }

int _memicmp(const void *a, const void *b, size_t n)
{
    const u8 *p = a, *q = b;
    for (; n; n--, p++, q++) {
        unsigned x = lower(*p), y = lower(*q);
        if (x != y)
            return (int)(x - y);
    }
    return 0;
}

void *memchr(const void *s, int ch, size_t n)
{
    const u8 *p = s;
    for (; n; n--, p++)
        if (*p == (u8)ch)
            return (void *)p;
    return 0;
}

/* ---------------------------------------------------------------------------------------------- lengths */
size_t strlen(const char *s)
{
    const char *p = s;
    while ((uintptr_t)p & (sizeof(size_t) - 1)) {    /* aligned words never cross a page */
        if (!*p)
            return p - s;
        p++;
    }
    for (;;) {
        size_t w = *(const size_t *)p;
        if (HAS_ZERO(w))
            break;
        p += sizeof(size_t);
    }
    while (*p)
        p++;
    return p - s;
}

size_t wcslen(const wchar_t_ *s)
{
    const wchar_t_ *p = s;
    while (*p)
        p++;
    return p - s;
}

size_t strnlen(const char *s, size_t n)
{
    size_t i = 0;
    if (!s)
        return 0;
    while (i < n && s[i])
        i++;
    return i;
}

size_t wcsnlen(const wchar_t_ *s, size_t n)
{
    size_t i = 0;
    if (!s)
        return 0;
    while (i < n && s[i])
        i++;
    return i;
}

/* ---------------------------------------------------------------------------------------------- copies */
char *strcpy(char *dst, const char *src)
{
    char *d = dst;
    while ((*d++ = *src++))
        ;
    return dst;
}

wchar_t_ *wcscpy(wchar_t_ *dst, const wchar_t_ *src)
{
    wchar_t_ *d = dst;
    while ((*d++ = *src++))
        ;
    return dst;
}

char *strncpy(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i < n && src[i]; i++)
        dst[i] = src[i];
    for (; i < n; i++)
        dst[i] = 0;
    return dst;
}

wchar_t_ *wcsncpy(wchar_t_ *dst, const wchar_t_ *src, size_t n)
{
    size_t i = 0;
    for (; i < n && src[i]; i++)
        dst[i] = src[i];
    for (; i < n; i++)
        dst[i] = 0;
    return dst;
}

char *strcat(char *dst, const char *src)
{
    strcpy(dst + strlen(dst), src);
    return dst;
}

wchar_t_ *wcscat(wchar_t_ *dst, const wchar_t_ *src)
{
    wcscpy(dst + wcslen(dst), src);
    return dst;
}

char *strncat(char *dst, const char *src, size_t n)
{
    char *d = dst + strlen(dst);
    for (; n && *src; n--)
        *d++ = *src++;
    *d = 0;
    return dst;
}

wchar_t_ *wcsncat(wchar_t_ *dst, const wchar_t_ *src, size_t n)
{
    wchar_t_ *d = dst + wcslen(dst);
    for (; n && *src; n--)
        *d++ = *src++;
    *d = 0;
    return dst;
}

/* ---------------------------------------------------------------------------------------------- comparisons */
int strcmp(const char *a, const char *b)
{
    const u8 *p = (const u8 *)a, *q = (const u8 *)b;
    while (*p && *p == *q)
        p++, q++;
    return *p == *q ? 0 : (*p < *q ? -1 : 1);
}

int wcscmp(const wchar_t_ *a, const wchar_t_ *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b ? 0 : (*a < *b ? -1 : 1);
}

int strncmp(const char *a, const char *b, size_t n)
{
    const u8 *p = (const u8 *)a, *q = (const u8 *)b;
    for (; n; n--, p++, q++) {
        if (*p != *q)
            return *p < *q ? -1 : 1;
        if (!*p)
            break;
    }
    return 0;
}

int wcsncmp(const wchar_t_ *a, const wchar_t_ *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return *a < *b ? -1 : 1;
        if (!*a)
            break;
    }
    return 0;
}

static inline int icmp8(const u8 *p, const u8 *q, size_t n)
{
    for (; n; n--, p++, q++) {
        unsigned x = lower(*p), y = lower(*q);
        if (x != y)
            return (int)(x - y);
        if (!*p)
            break;
    }
    return 0;
}

static inline int icmp16(const wchar_t_ *p, const wchar_t_ *q, size_t n)
{
    for (; n; n--, p++, q++) {
        unsigned x = lower(*p), y = lower(*q);
        if (x != y)
            return (int)(x - y);
        if (!*p)
            break;
    }
    return 0;
}

/* a NULL argument raises the invalid-parameter handler: the Python path */
#define ICMP(name, T, body)                                                                              \
    extern int PY(name)(const T *, const T *);                                                           \
    int name(const T *a, const T *b)                                                                     \
    {                                                                                                    \
        if (!a || !b)                                                                                    \
            return PY(name)(a, b);                                                                       \
        return body(a, b, (size_t)-1);                                                                   \
    }
ICMP(_stricmp, u8, icmp8)
ICMP(_strcmpi, u8, icmp8)
ICMP(_stricoll, u8, icmp8)
ICMP(_wcsicmp, wchar_t_, icmp16)
ICMP(_wcsicoll, wchar_t_, icmp16)

#define NICMP(name, T, body)                                                                             \
    extern int PY(name)(const T *, const T *, size_t);                                                   \
    int name(const T *a, const T *b, size_t n)                                                           \
    {                                                                                                    \
        if (!n)                                                                                          \
            return 0;                                                                                    \
        if (!a || !b)                                                                                    \
            return PY(name)(a, b, n);                                                                    \
        return body(a, b, n);                                                                            \
    }
NICMP(_strnicmp, u8, icmp8)
NICMP(_wcsnicmp, wchar_t_, icmp16)

/* ---------------------------------------------------------------------------------------------- searches */
char *strchr(const char *s, int ch)
{
    char c = (char)ch;
    for (;; s++) {
        if (*s == c)
            return (char *)s;
        if (!*s)
            return 0;
    }
}

wchar_t_ *wcschr(const wchar_t_ *s, wchar_t_ ch)
{
    for (;; s++) {
        if (*s == ch)
            return (wchar_t_ *)s;
        if (!*s)
            return 0;
    }
}

char *strrchr(const char *s, int ch)
{
    const char *hit = 0;
    char c = (char)ch;
    for (;; s++) {
        if (*s == c)
            hit = s;
        if (!*s)
            return (char *)hit;
    }
}

wchar_t_ *wcsrchr(const wchar_t_ *s, wchar_t_ ch)
{
    const wchar_t_ *hit = 0;
    for (;; s++) {
        if (*s == ch)
            hit = s;
        if (!*s)
            return (wchar_t_ *)hit;
    }
}

char *strstr(const char *s, const char *sub)
{
    if (!*sub)
        return (char *)s;
    for (; *s; s++) {
        if (*s == *sub) {
            const char *p = s, *q = sub;
            while (*q && *p == *q)
                p++, q++;
            if (!*q)
                return (char *)s;
        }
    }
    return 0;
}

wchar_t_ *wcsstr(const wchar_t_ *s, const wchar_t_ *sub)
{
    if (!*sub)
        return (wchar_t_ *)s;
    for (; *s; s++) {
        if (*s == *sub) {
            const wchar_t_ *p = s, *q = sub;
            while (*q && *p == *q)
                p++, q++;
            if (!*q)
                return (wchar_t_ *)s;
        }
    }
    return 0;
}

static inline int in8(const char *set, char c)
{
    for (; *set; set++)
        if (*set == c)
            return 1;
    return 0;
}

static inline int in16(const wchar_t_ *set, wchar_t_ c)
{
    for (; *set; set++)
        if (*set == c)
            return 1;
    return 0;
}

size_t strspn(const char *s, const char *accept)
{
    size_t i = 0;
    while (s[i] && in8(accept, s[i]))
        i++;
    return i;
}

size_t strcspn(const char *s, const char *reject)
{
    size_t i = 0;
    while (s[i] && !in8(reject, s[i]))
        i++;
    return i;
}

char *strpbrk(const char *s, const char *chars)
{
    for (; *s; s++)
        if (in8(chars, *s))
            return (char *)s;
    return 0;
}

size_t wcsspn(const wchar_t_ *s, const wchar_t_ *accept)
{
    size_t i = 0;
    while (s[i] && in16(accept, s[i]))
        i++;
    return i;
}

size_t wcscspn(const wchar_t_ *s, const wchar_t_ *reject)
{
    size_t i = 0;
    while (s[i] && !in16(reject, s[i]))
        i++;
    return i;
}

wchar_t_ *wcspbrk(const wchar_t_ *s, const wchar_t_ *chars)
{
    for (; *s; s++)
        if (in16(chars, *s))
            return (wchar_t_ *)s;
    return 0;
}
