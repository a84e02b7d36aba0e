/* The C runtime's FILE fast paths: what msvcrt's getc/putc macros do inline, as machine code at the exports.
 *
 * The FILE is msvcrt's struct _iobuf (winhatch.win32.msvcrt.streams keeps it: the buffer lives in the guest,
 * _ptr/_cnt/_base/_flag current; ucrtbase's opaque FILE has the same layout in winhatch).  Its buffer holds the
 * program's bytes (text mode is translated between the buffer and the file), so:
 *   read direction  (_flag has _IOREAD, not _IOWRT): _cnt bytes are left to read at _ptr;
 *   write direction (_flag has _IOWRT, not _IOREAD): _cnt bytes of room are left at _ptr.
 * A call these cases cover runs here; everything else (an empty or full buffer, the console and unbuffered
 * streams, which keep _cnt at 0, errors, a NULL argument) tail-jumps to the Python handler, which refills or
 * writes out the buffer (msvcrt's _filbuf/_flsbuf: a full buffer is written out when more output comes).  The CRT's per-FILE locks are not taken: winhatch's stdio calls are atomic under
 * its scheduler (winhatch.win32.msvcrt.process _lock_file). */
#include "native.h"

typedef struct {
    u8 *_ptr;
    int _cnt;
    u8 *_base;
    int _flag;
    int _file;
    int _charbuf;
    int _bufsiz;
    char *_tmpfname;
} crt_file;

#define IOREAD 0x1
#define IOWRT 0x2
#define IOSTRG 0x40
#define DIRECTION (IOREAD | IOWRT | IOSTRG)

static inline int readable(const crt_file *f, size_t n)
{
    return (f->_flag & DIRECTION) == IOREAD && f->_cnt > 0 && n <= (size_t)f->_cnt;
}

static inline int writable(const crt_file *f, size_t n)
{
    return (f->_flag & DIRECTION) == IOWRT && f->_cnt > 0 && n <= (size_t)f->_cnt;
}

static inline void copy(u8 *d, const u8 *s, size_t n)
{
    while (n >= sizeof(size_t)) {
        *(uword *)d = *(const uword *)s;
        d += sizeof(size_t);
        s += sizeof(size_t);
        n -= sizeof(size_t);
    }
    while (n--)
        *d++ = *s++;
}

static inline crt_file *std_file(int i)
{
    return (crt_file *)(uintptr_t)NSTATE.iob + i;
}

#define GETC(name)                                          \
    extern int PY(name)(crt_file *);                        \
    int name(crt_file *f)                                   \
    {                                                       \
        if (f && readable(f, 1)) {                          \
            f->_cnt--;                                      \
            return *f->_ptr++;                              \
        }                                                   \
        return PY(name)(f);                                 \
    }
GETC(fgetc)
GETC(getc)
GETC(_fgetc_nolock)
GETC(_getc_nolock)

#define PUTC(name)                                          \
    extern int PY(name)(int, crt_file *);                   \
    int name(int ch, crt_file *f)                           \
    {                                                       \
        if (f && writable(f, 1)) {                          \
            f->_cnt--;                                      \
            *f->_ptr++ = (u8)ch;                            \
            return (u8)ch;                                  \
        }                                                   \
        return PY(name)(ch, f);                             \
    }
PUTC(fputc)
PUTC(putc)
PUTC(_fputc_nolock)
PUTC(_putc_nolock)

extern int PY(getchar)(void);
int getchar(void)
{
    crt_file *f = NSTATE.iob ? std_file(0) : 0;
    if (f && readable(f, 1)) {
        f->_cnt--;
        return *f->_ptr++;
    }
    return PY(getchar)();
}

extern int PY(putchar)(int);
int putchar(int ch)
{
    crt_file *f = NSTATE.iob ? std_file(1) : 0;
    if (f && writable(f, 1)) {
        f->_cnt--;
        *f->_ptr++ = (u8)ch;
        return (u8)ch;
    }
    return PY(putchar)(ch);
}

extern size_t PY(fread)(void *, size_t, size_t, crt_file *);
size_t fread(void *p, size_t size, size_t count, crt_file *f)
{
    if (p && f && size && count && count <= (size_t)-1 / size && readable(f, size * count)) {
        size_t n = size * count;
        copy(p, f->_ptr, n);
        f->_ptr += n;
        f->_cnt -= (int)n;
        return count;
    }
    return PY(fread)(p, size, count, f);
}

extern size_t PY(fwrite)(const void *, size_t, size_t, crt_file *);
size_t fwrite(const void *p, size_t size, size_t count, crt_file *f)
{
    if (p && f && size && count && count <= (size_t)-1 / size && writable(f, size * count)) {
        size_t n = size * count;
        copy(f->_ptr, p, n);
        f->_ptr += n;
        f->_cnt -= (int)n;
        return count;
    }
    return PY(fwrite)(p, size, count, f);
}

extern int PY(fputs)(const char *, crt_file *);
int fputs(const char *s, crt_file *f)
{
    if (s && f && (f->_flag & DIRECTION) == IOWRT && f->_cnt > 0) {
        size_t room = (size_t)f->_cnt, n = 0;
        while (n < room && s[n])
            n++;
        if (n < room || !s[n]) {    /* the whole string fits */
            copy(f->_ptr, (const u8 *)s, n);
            f->_ptr += n;
            f->_cnt -= (int)n;
            return 0;
        }
    }
    return PY(fputs)(s, f);
}

extern char *PY(fgets)(char *, int, crt_file *);
char *fgets(char *buf, int n, crt_file *f)
{
    if (buf && f && n > 1 && readable(f, 1)) {
        size_t want = (size_t)(n - 1), have = (size_t)f->_cnt, i = 0;
        size_t lim = want < have ? want : have;
        const u8 *p = f->_ptr;
        while (i < lim && p[i] != '\n')
            i++;
        if (i < lim || lim == want) {   /* a newline in the buffer, or n - 1 characters */
            size_t take = i < lim ? i + 1 : lim;
            copy((u8 *)buf, p, take);
            buf[take] = 0;
            f->_ptr += take;
            f->_cnt -= (int)take;
            return buf;
        }
    }
    return PY(fgets)(buf, n, f);
}
