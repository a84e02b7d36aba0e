/* Common definitions of winhatch's user-mode machine code (tools/build_native.py compiles these sources).
 *
 * The code is freestanding: no C runtime, no imports, no writable data.  Calls between these functions are
 * PC-relative (resolved by the build); the only references that leave the code are
 *   - PY(name): the framed API stub of the export `name` in the DLL that holds this copy of the code (its
 *     Python handler: the reference implementation).  A function reaches it only by a tail jump, with the
 *     caller's arguments untouched, for the cases it leaves to Python (a NULL argument that raises the
 *     invalid-parameter handler, a locale other than "C", a contended lock ...).  The build checks that every
 *     reference to a PY() symbol is a jump, never a call.
 *   - WH_DATA(name): a variable of the DLL's internal data (winhatch.win32.api.internal_data), which the
 *     Python side of the DLL keeps up to date.
 */
#ifndef WINHATCH_NATIVE_H
#define WINHATCH_NATIVE_H

typedef __SIZE_TYPE__ size_t;
typedef __PTRDIFF_TYPE__ ptrdiff_t;
typedef __UINTPTR_TYPE__ uintptr_t;
typedef unsigned short wchar_t_;   /* wchar_t of Windows: 16-bit */
typedef unsigned short wint_t_;
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define PY(name) __wh_py_##name
#define WH_DATA(name) __wh_data_##name

/* unaligned word access */
typedef size_t __attribute__((may_alias, aligned(1))) uword;
typedef u32 __attribute__((may_alias, aligned(1))) u32u;

#if defined(__x86_64__)
#define WINAPI
#else
#define WINAPI __attribute__((stdcall))
#endif

#define ONES ((size_t)-1 / 0xFF)
#define HIGHS (ONES * 0x80)
#define HAS_ZERO(x) (((x) - ONES) & ~(x) & HIGHS)

#endif

/* The DLL's native state (a writable section .whnat of each DLL that carries this code; winhatch.win32.native
 * NATIVE_STATE_* name the same offsets): flags and indices the Python side of the DLL keeps up to date. */
#define JIT_RUNS 16
#define JIT_ALL 0xFFFFFFFFu
struct native_state {
    u32 ctype_not_c;      /* nonzero: the CRT's LC_CTYPE locale is not "C" (ctype takes the Python path) */
    u32 errno_tls;        /* TLS index + 1 of the CRT's per-thread errno block (0: none yet) */
    u64 iob;              /* the address of the C runtime's stdin FILE (stdout follows; 0: not initialised) */
    u32 reserved[12];
    /* at 64: the pages of a JIT's code cache, kept by the kernel (winhatch.kernel.mm.aspace NATIVE_JIT_TABLE):
     * the copy and fill functions leave stores there to their Python handlers */
    u32 jit_count;        /* runs below; JIT_ALL: more than JIT_RUNS (every destination counts as JIT code) */
    u32 jit_pad;
    struct { u64 start, end; } jit[JIT_RUNS];
};
extern struct native_state WH_DATA(native_state);
#define NSTATE (WH_DATA(native_state))

/* TEB fields (tests/win32/test_native_blob.py checks them against winhatch.kernel.structs.TEB) */
#if defined(__x86_64__)
#define TEB_LAST_ERROR 0x68
#define TEB_TLS_SLOTS 0x1480
#define TEB_TLS_EXPANSION 0x1780
#define TEB_CLIENT_TID 0x48
static inline u8 *teb(void) { u8 *t; __asm__("movq %%gs:0x30, %0" : "=r"(t)); return t; }
#else
#define TEB_LAST_ERROR 0x34
#define TEB_TLS_SLOTS 0xE10
#define TEB_TLS_EXPANSION 0xF94
#define TEB_CLIENT_TID 0x24
static inline u8 *teb(void) { u8 *t; __asm__("movl %%fs:0x18, %0" : "=r"(t)); return t; }
#endif
#define TEB_FIELD(t, off, type) (*(type volatile *)((t) + (off)))
