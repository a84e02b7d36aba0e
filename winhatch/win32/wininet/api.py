"""WinINet's HTTP client: sessions, connections and requests as HINTERNET handles (small process-heap blocks,
as WinINet's handles are opaque values), each exchange over the sockets driver (winhatch.win32.wininet.client),
so it reaches the fake internet (or, with --net host, the real one) and is captured like any connection.

Implemented: InternetOpen, InternetConnect (HTTP service), HttpOpenRequest, HttpAddRequestHeaders,
HttpSendRequest, InternetOpenUrl (http/https), InternetReadFile, InternetQueryDataAvailable, HttpQueryInfo (the
status, raw headers, and any header by HTTP_QUERY_* number or HTTP_QUERY_CUSTOM, with HTTP_QUERY_FLAG_NUMBER),
InternetCrackUrl, InternetQueryOption / InternetSetOption (the timeouts, INTERNET_OPTION_URL,
INTERNET_OPTION_USER_AGENT, INTERNET_OPTION_HANDLE_TYPE), InternetGetConnectedState, InternetCloseHandle.
Asynchronous mode (INTERNET_FLAG_ASYNC), callbacks, FTP and gopher stop loudly.
"""
from __future__ import annotations

import struct

from winhatch.win32.api import api
from winhatch.win32.wininet import client as C

WI = "wininet.dll"
ERROR_INVALID_HANDLE, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER = 6, 122, 87
ERROR_INTERNET_INVALID_URL, ERROR_INTERNET_UNRECOGNIZED_SCHEME = 12005, 12006
ERROR_INTERNET_INCORRECT_HANDLE_TYPE = 12018
ERROR_HTTP_HEADER_NOT_FOUND = 12150
ERROR_INTERNET_INVALID_OPTION = 12009
INTERNET_FLAG_ASYNC = 0x10000000
INTERNET_FLAG_SECURE = 0x00800000
INTERNET_SERVICE_HTTP = 3
HTTP_QUERY_FLAG_NUMBER = 0x20000000
HTTP_QUERY_FLAG_REQUEST_HEADERS = 0x80000000
HTTP_QUERY_FLAG_SYSTEMTIME = 0x40000000
HTTP_QUERY_CUSTOM = 65535
#: HTTP_QUERY_* numbers of the headers by name (wininet.h)
QUERY_HEADERS = {0: "MIME-Version", 1: "Content-Type", 2: "Content-Transfer-Encoding", 3: "Content-ID",
                 4: "Content-Description", 5: "Content-Length", 6: "Content-Language", 7: "Allow", 8: "Public",
                 9: "Date", 10: "Expires", 11: "Last-Modified", 12: "Message-ID", 13: "URI", 14: "Derived-From",
                 15: "Cost", 16: "Link", 17: "Pragma", 23: "Connection", 24: "Accept", 25: "Accept-Charset",
                 26: "Accept-Encoding", 27: "Accept-Language", 28: "Authorization", 29: "Content-Encoding",
                 30: "Forwarded", 31: "From", 32: "If-Modified-Since", 33: "Location", 34: "Orig-URI",
                 35: "Referer", 36: "Retry-After", 37: "Server", 38: "Title", 39: "User-Agent",
                 40: "WWW-Authenticate", 41: "Proxy-Authenticate", 42: "Accept-Ranges", 43: "Set-Cookie",
                 44: "Cookie", 46: "Refresh", 47: "Content-Disposition", 48: "Age", 49: "Cache-Control",
                 50: "Content-Base", 51: "Content-Location", 52: "Content-MD5", 53: "Content-Range", 54: "ETag",
                 55: "Host", 56: "If-Match", 57: "If-None-Match", 58: "If-Range", 59: "If-Unmodified-Since",
                 60: "Max-Forwards", 61: "Proxy-Authorization", 62: "Range", 63: "Transfer-Encoding",
                 64: "Upgrade", 65: "Vary", 66: "Via", 67: "Warning", 68: "Expect", 69: "Proxy-Connection",
                 70: "Unless-Modified-Since"}
INTERNET_OPTION_CONNECT_TIMEOUT, INTERNET_OPTION_SEND_TIMEOUT, INTERNET_OPTION_RECEIVE_TIMEOUT = 2, 5, 6
INTERNET_OPTION_HANDLE_TYPE, INTERNET_OPTION_URL, INTERNET_OPTION_USER_AGENT = 9, 34, 41
INTERNET_OPTION_CONNECT_RETRIES, INTERNET_OPTION_DATA_SEND_TIMEOUT, INTERNET_OPTION_DATA_RECEIVE_TIMEOUT = 3, 7, 8
DWORD_OPTIONS = {INTERNET_OPTION_CONNECT_TIMEOUT, INTERNET_OPTION_SEND_TIMEOUT, INTERNET_OPTION_RECEIVE_TIMEOUT,
                 INTERNET_OPTION_CONNECT_RETRIES, INTERNET_OPTION_DATA_SEND_TIMEOUT,
                 INTERNET_OPTION_DATA_RECEIVE_TIMEOUT}
HANDLE_TYPES = {"session": 1, "connect": 3, "request": 13}     # INTERNET_HANDLE_TYPE_INTERNET, _CONNECT_HTTP, _HTTP_REQUEST


class Handle:
    def __init__(self, kind: str, parent=None, **kw):
        self.kind = kind
        self.parent = parent
        self.options: dict[int, int] = {}
        self.__dict__.update(kw)
        self.exchange: C.Exchange | None = None
        self.pos = 0
        self.headers: list[tuple[str, str]] = []


def _table(c) -> dict:
    return c.proc.subsystem.setdefault("wininet_handles", {})


def new_handle(c, h: Handle) -> int:
    from winhatch.win32.kernel32.common import heap_alloc
    addr = heap_alloc(c, 16, 0x8)
    _table(c)[addr] = h
    return addr


def get(c, h: int, kind: str | None = None) -> Handle | None:
    obj = _table(c).get(h)
    if obj is None:
        c.set_last_error(ERROR_INVALID_HANDLE)
        return None
    if kind is not None and obj.kind != kind:
        c.set_last_error(ERROR_INTERNET_INCORRECT_HANDLE_TYPE)
        return None
    return obj


def _unsupported(c, what):
    from winhatch.win32.ws2_32.sockets import unsupported
    unsupported(c, what)


@api(WI, "HINTERNET WINAPI InternetOpen%(LPCTSTR lpszAgent, DWORD dwAccessType, LPCTSTR lpszProxy, "
         "LPCTSTR lpszProxyBypass, DWORD dwFlags)")
def InternetOpen(c, agent, access, proxy, bypass, flags):
    if flags & INTERNET_FLAG_ASYNC:
        _unsupported(c, "WinINet asynchronous mode (INTERNET_FLAG_ASYNC)")
    c.set_last_error(0)
    return new_handle(c, Handle("session", agent=agent or "", access=access, flags=flags))


@api(WI, "HINTERNET WINAPI InternetConnect%(HINTERNET hInternet, LPCTSTR lpszServerName, INTERNET_PORT nServerPort, "
         "LPCTSTR lpszUserName, LPCTSTR lpszPassword, DWORD dwService, DWORD dwFlags, DWORD_PTR dwContext)")
def InternetConnect(c, hs, server, port, user, password, service, flags, ctx):
    s = get(c, hs, "session")
    if s is None:
        return 0
    if service != INTERNET_SERVICE_HTTP:
        _unsupported(c, f"InternetConnect service {service} (only HTTP)")
    if not server:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    port &= 0xFFFF
    c.set_last_error(0)
    return new_handle(c, Handle("connect", s, host=server, port=port, user=user, flags=flags))


@api(WI, "HINTERNET WINAPI HttpOpenRequest%(HINTERNET hConnect, LPCTSTR lpszVerb, LPCTSTR lpszObjectName, "
         "LPCTSTR lpszVersion, LPCTSTR lpszReferrer, LPCTSTR *lplpszAcceptTypes, DWORD dwFlags, DWORD_PTR dwContext)")
def HttpOpenRequest(c, hc, verb, obj, version, referrer, accept, flags, ctx):
    conn = get(c, hc, "connect")
    if conn is None:
        return 0
    secure = bool(flags & INTERNET_FLAG_SECURE)
    port = conn.port or (443 if secure else 80)
    r = Handle("request", conn, method=verb or "GET", path=obj or "/", version=version or "HTTP/1.1",
               host=conn.host, port=port, secure=secure)
    if referrer:
        r.headers.append(("Referer", referrer))
    types = []
    if accept:
        for i in range(64):
            p = c.ptr(accept + i * c.ptr_size)
            if not p:
                break
            types.append(c.wstr(p) if c.wide else c.astr(p))
    if types:
        r.headers.append(("Accept", ", ".join(types)))
    c.set_last_error(0)
    return new_handle(c, r)


def _parse_header_block(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if ":" in line:
            k, _, v = line.partition(":")
            out.append((k.strip(), v.strip()))
    return out


def _header_text(c, p, n) -> str:
    if not p:
        return ""
    if n in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF) or n == 0:
        return (c.wstr(p) if c.wide else c.astr(p)) or ""
    unit = 2 if c.wide else 1
    raw = c.read(p, n * unit)
    return raw.decode("utf-16-le", "replace") if c.wide else raw.decode("cp1252", "replace")


@api(WI, "BOOL WINAPI HttpAddRequestHeaders%(HINTERNET hRequest, LPCTSTR_RAW lpszHeaders, DWORD dwHeadersLength, "
         "DWORD dwModifiers)")
def HttpAddRequestHeaders(c, hr, headers, n, modifiers):
    r = get(c, hr, "request")
    if r is None:
        return 0
    HTTP_ADDREQ_FLAG_REPLACE, HTTP_ADDREQ_FLAG_ADD = 0x80000000, 0x20000000
    for k, v in _parse_header_block(_header_text(c, headers, n)):
        if modifiers & HTTP_ADDREQ_FLAG_REPLACE:
            r.headers = [(a, b) for a, b in r.headers if a.lower() != k.lower()]
            if v:
                r.headers.append((k, v))
        else:
            r.headers.append((k, v))
    return 1


def _send(c, r: Handle, extra: list[tuple[str, str]], body: bytes) -> int:
    if r.exchange is None:
        session = r.parent.parent
        headers = list(r.headers) + extra
        if session.agent and not any(k.lower() == "user-agent" for k, _v in headers):
            headers.insert(0, ("User-Agent", session.agent))
        req = C.build_request(r.method, r.host, r.port, r.secure, r.path, headers, body, r.version)
        r.exchange = C.Exchange(r.host, r.port, r.secure, req)
        r.pos = 0
    err = r.exchange.run(c)
    if err:
        c.set_last_error(err)
        return 0
    c.set_last_error(0)
    return 1


@api(WI, "BOOL WINAPI HttpSendRequest%(HINTERNET hRequest, LPCTSTR_RAW lpszHeaders, DWORD dwHeadersLength, "
         "LPVOID lpOptional, DWORD dwOptionalLength)")
def HttpSendRequest(c, hr, headers, n, optional, optlen):
    r = get(c, hr, "request")
    if r is None:
        return 0
    extra = _parse_header_block(_header_text(c, headers, n))
    body = c.read(optional, optlen) if optional and optlen else b""
    return _send(c, r, extra, body)


@api(WI, "HINTERNET WINAPI InternetOpenUrl%(HINTERNET hInternet, LPCTSTR lpszUrl, LPCTSTR_RAW lpszHeaders, "
         "DWORD dwHeadersLength, DWORD dwFlags, DWORD_PTR dwContext)")
def InternetOpenUrl(c, hs, url, headers, n, flags, ctx):
    s = get(c, hs, "session")
    if s is None:
        return 0
    key = ("InternetOpenUrl", c.thread.tid)
    pending = c.proc.subsystem.setdefault("wininet_pending", {})
    h = pending.get(key)
    if h is None:
        parts = C.split_url(url or "")
        if parts is None:
            c.set_last_error(ERROR_INTERNET_UNRECOGNIZED_SCHEME if url and "://" in url else ERROR_INTERNET_INVALID_URL)
            return 0
        scheme, host, port, _user, _pw, path, extra = parts
        if scheme == "ftp":
            _unsupported(c, "InternetOpenUrl of an ftp:// URL")
        conn = Handle("connect", s, host=host, port=port, user=None, flags=0)
        r = Handle("request", conn, method="GET", path=(path or "/") + extra.split("#")[0], version="HTTP/1.1",
                   host=host, port=port, secure=scheme == "https", url=url)
        r.headers += _parse_header_block(_header_text(c, headers, n))
        h = new_handle(c, r)
        pending[key] = h
    r = _table(c)[h]
    ok = _send(c, r, [], b"")     # a blocked exchange: the handler runs again and finds its handle in `pending`
    pending.pop(key, None)
    if not ok:
        err = c.last_error()
        _close(c, h)
        c.set_last_error(err)
        return 0
    return h


def _response(c, r: Handle):
    if r.exchange is None or r.exchange.response is None:
        c.set_last_error(12019)   # ERROR_INTERNET_INCORRECT_HANDLE_STATE
        return None
    return r.exchange.response


@api(WI, "BOOL WINAPI InternetReadFile(HINTERNET hFile, LPVOID lpBuffer, DWORD dwNumberOfBytesToRead, "
         "LPDWORD lpdwNumberOfBytesRead)")
def InternetReadFile(c, hr, buf, n, nread):
    r = get(c, hr, "request")
    if r is None:
        return 0
    resp = _response(c, r)
    if resp is None:
        return 0
    return C.read_body(c, r, resp.body, buf, n, nread)


@api(WI, "BOOL WINAPI InternetQueryDataAvailable(HINTERNET hFile, LPDWORD lpdwNumberOfBytesAvailable, "
         "DWORD dwFlags, DWORD_PTR dwContext)")
def InternetQueryDataAvailable(c, hr, avail, flags, ctx):
    r = get(c, hr, "request")
    if r is None:
        return 0
    resp = _response(c, r)
    if resp is None:
        return 0
    if avail:
        c.write(avail, struct.pack("<I", len(resp.body) - r.pos))
    return 1


def _put_text(c, buf, plen, text: str, wide: bool, number: bool = False) -> int:
    """HttpQueryInfo's answer: the text (or a DWORD), its length in bytes in *lpdwBufferLength."""
    have = struct.unpack("<I", c.read(plen, 4))[0]
    if number:
        try:
            v = int(text.strip())
        except ValueError:
            c.set_last_error(ERROR_HTTP_HEADER_NOT_FOUND)
            return 0
        if have < 4 or not buf:
            c.write(plen, struct.pack("<I", 4))
            c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        c.write(buf, struct.pack("<I", v & 0xFFFFFFFF))
        c.write(plen, struct.pack("<I", 4))
        return 1
    data = text.encode("utf-16-le") if wide else text.encode("cp1252", "replace")
    unit = 2 if wide else 1
    if not buf or have < len(data) + unit:
        c.write(plen, struct.pack("<I", len(data) + unit))
        c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
        return 0
    c.write(buf, data + bytes(unit))
    c.write(plen, struct.pack("<I", len(data)))
    return 1


@api(WI, "BOOL WINAPI HttpQueryInfo%(HINTERNET hRequest, DWORD dwInfoLevel, LPVOID lpBuffer, "
         "LPDWORD lpdwBufferLength, LPDWORD lpdwIndex)")
def HttpQueryInfo(c, hr, level, buf, plen, pindex):
    r = get(c, hr, "request")
    if r is None:
        return 0
    if not plen:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    number = bool(level & HTTP_QUERY_FLAG_NUMBER)
    if level & HTTP_QUERY_FLAG_SYSTEMTIME:
        _unsupported(c, "HttpQueryInfo with HTTP_QUERY_FLAG_SYSTEMTIME")
    index = struct.unpack("<I", c.read(pindex, 4))[0] if pindex else 0
    what = level & 0xFFFF
    if level & HTTP_QUERY_FLAG_REQUEST_HEADERS:
        if r.exchange is None:
            c.set_last_error(ERROR_HTTP_HEADER_NOT_FOUND)
            return 0
        req = r.exchange.request.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        hdrs = _parse_header_block("\n".join(req.split("\r\n")[1:]))
        if what in (21, 22):
            text = req + "\r\n\r\n" if what == 22 else "\0".join(req.split("\r\n")) + "\0"
            return _put_text(c, buf, plen, text, c.wide)
        name = _custom(c, buf) if what == HTTP_QUERY_CUSTOM else QUERY_HEADERS.get(what)
        vals = [v for k, v in hdrs if name and k.lower() == name.lower()]
        if index >= len(vals):
            c.set_last_error(ERROR_HTTP_HEADER_NOT_FOUND)
            return 0
        return _put_text(c, buf, plen, vals[index], c.wide, number)
    resp = _response(c, r)
    if resp is None:
        return 0
    if what == 19:       # HTTP_QUERY_STATUS_CODE
        return _put_text(c, buf, plen, str(resp.status), c.wide, number)
    if what == 20:       # HTTP_QUERY_STATUS_TEXT
        return _put_text(c, buf, plen, resp.reason, c.wide)
    if what == 18:       # HTTP_QUERY_VERSION
        return _put_text(c, buf, plen, resp.version, c.wide)
    if what == 22:       # HTTP_QUERY_RAW_HEADERS_CRLF
        return _put_text(c, buf, plen, resp.raw_headers(), c.wide)
    if what == 21:       # HTTP_QUERY_RAW_HEADERS: NUL-separated, double NUL at the end
        text = "\0".join(resp.raw_headers().split("\r\n")[:-2]) + "\0"
        return _put_text(c, buf, plen, text, c.wide)
    if what == 45:       # HTTP_QUERY_REQUEST_METHOD
        return _put_text(c, buf, plen, r.method, c.wide)
    name = _custom(c, buf) if what == HTTP_QUERY_CUSTOM else QUERY_HEADERS.get(what)
    if name is None:
        _unsupported(c, f"HttpQueryInfo level {what}")
    v = resp.header(name, index)
    if v is None:
        c.set_last_error(ERROR_HTTP_HEADER_NOT_FOUND)
        return 0
    ok = _put_text(c, buf, plen, v, c.wide, number)
    if ok and pindex:
        c.write(pindex, struct.pack("<I", index + 1))
    return ok


def _custom(c, buf) -> str:
    return ((c.wstr(buf) if c.wide else c.astr(buf)) or "").rstrip(":")


@api(WI, "BOOL WINAPI InternetCloseHandle(HINTERNET hInternet)")
def InternetCloseHandle(c, h):
    if h not in _table(c):
        c.set_last_error(ERROR_INVALID_HANDLE)
        return 0
    _close(c, h)
    return 1


def _close(c, h):
    from winhatch.win32.kernel32.common import heap_free
    obj = _table(c).pop(h, None)
    if obj is not None and obj.exchange is not None:
        obj.exchange.close(c)
    heap_free(c, h)


@api(WI, "BOOL WINAPI InternetGetConnectedState(LPDWORD lpdwFlags, DWORD dwReserved)")
def InternetGetConnectedState(c, flags, reserved):
    if flags:
        c.write(flags, struct.pack("<I", 0x2))    # INTERNET_CONNECTION_LAN
    return 1


def _option_handle(c, h):
    if not h:
        return None
    return get(c, h)


@api(WI, "BOOL WINAPI InternetQueryOption%(HINTERNET hInternet, DWORD dwOption, LPVOID lpBuffer, "
         "LPDWORD lpdwBufferLength)")
def InternetQueryOption(c, h, option, buf, plen):
    if not plen:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    obj = _option_handle(c, h)
    if h and obj is None:
        return 0
    have = struct.unpack("<I", c.read(plen, 4))[0]
    if option in DWORD_OPTIONS:
        v = obj.options.get(option, 60000 if option != INTERNET_OPTION_CONNECT_RETRIES else 5) if obj else \
            (60000 if option != INTERNET_OPTION_CONNECT_RETRIES else 5)
        if have < 4 or not buf:
            c.write(plen, struct.pack("<I", 4))
            c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
            return 0
        c.write(buf, struct.pack("<I", v))
        c.write(plen, struct.pack("<I", 4))
        return 1
    if option == INTERNET_OPTION_HANDLE_TYPE and obj is not None:
        c.write(buf, struct.pack("<I", HANDLE_TYPES[obj.kind]))
        c.write(plen, struct.pack("<I", 4))
        return 1
    if option == INTERNET_OPTION_USER_AGENT and obj is not None:
        s = obj
        while s.parent is not None:
            s = s.parent
        return _put_text(c, buf, plen, s.agent, c.wide)
    if option == INTERNET_OPTION_URL and obj is not None and obj.kind == "request":
        scheme = "https" if obj.secure else "http"
        default = 443 if obj.secure else 80
        url = getattr(obj, "url", None) or \
            f"{scheme}://{obj.host}{'' if obj.port == default else ':' + str(obj.port)}{obj.path}"
        return _put_text(c, buf, plen, url, c.wide)
    _unsupported(c, f"InternetQueryOption option {option}")


@api(WI, "BOOL WINAPI InternetSetOption%(HINTERNET hInternet, DWORD dwOption, LPVOID lpBuffer, "
         "DWORD dwBufferLength)")
def InternetSetOption(c, h, option, buf, n):
    obj = _option_handle(c, h)
    if h and obj is None:
        return 0
    if option in DWORD_OPTIONS:
        if n < 4 or not buf:
            c.set_last_error(ERROR_INVALID_PARAMETER)
            return 0
        if obj is not None:
            obj.options[option] = struct.unpack("<I", c.read(buf, 4))[0]
        return 1
    if option == INTERNET_OPTION_USER_AGENT and obj is not None and obj.kind == "session":
        obj.agent = (c.wstr(buf) if c.wide else c.astr(buf)) or ""
        return 1
    _unsupported(c, f"InternetSetOption option {option}")


# -- InternetCrackUrl ------------------------------------------------------------------------------------------
SCHEMES = {"ftp": 1, "gopher": 2, "http": 3, "https": 4, "file": 5}


@api(WI, "BOOL WINAPI InternetCrackUrl%(LPCTSTR_RAW lpszUrl, DWORD dwUrlLength, DWORD dwFlags, "
         "LPURL_COMPONENTS lpUrlComponents)")
def InternetCrackUrl(c, url_p, n, flags, comp):
    return crack_url(c, url_p, n, flags, comp)


def crack_url(c, url_p, n, flags, comp):
    """InternetCrackUrl / WinHttpCrackUrl (the same URL_COMPONENTS layout; c.wide: the W form)."""
    if not url_p or not comp:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    unit = 2 if c.wide else 1
    url = _header_text(c, url_p, n)
    if flags & 0x10000000 or flags & 0x20000000:     # ICU_DECODE / ICU_ESCAPE
        _unsupported(c, "InternetCrackUrl with ICU_DECODE or ICU_ESCAPE")
    parts = C.split_url(url)
    if parts is None:
        c.set_last_error(ERROR_INTERNET_UNRECOGNIZED_SCHEME if "://" in url else ERROR_INTERNET_INVALID_URL)
        return 0
    scheme, host, port, user, password, path, extra = parts
    ps = c.ptr_size
    size = 104 if ps == 8 else 60
    (struct_size,) = struct.unpack("<I", c.read(comp, 4))
    if struct_size != size:
        c.set_last_error(ERROR_INVALID_PARAMETER)
        return 0
    # (pointer offset, length offset) of scheme, host, user, password, path, extra
    if ps == 8:
        fields = [(8, 16), (24, 32), (40, 48), (56, 64), (72, 80), (88, 96)]
        o_nscheme, o_port = 20, 36
    else:
        fields = [(4, 8), (16, 20), (28, 32), (36, 40), (44, 48), (52, 56)]
        o_nscheme, o_port = 12, 24
    values = [scheme, host, user, password, path, extra]
    # where each component starts in the URL (for the pointers into it)
    starts = [0, url.find(host, len(scheme) + 3), url.find(user, len(scheme) + 3) if user else -1,
              url.find(password, len(scheme) + 3) if password else -1, len(url) - len(path) - len(extra),
              len(url) - len(extra)]
    for (po, lo), value, start in zip(fields, values, starts):
        p = c.ptr(comp + po)
        (length,) = struct.unpack("<I", c.read(comp + lo, 4))
        if p and length:
            data = value.encode("utf-16-le") if c.wide else value.encode("cp1252", "replace")
            if length < len(value) + 1:
                c.write(comp + lo, struct.pack("<I", len(value) + 1))
                c.set_last_error(ERROR_INSUFFICIENT_BUFFER)
                return 0
            c.write(p, data + bytes(unit))
            c.write(comp + lo, struct.pack("<I", len(value)))
        elif length:
            c.write_ptr(comp + po, (url_p + unit * start) if value and start >= 0 else 0)
            c.write(comp + lo, struct.pack("<I", len(value)))
    c.write(comp + o_nscheme, struct.pack("<i", SCHEMES.get(scheme, -1)))
    c.write(comp + o_port, struct.pack("<H", port))
    return 1
