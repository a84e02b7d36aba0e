"""urlmon.dll: URLDownloadToFile over the same HTTP exchange as WinINet (download)."""
