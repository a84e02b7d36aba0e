"""WinHTTP's synchronous client: WinHttpOpen, WinHttpConnect, WinHttpOpenRequest, WinHttpAddRequestHeaders,
WinHttpSendRequest (the whole body in lpOptional), WinHttpReceiveResponse (the exchange, over the sockets
driver: winhatch.win32.wininet.client), WinHttpQueryHeaders, WinHttpQueryDataAvailable, WinHttpReadData,
WinHttpSetTimeouts, WinHttpCrackUrl, WinHttpCheckPlatform, WinHttpCloseHandle. Asynchronous sessions
(WINHTTP_FLAG_ASYNC), callbacks and WinHttpWriteData stop loudly."""
from __future__ import annotations

import struct

from winhatch.win32.api import api
from winhatch.win32.wininet import api as WI
from winhatch.win32.wininet import client as C

WH = "winhttp.dll"
ERROR_WINHTTP_HEADER_NOT_FOUND = 12150
ERROR_WINHTTP_INCORRECT_HANDLE_STATE = 12019
WINHTTP_FLAG_ASYNC = 0x10000000
WINHTTP_FLAG_SECURE = 0x00800000
ERROR_WINHTTP_NAME_NOT_RESOLVED, ERROR_WINHTTP_CANNOT_CONNECT = 12007, 12029


def _table(c) -> dict:
    return c.proc.subsystem.setdefault("winhttp_handles", {})


def _new(c, h: WI.Handle) -> int:
    from winhatch.win32.kernel32.common import heap_alloc
    addr = heap_alloc(c, 16, 0x8)
    _table(c)[addr] = h
    return addr


def _get(c, h, kind=None):
    obj = _table(c).get(h)
    if obj is None or (kind is not None and obj.kind != kind):
        c.set_last_error(6 if obj is None else 12018)   # ERROR_INVALID_HANDLE, _INCORRECT_HANDLE_TYPE
        return None
    return obj


@api(WH, "HINTERNET WINAPI WinHttpOpen(LPCWSTR pszAgentW, DWORD dwAccessType, LPCWSTR pszProxyW, "
         "LPCWSTR pszProxyBypassW, DWORD dwFlags)")
def WinHttpOpen(c, agent, access, proxy, bypass, flags):
    if flags & WINHTTP_FLAG_ASYNC:
        WI._unsupported(c, "WinHTTP asynchronous sessions (WINHTTP_FLAG_ASYNC)")
    c.set_last_error(0)
    return _new(c, WI.Handle("session", agent=agent or "", access=access, flags=flags))


@api(WH, "HINTERNET WINAPI WinHttpConnect(HINTERNET hSession, LPCWSTR pswzServerName, INTERNET_PORT nServerPort, "
         "DWORD dwReserved)")
def WinHttpConnect(c, hs, server, port, reserved):
    s = _get(c, hs, "session")
    if s is None:
        return 0
    if not server:
        c.set_last_error(87)
        return 0
    return _new(c, WI.Handle("connect", s, host=server, port=port & 0xFFFF, user=None, flags=0))


@api(WH, "HINTERNET WINAPI WinHttpOpenRequest(HINTERNET hConnect, LPCWSTR pwszVerb, LPCWSTR pwszObjectName, "
         "LPCWSTR pwszVersion, LPCWSTR pwszReferrer, LPCWSTR *ppwszAcceptTypes, DWORD dwFlags)")
def WinHttpOpenRequest(c, hc, verb, obj, version, referrer, accept, flags):
    conn = _get(c, hc, "connect")
    if conn is None:
        return 0
    secure = bool(flags & WINHTTP_FLAG_SECURE)
    port = conn.port or (443 if secure else 80)
    r = WI.Handle("request", conn, method=verb or "GET", path=obj or "/", version=version or "HTTP/1.1",
                  host=conn.host, port=port, secure=secure)
    if referrer:
        r.headers.append(("Referer", referrer))
    types = []
    if accept:
        for i in range(64):
            p = c.ptr(accept + i * c.ptr_size)
            if not p:
                break
            types.append(c.wstr(p))
    if types:
        r.headers.append(("Accept", ", ".join(types)))
    r.body = b""
    return _new(c, r)


def _wheaders(c, p, n) -> list[tuple[str, str]]:
    if not p:
        return []
    if n in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF) or n == 0:
        text = c.wstr(p) or ""
    else:
        text = c.read(p, 2 * n).decode("utf-16-le", "replace")
    return WI._parse_header_block(text)


@api(WH, "BOOL WINAPI WinHttpAddRequestHeaders(HINTERNET hRequest, LPCWSTR_RAW lpszHeaders, DWORD dwHeadersLength, "
         "DWORD dwModifiers)")
def WinHttpAddRequestHeaders(c, hr, headers, n, modifiers):
    r = _get(c, hr, "request")
    if r is None:
        return 0
    for k, v in _wheaders(c, headers, n):
        if modifiers & 0x80000000:      # WINHTTP_ADDREQ_FLAG_REPLACE
            r.headers = [(a, b) for a, b in r.headers if a.lower() != k.lower()]
            if v:
                r.headers.append((k, v))
        else:
            r.headers.append((k, v))
    return 1


@api(WH, "BOOL WINAPI WinHttpSendRequest(HINTERNET hRequest, LPCWSTR_RAW lpszHeaders, DWORD dwHeadersLength, "
         "LPVOID lpOptional, DWORD dwOptionalLength, DWORD dwTotalLength, DWORD_PTR dwContext)")
def WinHttpSendRequest(c, hr, headers, n, optional, optlen, total, ctx):
    r = _get(c, hr, "request")
    if r is None:
        return 0
    if total > optlen:
        WI._unsupported(c, "WinHttpSendRequest with more data to come (WinHttpWriteData)")
    r.headers += _wheaders(c, headers, n)
    r.body = c.read(optional, optlen) if optional and optlen else b""
    r.exchange = None
    return 1


@api(WH, "BOOL WINAPI WinHttpReceiveResponse(HINTERNET hRequest, LPVOID lpReserved)")
def WinHttpReceiveResponse(c, hr, reserved):
    r = _get(c, hr, "request")
    if r is None:
        return 0
    if r.exchange is None:
        session = r.parent.parent
        hdrs = list(r.headers)
        if session.agent and not any(k.lower() == "user-agent" for k, _v in hdrs):
            hdrs.insert(0, ("User-Agent", session.agent))
        req = C.build_request(r.method, r.host, r.port, r.secure, r.path, hdrs, r.body, r.version)
        r.exchange = C.Exchange(r.host, r.port, r.secure, req)
        r.pos = 0
    err = r.exchange.run(c)
    if err:
        c.set_last_error(err)
        return 0
    return 1


@api(WH, "BOOL WINAPI WinHttpQueryHeaders(HINTERNET hRequest, DWORD dwInfoLevel, LPCWSTR pwszName, "
         "LPVOID lpBuffer, LPDWORD lpdwBufferLength, LPDWORD lpdwIndex)")
def WinHttpQueryHeaders(c, hr, level, name, buf, plen, pindex):
    r = _get(c, hr, "request")
    if r is None:
        return 0
    if not plen:
        c.set_last_error(87)
        return 0
    if r.exchange is None or r.exchange.response is None:
        c.set_last_error(ERROR_WINHTTP_INCORRECT_HANDLE_STATE)
        return 0
    if level & (WI.HTTP_QUERY_FLAG_REQUEST_HEADERS | WI.HTTP_QUERY_FLAG_SYSTEMTIME):
        WI._unsupported(c, "WinHttpQueryHeaders of request headers or as a SYSTEMTIME")
    resp = r.exchange.response
    number = bool(level & WI.HTTP_QUERY_FLAG_NUMBER)
    what = level & 0xFFFF
    index = struct.unpack("<I", c.read(pindex, 4))[0] if pindex else 0
    if what == 19:
        return WI._put_text(c, buf, plen, str(resp.status), True, number)
    if what == 20:
        return WI._put_text(c, buf, plen, resp.reason, True)
    if what == 18:
        return WI._put_text(c, buf, plen, resp.version, True)
    if what == 22:
        return WI._put_text(c, buf, plen, resp.raw_headers(), True)
    if what == 21:
        return WI._put_text(c, buf, plen, "\0".join(resp.raw_headers().split("\r\n")[:-2]) + "\0", True)
    hname = (name or "") if what == WI.HTTP_QUERY_CUSTOM else WI.QUERY_HEADERS.get(what)
    if hname is None:
        WI._unsupported(c, f"WinHttpQueryHeaders level {what}")
    v = resp.header(hname, index)
    if v is None:
        c.set_last_error(ERROR_WINHTTP_HEADER_NOT_FOUND)
        return 0
    ok = WI._put_text(c, buf, plen, v, True, number)
    if ok and pindex:
        c.write(pindex, struct.pack("<I", index + 1))
    return ok


@api(WH, "BOOL WINAPI WinHttpQueryDataAvailable(HINTERNET hRequest, LPDWORD lpdwNumberOfBytesAvailable)")
def WinHttpQueryDataAvailable(c, hr, avail):
    r = _get(c, hr, "request")
    if r is None:
        return 0
    if r.exchange is None or r.exchange.response is None:
        c.set_last_error(ERROR_WINHTTP_INCORRECT_HANDLE_STATE)
        return 0
    if avail:
        c.write(avail, struct.pack("<I", len(r.exchange.response.body) - r.pos))
    return 1


@api(WH, "BOOL WINAPI WinHttpReadData(HINTERNET hRequest, LPVOID lpBuffer, DWORD dwNumberOfBytesToRead, "
         "LPDWORD lpdwNumberOfBytesRead)")
def WinHttpReadData(c, hr, buf, n, nread):
    r = _get(c, hr, "request")
    if r is None:
        return 0
    if r.exchange is None or r.exchange.response is None:
        c.set_last_error(ERROR_WINHTTP_INCORRECT_HANDLE_STATE)
        return 0
    return C.read_body(c, r, r.exchange.response.body, buf, n, nread)


@api(WH, "BOOL WINAPI WinHttpSetTimeouts(HINTERNET hInternet, int nResolveTimeout, int nConnectTimeout, "
         "int nSendTimeout, int nReceiveTimeout)")
def WinHttpSetTimeouts(c, h, resolve, connect, send, receive):
    obj = _get(c, h)
    if obj is None:
        return 0
    if any(v < -1 for v in (resolve, connect, send, receive)):
        c.set_last_error(87)
        return 0
    obj.options.update({"resolve": resolve, "connect": connect, "send": send, "receive": receive})
    return 1


@api(WH, "BOOL WINAPI WinHttpCheckPlatform(void)")
def WinHttpCheckPlatform(c):
    return 1


@api(WH, "BOOL WINAPI WinHttpCloseHandle(HINTERNET hInternet)")
def WinHttpCloseHandle(c, h):
    from winhatch.win32.kernel32.common import heap_free
    obj = _table(c).pop(h, None)
    if obj is None:
        c.set_last_error(6)
        return 0
    if obj.exchange is not None:
        obj.exchange.close(c)
    heap_free(c, h)
    return 1


@api(WH, "BOOL WINAPI WinHttpCrackUrl(LPCWSTR_RAW pwszUrl, DWORD dwUrlLength, DWORD dwFlags, "
         "LPURL_COMPONENTS lpUrlComponents)")
def WinHttpCrackUrl(c, url, n, flags, comp):
    c.wide = True              # WinHTTP's URL_COMPONENTS is URL_COMPONENTSW
    return WI.crack_url(c, url, n, flags, comp)
