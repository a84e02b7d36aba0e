/* Thread-local storage over the TEB (kernel32/kernelbase TlsGetValue, TlsSetValue) and the C runtime's
 * per-thread errno block (_errno, __doserrno), as their Python handlers keep them: the 64 TEB.TlsSlots, the
 * 1024 TEB.TlsExpansionSlots allocated by the first TlsSetValue of an expansion index (the Python path), and
 * the CRT's errno block, whose address the CRT publishes in a TLS slot of its own (native_state.errno_tls). */
#include "native.h"

#define TLS_MINIMUM_AVAILABLE 64u
#define TLS_EXPANSION_SLOTS 1024u

extern void *WINAPI PY(TlsGetValue)(u32);
void *WINAPI TlsGetValue(u32 i)
{
    u8 *t = teb();
    if (i < TLS_MINIMUM_AVAILABLE) {
        TEB_FIELD(t, TEB_LAST_ERROR, u32) = 0;
        return ((void *volatile *)(t + TEB_TLS_SLOTS))[i];
    }
    if (i < TLS_MINIMUM_AVAILABLE + TLS_EXPANSION_SLOTS) {
        void **exp = TEB_FIELD(t, TEB_TLS_EXPANSION, void **);
        TEB_FIELD(t, TEB_LAST_ERROR, u32) = 0;
        return exp ? ((void *volatile *)exp)[i - TLS_MINIMUM_AVAILABLE] : 0;
    }
    return PY(TlsGetValue)(i);   /* ERROR_INVALID_PARAMETER */
}

extern int WINAPI PY(TlsSetValue)(u32, void *);
int WINAPI TlsSetValue(u32 i, void *v)
{
    u8 *t = teb();
    if (i < TLS_MINIMUM_AVAILABLE) {
        ((void *volatile *)(t + TEB_TLS_SLOTS))[i] = v;
        return 1;
    }
    if (i < TLS_MINIMUM_AVAILABLE + TLS_EXPANSION_SLOTS) {
        void **exp = TEB_FIELD(t, TEB_TLS_EXPANSION, void **);
        if (exp) {
            ((void *volatile *)exp)[i - TLS_MINIMUM_AVAILABLE] = v;
            return 1;
        }
    }
    return PY(TlsSetValue)(i, v);   /* allocates the expansion slots, or ERROR_INVALID_PARAMETER */
}

static inline u32 *errno_block(void)
{
    u32 i = NSTATE.errno_tls;
    if (i - 1 < TLS_MINIMUM_AVAILABLE)
        return ((u32 *volatile *)(teb() + TEB_TLS_SLOTS))[i - 1];
    return 0;
}

extern int *PY(_errno)(void);
int *_errno(void)
{
    u32 *p = errno_block();
    if (p)
        return (int *)p;
    return PY(_errno)();    /* the thread's first: the CRT allocates its block and publishes it */
}

extern unsigned long *PY(__doserrno)(void);
unsigned long *__doserrno(void)
{
    u32 *p = errno_block();
    if (p)
        return (unsigned long *)(p + 1);
    return PY(__doserrno)();
}

extern int PY(_get_errno)(int *);
int _get_errno(int *out)
{
    u32 *p = errno_block();
    if (!p || !out)
        return PY(_get_errno)(out);
    *out = (int)*p;
    return 0;
}

extern int PY(_set_errno)(int);
int _set_errno(int v)
{
    u32 *p = errno_block();
    if (!p)
        return PY(_set_errno)(v);
    *p = (u32)v;
    return 0;
}
