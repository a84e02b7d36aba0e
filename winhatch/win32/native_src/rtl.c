/* ntdll's Rtl memory and counted-string basics (the Python handlers in winhatch/win32/ntdll/rtl_misc.py and
 * rtl_string.py are the reference): RtlMoveMemory/RtlCopyMemory (overlap-safe), RtlFillMemory, RtlZeroMemory,
 * RtlFillMemoryUlong, RtlCompareMemory, RtlCompareMemoryUlong, RtlInitUnicodeString(Ex), RtlInitAnsiString,
 * RtlInitString. */
#include "native.h"

void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
size_t strlen(const char *);
size_t wcslen(const wchar_t_ *);

void WINAPI RtlMoveMemory(void *dst, const void *src, size_t n) { memmove(dst, src, n); }
void WINAPI RtlCopyMemory(void *dst, const void *src, size_t n) { memmove(dst, src, n); }
void WINAPI RtlFillMemory(void *dst, size_t n, u8 fill) { memset(dst, fill, n); }
void WINAPI RtlZeroMemory(void *dst, size_t n) { memset(dst, 0, n); }

void WINAPI RtlFillMemoryUlong(void *dst, size_t n, u32 pattern)
{
    u32u *p = dst;
    for (n /= 4; n; n--)
        *p++ = pattern;
}

size_t WINAPI RtlCompareMemory(const void *a, const void *b, size_t n)
{
    const u8 *p = a, *q = b;
    size_t i = 0;
    while (i + sizeof(size_t) <= n && *(const uword *)(p + i) == *(const uword *)(q + i))
        i += sizeof(size_t);
    while (i < n && p[i] == q[i])
        i++;
    return i;
}

size_t WINAPI RtlCompareMemoryUlong(const void *src, size_t n, u32 pattern)
{
    const u32u *p = src;
    size_t i = 0, count = n / 4;
    while (i < count && p[i] == pattern)
        i++;
    return 4 * i;
}

typedef struct { u16 Length, MaximumLength; void *Buffer; } counted;

void WINAPI RtlInitUnicodeString(counted *dst, const wchar_t_ *src)
{
    size_t n = 0;
    if (src) {
        n = wcslen(src) * 2;
        if (n > 0xFFFC)
            n = 0xFFFC;
    }
    dst->Length = (u16)n;
    dst->MaximumLength = src ? (u16)(n + 2) : 0;
    dst->Buffer = (void *)src;
}

#define STATUS_NAME_TOO_LONG 0xC0000106u
u32 WINAPI RtlInitUnicodeStringEx(counted *dst, const wchar_t_ *src)
{
    size_t n = 0;
    if (src) {
        n = wcslen(src) * 2;
        if (n > 0xFFFC)
            return STATUS_NAME_TOO_LONG;
    }
    dst->Length = (u16)n;
    dst->MaximumLength = src ? (u16)(n + 2) : 0;
    dst->Buffer = (void *)src;
    return 0;
}

static inline void init_ansi(counted *dst, const char *src)
{
    size_t n = 0;
    if (src) {
        n = strlen(src);
        if (n > 0xFFFE)
            n = 0xFFFE;
    }
    dst->Length = (u16)n;
    dst->MaximumLength = src ? (u16)(n + 1) : 0;
    dst->Buffer = (void *)src;
}

void WINAPI RtlInitAnsiString(counted *dst, const char *src) { init_ansi(dst, src); }
void WINAPI RtlInitString(counted *dst, const char *src) { init_ansi(dst, src); }
