/* winhatch's cmd.exe (C:\Windows\System32\cmd.exe and SysWOW64\cmd.exe): the part of the Windows command
   processor programs reach with `cmd /c COMMAND` (ComSpec, a batch file started by CreateProcess).
   `/c` or `/k` runs one command line and exits with its status; /d /q /s /u /a are accepted and ignored.
   %VAR% is expanded when the line is read. A command line is commands joined by `&`, `&&` (the next one
   runs only on success) and `||` (only on failure); each may begin with `@` and carry redirections
   (`>file`, `>>file`, `2>file`, `nul` included). Commands: `echo TEXT` (bare `echo`: "ECHO is on."),
   `rem`, `exit [/b] [N]`, `for /l %X in (start,step,end) do COMMAND` (the rest of the line is its body; a
   missing number is 0, so `for /l %n in () do ...` runs for ever, as cmd's does; %X in COMMAND becomes the
   counter), and any other name runs as a program (CreateProcess with the search order of its
   lpCommandLine) whose exit code becomes the status. What this cmd does not have fails loudly on stderr
   with exit code 9009 (cmd's "not recognized" status): batch files, cmd's other internal commands (dir,
   set, copy, if, ...), pipes, and an interactive prompt (no /c or /k).
   Built by tools/build_hosts.py; the binaries are committed with this source's sha256. */
#include <windows.h>

#define NOT_HERE 9009

static HANDLE out_h, err_h;

static int wlen(const WCHAR *s) { int n = 0; while (s[n]) n++; return n; }

static WCHAR lower(WCHAR c) { return c >= L'A' && c <= L'Z' ? c + 32 : c; }

static int is_space(WCHAR c) { return c == L' ' || c == L'\t'; }

static void put(HANDLE h, const WCHAR *s, int n)
{
    char buf[1024];
    DWORD done;
    while (n > 0) {
        int chunk = n > 256 ? 256 : n;
        int k = WideCharToMultiByte(GetConsoleOutputCP(), 0, s, chunk, buf, sizeof buf, NULL, NULL);
        if (k > 0)
            WriteFile(h, buf, (DWORD)k, &done, NULL);
        s += chunk;
        n -= chunk;
    }
}

static void say(HANDLE h, const WCHAR *s) { put(h, s, wlen(s)); }

/* does the word at s (length n) equal the lower-case keyword kw? */
static int word_is(const WCHAR *s, int n, const WCHAR *kw)
{
    int i = 0;
    for (; i < n && kw[i]; i++)
        if (lower(s[i]) != kw[i])
            return 0;
    return i == n && !kw[i];
}

static int run_line(WCHAR *line, int depth);

/* a number of `for /l`'s set: optional sign, decimal digits; the end of the number in *end */
static long parse_num(WCHAR *s, WCHAR **end)
{
    long v = 0, sign = 1;
    while (is_space(*s)) s++;
    if (*s == L'-') { sign = -1; s++; }
    else if (*s == L'+') s++;
    while (*s >= L'0' && *s <= L'9' && v < 100000000L)
        v = v * 10 + (*s++ - L'0');
    while (is_space(*s)) s++;
    *end = s;
    return v * sign;
}

/* for /l %X in (start,step,end) do COMMAND */
static int run_for(WCHAR *args, int depth)
{
    WCHAR *p = args;
    while (is_space(*p)) p++;
    if (!(p[0] == L'/' && lower(p[1]) == L'l' && is_space(p[2]))) {
        say(err_h, L"winhatch cmd: only FOR /L is implemented\r\n");
        return NOT_HERE;
    }
    p += 3;
    while (is_space(*p)) p++;
    if (p[0] != L'%' || !p[1]) goto syntax;
    WCHAR var = p[1];
    p += 2;
    while (is_space(*p)) p++;
    if (!(lower(p[0]) == L'i' && lower(p[1]) == L'n')) goto syntax;
    p += 2;
    while (is_space(*p)) p++;
    if (*p != L'(') goto syntax;
    p++;
    long v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        v[i] = parse_num(p, &p);
        if (*p == L',') p++;
        else if (*p == L')') { break; }
    }
    while (*p && *p != L')') p++;
    if (*p != L')') goto syntax;
    p++;
    while (is_space(*p)) p++;
    if (!(lower(p[0]) == L'd' && lower(p[1]) == L'o' && is_space(p[2]))) goto syntax;
    p += 3;
    while (is_space(*p)) p++;
    int status = 0;
    static WCHAR body[8192];
    for (long n = v[0]; v[1] >= 0 ? n <= v[2] : n >= v[2]; n += v[1]) {
        /* the body with %X replaced by the counter */
        int o = 0;
        for (WCHAR *s = p; *s && o < 8160; s++) {
            if (s[0] == L'%' && s[1] == var) {
                WCHAR digits[16];
                int k = 0;
                unsigned long m = n < 0 ? (unsigned long)-n : (unsigned long)n;
                do { digits[k++] = (WCHAR)(L'0' + m % 10); m /= 10; } while (m);
                if (n < 0) body[o++] = L'-';
                while (k) body[o++] = digits[--k];
                s++;
            } else {
                body[o++] = *s;
            }
        }
        body[o] = 0;
        status = run_line(body, depth + 1);
        if (v[1] == 0 && v[0] > v[2]) break;
    }
    return status;
syntax:
    say(err_h, L"The syntax of the command is incorrect.\r\n");
    return 1;
}

/* one command (no &, && or ||): redirections taken out, then run */
static int run_command(WCHAR *cmd, int depth)
{
    static const WCHAR *internal[] = {L"assoc", L"break", L"call", L"cd", L"chdir", L"cls", L"color", L"copy",
        L"date", L"del", L"dir", L"echo.", L"endlocal", L"erase", L"ftype", L"goto", L"if", L"md", L"mkdir",
        L"mklink", L"move", L"path", L"pause", L"popd", L"prompt", L"pushd", L"rd", L"ren", L"rename",
        L"rmdir", L"set", L"setlocal", L"shift", L"start", L"time", L"title", L"type", L"ver", L"verify",
        L"vol", NULL};
    HANDLE saved_out = out_h, saved_err = err_h;
    HANDLE opened[2] = {NULL, NULL};
    WCHAR *p = cmd;
    while (is_space(*p) || *p == L'@') p++;
    if (word_is(p, 3, L"for") && is_space(p[3]))        /* the redirections of its body are the body's */
        return depth > 8 ? 1 : run_for(p + 3, depth);
    /* redirections: [1|2]>[>]target, anywhere in the command; the rest stays in place */
    int quoted = 0;
    for (WCHAR *s = p; *s; s++) {
        if (*s == L'"') quoted = !quoted;
        if (quoted || *s != L'>')
            continue;
        WCHAR *start = s;
        int which = 1;
        if (s > p && (s[-1] == L'1' || s[-1] == L'2') && (s - 1 == p || is_space(s[-2]))) {
            which = s[-1] - L'0';
            start = s - 1;
        }
        int append = s[1] == L'>';
        WCHAR *t = s + 1 + append;
        while (is_space(*t)) t++;
        WCHAR name[MAX_PATH];
        int k = 0;
        while (*t && !is_space(*t) && *t != L'>' && k < MAX_PATH - 1)
            name[k++] = *t++;
        name[k] = 0;
        if (!k) {
            say(err_h, L"The syntax of the command is incorrect.\r\n");
            return 1;
        }
        SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
        HANDLE h = CreateFileW(name, append ? FILE_APPEND_DATA : GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                               &sa, append ? OPEN_ALWAYS : CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE) {
            say(err_h, L"The system cannot find the path specified.\r\n");
            return 1;
        }
        if (opened[which - 1]) CloseHandle(opened[which - 1]);
        opened[which - 1] = h;
        if (which == 1) out_h = h; else err_h = h;
        /* the redirection leaves the command (the blank before it stays: `echo hi >nul` echoes "hi ") */
        WCHAR *d = start;
        while ((*d++ = *t++) != 0) ;
        s = start - 1;
    }
    /* the command's name */
    WCHAR *end = p;
    while (*end && !is_space(*end) && *end != L'/' ) end++;
    int n = (int)(end - p), status = 0;
    WCHAR *args = end;
    while (is_space(*args)) args++;
    if (n == 0) {
        status = 0;
    } else if (word_is(p, n, L"echo")) {
        int len = wlen(args);
        if (len) { put(out_h, args, len); say(out_h, L"\r\n"); }
        else say(out_h, L"ECHO is on.\r\n");
    } else if (word_is(p, n, L"rem")) {
        status = 0;
    } else if (word_is(p, n, L"exit")) {
        WCHAR *a = args;
        if (a[0] == L'/' && lower(a[1]) == L'b') { a += 2; while (is_space(*a)) a++; }
        WCHAR *e;
        ExitProcess((UINT)parse_num(a, &e));
    } else {
        int builtin = 0;
        for (int i = 0; internal[i]; i++)
            if (word_is(p, n, internal[i])) builtin = 1;
        int len = wlen(p);
        WCHAR *last = p;
        while (*last && !is_space(*last)) last++;
        int batch = last - p > 4 && (word_is(last - 4, 4, L".bat") || word_is(last - 4, 4, L".cmd")
                                     || (last[-1] == L'"' && last - p > 5 && (word_is(last - 5, 4, L".bat")
                                                                              || word_is(last - 5, 4, L".cmd"))));
        if (builtin || batch) {
            say(err_h, L"winhatch cmd: ");
            put(err_h, p, builtin ? n : (int)(last - p));
            say(err_h, builtin ? L": this internal command of cmd.exe is not implemented\r\n"
                               : L": running batch files is not implemented\r\n");
            status = NOT_HERE;
        } else {
            STARTUPINFOW si;
            PROCESS_INFORMATION pi;
            for (volatile char *z = (volatile char *)&si; z < (volatile char *)(&si + 1); z++) *z = 0;
            si.cb = sizeof si;
            si.dwFlags = STARTF_USESTDHANDLES;
            si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
            si.hStdOutput = out_h;
            si.hStdError = err_h;
            static WCHAR line[8192];
            int k = 0;
            for (; k < len && k < 8191; k++) line[k] = p[k];
            line[k] = 0;
            if (!CreateProcessW(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
                WCHAR q[2] = {L'\'', 0};
                say(err_h, q);
                put(err_h, p, n);
                say(err_h, L"' is not recognized as an internal or external command,\r\n"
                           L"operable program or batch file.\r\n");
                status = NOT_HERE;
            } else {
                DWORD code = 0;
                WaitForSingleObject(pi.hProcess, INFINITE);
                GetExitCodeProcess(pi.hProcess, &code);
                CloseHandle(pi.hThread);
                CloseHandle(pi.hProcess);
                status = (int)code;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (opened[i]) CloseHandle(opened[i]);
    out_h = saved_out;
    err_h = saved_err;
    return status;
}

/* does a command joined by op (0 &, 1 &&, 2 ||) run after a command that ended with status? */
static int status_of(int op, int status) { return op == 0 || (op == 1 && status == 0) || (op == 2 && status != 0); }

/* a command line: commands joined by &, && and || (outside quotes), run left to right */
static int run_line(WCHAR *line, int depth)
{
    int status = 0;
    WCHAR *s = line;
    int op = 0;                 /* how the current command is joined to the previous one: 0 &, 1 &&, 2 || */
    for (;;) {
        WCHAR *e = s;
        int quoted = 0;
        WCHAR *w = s;
        while (is_space(*w) || *w == L'@') w++;
        if (word_is(w, 3, L"for") && is_space(w[3]))
            return status_of(op, status) ? run_command(s, depth) : status;   /* FOR's body runs to the end */
        while (*e && (quoted || (*e != L'&' && !(e[0] == L'|' && e[1] == L'|')))) {
            if (*e == L'"') quoted = !quoted;
            if (!quoted && *e == L'|') {
                say(err_h, L"winhatch cmd: pipes are not implemented\r\n");
                return NOT_HERE;
            }
            e++;
        }
        WCHAR save = *e;
        *e = 0;
        if (status_of(op, status))
            status = run_command(s, depth);
        *e = save;
        if (!save)
            return status;
        if (e[0] == L'&' && e[1] == L'&') { op = 1; s = e + 2; }
        else if (e[0] == L'|') { op = 2; s = e + 2; }
        else { op = 0; s = e + 1; }
    }
}

void __cdecl start(void)
{
    static WCHAR line[8192];
    WCHAR *p = GetCommandLineW();
    out_h = GetStdHandle(STD_OUTPUT_HANDLE);
    err_h = GetStdHandle(STD_ERROR_HANDLE);
    /* skip the program name (quoted or not) */
    if (*p == L'"') { p++; while (*p && *p != L'"') p++; if (*p) p++; }
    else while (*p && !is_space(*p)) p++;
    int run = 0;
    for (;;) {
        while (is_space(*p)) p++;
        if (p[0] != L'/') break;
        WCHAR o = lower(p[1]);
        p += 2;
        if (o == L'c' || o == L'k') { run = 1; break; }
        while (*p && !is_space(*p)) p++;                      /* /d /q /s /u /a /e:on ... */
    }
    if (!run) {
        say(err_h, L"winhatch cmd: an interactive command prompt is not implemented (use /c COMMAND)\r\n");
        ExitProcess(NOT_HERE);
    }
    while (is_space(*p)) p++;
    int n = wlen(p);
    if (n >= 8191) n = 8191;
    int k = 0;
    /* cmd's rule without /s: a command line that starts with a quote loses its first and last quote */
    int strip = p[0] == L'"';
    int last_quote = -1;
    if (strip)
        for (int i = n - 1; i > 0; i--)
            if (p[i] == L'"') { last_quote = i; break; }
    for (int i = strip ? 1 : 0; i < n; i++)
        if (i != last_quote) line[k++] = p[i];
    line[k] = 0;
    /* %VAR% is expanded once, when the line is read (an undefined one stays as written, as on the command
       line of cmd /c) */
    static WCHAR expanded[16384];
    DWORD got = ExpandEnvironmentStringsW(line, expanded, 16384);
    ExitProcess((UINT)run_line(got && got <= 8192 ? expanded : line, 0));
}
