"""The C runtime (msvcrt.dll / ucrtbase.dll) emulated in Python.

format -- printf-family formatting engine (format_printf)
scan   -- scanf-family parsing engine (format_scanf)
"""
