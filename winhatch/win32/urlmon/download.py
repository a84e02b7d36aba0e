"""urlmon: URLDownloadToFileA/W and URLDownloadToCacheFileA/W — a GET over the sockets driver (winhatch.win32.wininet.client), the body
written to the file through NtCreateFile/NtWriteFile (kernel32's CreateFile path). http:// and https:// (the
latter terminated inside the emulator on the fake internet). A status callback (IBindStatusCallback) stops
loudly. Results: S_OK; INET_E_RESOURCE_NOT_FOUND (0x800C0005) when the name does not resolve,
INET_E_CANNOT_CONNECT (0x800C0004) when the connection fails, INET_E_DOWNLOAD_FAILURE (0x800C0008) for an
HTTP error status or a broken transfer, INET_E_UNKNOWN_PROTOCOL (0x800C000D) for another scheme, E_INVALIDARG
for a NULL URL or file name, and the Win32 error as an HRESULT when the file cannot be created."""
from __future__ import annotations


from winhatch.win32.api import api
from winhatch.win32.wininet import client as C

URLMON = "urlmon.dll"
S_OK = 0
E_INVALIDARG = 0x80070057
INET_E_CANNOT_CONNECT = 0x800C0004
INET_E_RESOURCE_NOT_FOUND = 0x800C0005
INET_E_DOWNLOAD_FAILURE = 0x800C0008
INET_E_UNKNOWN_PROTOCOL = 0x800C000D
WRITE_CHUNK = 0x10000


def fetch(c, url: str, key: str, method: str = "GET") -> tuple[int, C.Response | None]:
    """A GET of `url` (resumable across a blocked receive: the exchange is kept per thread under `key`)."""
    pending = c.proc.subsystem.setdefault("urlmon_pending", {})
    k = (key, c.thread.tid)
    ex = pending.get(k)
    if ex is None:
        parts = C.split_url(url)
        if parts is None or parts[0] == "ftp":
            return INET_E_UNKNOWN_PROTOCOL, None
        scheme, host, port, _u, _p, path, extra = parts
        req = C.build_request(method, host, port, scheme == "https", (path or "/") + extra.split("#")[0],
                              [("Accept", "*/*"), ("User-Agent", "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; "
                                                                 "Win64; x64; Trident/7.0)")], b"")
        ex = pending[k] = C.Exchange(host, port, scheme == "https", req)
    err = ex.run(c)
    pending.pop(k, None)
    if err == C.ERROR_INTERNET_NAME_NOT_RESOLVED:
        return INET_E_RESOURCE_NOT_FOUND, None
    if err == C.ERROR_INTERNET_CANNOT_CONNECT:
        return INET_E_CANNOT_CONNECT, None
    if err or ex.response is None:
        return INET_E_DOWNLOAD_FAILURE, None
    return S_OK, ex.response


def write_file(c, name: str, data: bytes) -> int:
    from winhatch.win32.kernel32.ntfile import create_file
    h = create_file(c, name, 0x40000000, 0, 0, 2, 0x80)       # GENERIC_WRITE, CREATE_ALWAYS, NORMAL
    if h == (1 << (8 * c.ptr_size)) - 1:
        return 0x80070000 | (c.last_error() & 0xFFFF)
    try:
        iosb = c.stack_alloc(2 * c.ptr_size, 8)
        buf = c.stack_alloc(min(len(data), WRITE_CHUNK) or 1, 16)
        for i in range(0, len(data), WRITE_CHUNK):
            part = data[i:i + WRITE_CHUNK]
            c.write(buf, part)
            st = c.nt("NtWriteFile", h, 0, 0, 0, iosb, buf, len(part), 0, 0)
            if st >= 0xC0000000:
                from winhatch.ntstatus import nt_to_win32
                return 0x80070000 | (nt_to_win32(st) & 0xFFFF)
    finally:
        c.nt("NtClose", h)
    return S_OK


@api(URLMON, "HRESULT WINAPI URLDownloadToFile%(LPUNKNOWN pCaller, LPCTSTR szURL, LPCTSTR szFileName, "
             "DWORD dwReserved, LPBINDSTATUSCALLBACK lpfnCB)")
def URLDownloadToFile(c, caller, url, filename, reserved, callback):
    if callback:
        from winhatch.win32.ws2_32.sockets import unsupported
        unsupported(c, "URLDownloadToFile with a status callback (IBindStatusCallback)")
    if not url or not filename:
        return E_INVALIDARG
    hr, resp = fetch(c, url, "URLDownloadToFile")
    if hr:
        return hr
    if resp.status >= 400:
        return INET_E_DOWNLOAD_FAILURE
    return write_file(c, filename, resp.body)


E_OUTOFMEMORY = 0x8007000E


def cache_path(c, url: str) -> str:
    """Where the Internet cache keeps a download, as Windows 10 lays it out: a file of the URL's last path segment
    (index.htm for none) named NAME[1].EXT in one of INetCache\\IE's eight-character folders (chosen here from the
    URL, so a run is reproducible)."""
    import hashlib
    env = c.proc.subsystem.get("environment") or {}
    local = next((v for k, v in env.items() if k.upper() == "LOCALAPPDATA"), "C:\\Users\\user\\AppData\\Local")
    folder = hashlib.sha1(url.encode("utf-8", "replace")).hexdigest().upper()
    folder = "".join(ch if ch.isalpha() else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[int(ch)] for ch in folder)[:8]
    parts = C.split_url(url)
    seg = (parts[5] if parts else "").rstrip("/").rsplit("/", 1)[-1] or "index.htm"
    stem, dot, ext = seg.partition(".")
    name = f"{stem}[1]{dot}{ext}"
    return f"{local}\\Microsoft\\Windows\\INetCache\\IE\\{folder}\\{name}"


@api(URLMON, "HRESULT WINAPI URLDownloadToCacheFile%(LPUNKNOWN lpUnkcaller, LPCTSTR szURL, LPTSTR szFileName, "
             "DWORD cchFileName, DWORD dwReserved, LPBINDSTATUSCALLBACK pBSC)")
def URLDownloadToCacheFile(c, caller, url, out, cch, reserved, callback):
    """Downloads into the Internet cache and returns the cached file's path in szFileName (cchFileName
    characters, the NUL included: E_OUTOFMEMORY when it does not fit)."""
    if callback:
        from winhatch.win32.ws2_32.sockets import unsupported
        unsupported(c, "URLDownloadToCacheFile with a status callback (IBindStatusCallback)")
    if not url or not out:
        return E_INVALIDARG
    hr, resp = fetch(c, url, "URLDownloadToCacheFile")
    if hr:
        return hr
    if resp.status >= 400:
        return INET_E_DOWNLOAD_FAILURE
    path = cache_path(c, url)
    if len(path) + 1 > cch:
        return E_OUTOFMEMORY
    from winhatch.win32.kernel32.ntfile import nt_close, nt_name, nt_open
    from winhatch.kernel.io import vfs as V
    parts = path.split("\\")
    for i in range(3, len(parts)):          # the folders down to the file's, as the cache creates them
        nt = nt_name(c, "\\".join(parts[:i]))
        if nt is None:
            return INET_E_DOWNLOAD_FAILURE
        st, h, _ = nt_open(c, nt, V.FILE_LIST_DIRECTORY | V.SYNCHRONIZE, V.FILE_SHARE_READ | V.FILE_SHARE_WRITE,
                           V.FILE_DIRECTORY_FILE | V.FILE_SYNCHRONOUS_IO_NONALERT, disposition=V.FILE_OPEN_IF,
                           attributes=V.FILE_ATTRIBUTE_NORMAL)
        if st >= 0xC0000000:
            from winhatch.ntstatus import nt_to_win32
            return 0x80070000 | (nt_to_win32(st) & 0xFFFF)
        nt_close(c, h)
    hr = write_file(c, path, resp.body)
    if hr:
        return hr
    c.write(out, c.encode_t(path) + (b"\0\0" if c.wide else b"\0"))
    return S_OK
