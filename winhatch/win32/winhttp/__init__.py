"""winhttp.dll: the WinHTTP client over the same HTTP exchange as WinINet (api)."""
