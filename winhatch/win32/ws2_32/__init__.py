"""ws2_32.dll: Windows Sockets (sockets) and the byte-order helpers (byteorder)."""
