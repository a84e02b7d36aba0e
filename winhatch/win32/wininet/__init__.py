"""wininet.dll: WinINet's HTTP client over Winsock's sockets driver (client: the exchange; api: the handles and calls)."""
