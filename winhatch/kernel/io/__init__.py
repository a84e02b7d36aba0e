"""The I/O manager's view for winhatch: the virtual file system (Windows paths over a sandbox directory)
and the console (the std handles' bytes to and from the host)."""
from .vfs import *  # noqa: F401,F403
from .vfs import FileInfo, Vfs, VfsFile, map_generic, unix_ns_to_filetime  # noqa: F401
from .paths import full_path, to_nt_path, parse_nt, find_match, name_in_expression, dos_pattern  # noqa: F401

from .console import Console, ConsoleInput, ConsoleOutput, host_kind  # noqa: F401
