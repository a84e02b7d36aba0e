"""Host programs `winhatch run` starts in place of a program: rundll32 for a DLL and the shellcode loader.

Tiny x86/x64 programs without a C runtime, built from src/*.c by tools/build_hosts.py; the binaries are
committed with the sha256 of their sources (SOURCES.sha256), and tests rebuild them and compare.
"""
