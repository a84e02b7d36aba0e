"""A private temporary folder (the sandbox of a run), made and removed without `tempfile` and `shutil`.

Those two modules cost ~3-4 ms of every start (shutil imports bz2 and lzma to learn which archive formats
it could write), for the one folder a run makes and the rmtree at its end.  This module does the same with
`os`: a fresh 0700 folder with a random name in the temporary directory ($TMPDIR, $TEMP, $TMP, else /tmp),
and a removal that never follows a symbolic link out of it."""
from __future__ import annotations

import os
import weakref

_RETRIES = 100
_MAX_DEPTH = 512        # a deeper tree than the sandbox can hold (MAX_NT_PATH) is left to the host


def temp_root() -> str:
    for var in ("TMPDIR", "TEMP", "TMP"):
        d = os.environ.get(var)
        if d and os.path.isdir(d):
            return d
    return "/tmp"


def mkdtemp(prefix: str = "tmp") -> str:
    """Make a new folder only this user can enter; its absolute path."""
    root = os.path.abspath(temp_root())
    for _ in range(_RETRIES):
        name = prefix + os.urandom(6).hex()
        path = os.path.join(root, name)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary folder name in {root} after {_RETRIES} tries")


def rmtree(path: str) -> None:
    """Remove a folder and everything in it, ignoring what cannot be removed.  Symbolic links are removed,
    never followed; the walk is bounded in depth."""
    def rm(d: str, depth: int) -> None:
        try:
            it = os.scandir(d)
        except OSError:
            return
        with it:
            entries = list(it)
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if depth < _MAX_DEPTH:
                        rm(e.path, depth + 1)
                    os.rmdir(e.path)
                else:
                    os.unlink(e.path)
            except OSError:
                pass

    if os.path.islink(path):
        return
    rm(path, 0)
    try:
        os.rmdir(path)
    except OSError:
        pass


class TemporaryDirectory:
    """tempfile.TemporaryDirectory's part winhatch uses: `.name`, `.cleanup()`, and removal when the object is
    collected or the interpreter exits."""

    def __init__(self, prefix: str = "tmp") -> None:
        self.name = mkdtemp(prefix)
        self._finalizer = weakref.finalize(self, rmtree, self.name)

    def cleanup(self) -> None:
        if self._finalizer.detach() is not None:
            rmtree(self.name)
