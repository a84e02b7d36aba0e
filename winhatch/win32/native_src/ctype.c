/* ctype over the "C" locale's table (ctype_tables.h, generated from winhatch.win32.msvcrt.startup by
 * `tools/build_native.py --tables`): isalpha ... iscntrl, isblank, _isctype, toupper/tolower, __iscsym(f);
 * their wide forms for the code units 0..255 (the rest is the Python path: GetStringTypeW's classes).
 * In a CRT whose LC_CTYPE locale is not "C" (setlocale sets native_state.ctype_not_c) and for an argument
 * outside EOF..255 (a debug assertion in the CRT) the functions take the Python path. */
#include "native.h"
#include "ctype_tables.h"

#define C_LOCALE() (!NSTATE.ctype_not_c)

#define IS(name, bits)                                                                                   \
    extern int PY(name)(int);                                                                            \
    int name(int ch)                                                                                     \
    {                                                                                                    \
        if ((unsigned)ch < 256u && C_LOCALE())                                                           \
            return ctype_c[ch] & (bits);                                                                 \
        if (ch == -1)                                                                                    \
            return 0;                                                                                    \
        return PY(name)(ch);                                                                             \
    }
IS(isalpha, 0x103)
IS(isupper, 0x1)
IS(islower, 0x2)
IS(isdigit, 0x4)
IS(isxdigit, 0x80)
IS(isspace, 0x8)
IS(ispunct, 0x10)
IS(isalnum, 0x107)
IS(isprint, 0x157)
IS(isgraph, 0x117)
IS(iscntrl, 0x20)

extern int PY(isblank)(int);
int isblank(int ch)
{
    if ((unsigned)ch < 256u && C_LOCALE())
        return ch == 9 ? 0x40 : ctype_c[ch] & 0x40;
    if (ch == -1)
        return 0;
    return PY(isblank)(ch);
}

extern int PY(_isctype)(int, int);
int _isctype(int ch, int mask)
{
    if (ch == -1)
        return 0;
    if (!C_LOCALE())
        return PY(_isctype)(ch, mask);
    return ctype_c[ch & 0xFF] & mask;
}

#define ISW(name, bits)                                                                                  \
    extern int PY(name)(wint_t_);                                                                        \
    int name(wint_t_ ch)                                                                                 \
    {                                                                                                    \
        if (ch < 256u)                                                                                   \
            return ctype_w[ch] & (bits);                                                                 \
        if (ch == 0xFFFF)                                                                                \
            return 0;                                                                                    \
        return PY(name)(ch);                                                                             \
    }
ISW(iswalpha, 0x103)
ISW(iswupper, 0x1)
ISW(iswlower, 0x2)
ISW(iswdigit, 0x4)
ISW(iswxdigit, 0x80)
ISW(iswspace, 0x8)
ISW(iswpunct, 0x10)
ISW(iswalnum, 0x107)
ISW(iswprint, 0x157)
ISW(iswgraph, 0x117)
ISW(iswcntrl, 0x20)

extern int PY(iswblank)(wint_t_);
int iswblank(wint_t_ ch)
{
    if (ch < 256u)
        return ch == 9 ? 0x40 : ctype_w[ch] & 0x40;
    if (ch == 0xFFFF)
        return 0;
    return PY(iswblank)(ch);
}

extern int PY(iswctype)(wint_t_, u16);
int iswctype(wint_t_ ch, u16 mask)
{
    if (ch < 256u)
        return ctype_w[ch] & mask;
    if (ch == 0xFFFF)
        return 0;
    return PY(iswctype)(ch, mask);
}

extern int PY(toupper)(int);
int toupper(int ch)
{
    if ((unsigned)ch - 'a' < 26u)
        return ch - 32;
    if ((unsigned)ch < 0x80u || (unsigned)ch > 255u || C_LOCALE())
        return ch;
    return PY(toupper)(ch);
}

extern int PY(tolower)(int);
int tolower(int ch)
{
    if ((unsigned)ch - 'A' < 26u)
        return ch + 32;
    if ((unsigned)ch < 0x80u || (unsigned)ch > 255u || C_LOCALE())
        return ch;
    return PY(tolower)(ch);
}

int _toupper(int ch) { return ch - 32; }
int _tolower(int ch) { return ch + 32; }
wint_t_ towupper(wint_t_ ch) { return ch - 'a' < 26u ? ch - 32 : ch; }
wint_t_ towlower(wint_t_ ch) { return ch - 'A' < 26u ? ch + 32 : ch; }
int isascii(int ch) { return (unsigned)ch < 0x80u; }
int __isascii(int ch) { return (unsigned)ch < 0x80u; }

extern int PY(__iscsym)(int);
int __iscsym(int ch)
{
    if (!C_LOCALE())
        return PY(__iscsym)(ch);
    ch &= 0xFF;
    return (ctype_c[ch] & 0x107) || ch == '_';
}

extern int PY(__iscsymf)(int);
int __iscsymf(int ch)
{
    if (!C_LOCALE())
        return PY(__iscsymf)(ch);
    ch &= 0xFF;
    return (ctype_c[ch] & 0x103) || ch == '_';
}
