"""The C runtime: msvcrt.dll, ucrtbase.dll (and the api-ms-win-crt-* sets), and the older msvcr70-msvcr120,
   which on Windows share one source. Engines (format: printf, scan: scanf, streams: FILE and descriptors,
   numparse, locale, cmdline, startup, runtime: per-process CRT state) and the exports by area (stdio, stdlib,
   string, math, time, process, lowio, stat, threads; exports: msvcrt data exports; ucrtbase: its own)."""
