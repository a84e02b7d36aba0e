"""version.dll: file version information (GetFileVersionInfo, VerQueryValue)."""
