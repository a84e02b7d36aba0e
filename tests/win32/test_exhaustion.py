"""Resource exhaustion the mutation fuzzer found (issue 14): a guest asking for more than the machine has gets
the error Windows gives, and winhatch keeps working."""
import struct

import pytest

from winhatch import runner

STATUS_NO_MEMORY = 0xC0000017
ERROR_NOT_ENOUGH_MEMORY = 8
ERROR_COMMITMENT_LIMIT = 1455


def set_stack_reserve(src, dst, size):
    """Copy the program with OptionalHeader.SizeOfStackReserve (offset 72 in PE32 and PE32+) set to size."""
    img = bytearray(src.read_bytes())
    opt = struct.unpack_from("<I", img, 0x3C)[0] + 24
    is64 = struct.unpack_from("<H", img, opt)[0] == 0x20B
    struct.pack_into("<Q" if is64 else "<I", img, opt + 72, size)
    dst.write_bytes(img)
    return dst


def test_thread_with_64gib_stack_reservation(build_fixture):
    """CreateThread(dwStackSize = 64 GiB, STACK_SIZE_PARAM_IS_A_RESERVATION) in x64: Windows only reserves the
    address space; the thread runs, its stack grows through the guard page and the allocation is 64 GiB."""
    res = runner.run(build_fixture("rob_memory.c", "x64"), ["thread", str(64 << 10)], timeout=60)
    assert res.exit_status == 0, res.error
    assert res.stdout.decode().splitlines() == ["thread stack 65536 MiB", "thread exit 8"]


def test_thread_stack_commit_beyond_the_host(build_fixture):
    """CreateThread(dwStackSize = 1 TiB) without the flag asks for a 1 TiB *commit*: it fails with
    ERROR_COMMITMENT_LIMIT, as on Windows (the reservation alone would be fine)."""
    res = runner.run(build_fixture("rob_memory.c", "x64"), ["commitstack", str(1 << 20)], timeout=60)
    assert res.exit_status == 0, res.error
    assert res.stdout.decode().splitlines() == [f"CreateThread failed {ERROR_COMMITMENT_LIMIT}"]


def test_x86_thread_reservation_past_the_address_space(build_fixture):
    """3 GiB does not fit a 32-bit address space: CreateThread fails with ERROR_NOT_ENOUGH_MEMORY."""
    res = runner.run(build_fixture("rob_memory.c", "x86"), ["thread", str(3 << 10)], timeout=60)
    assert res.exit_status == 0, res.error
    assert res.stdout.decode().splitlines() == [f"CreateThread failed {ERROR_NOT_ENOUGH_MEMORY}"]


def test_image_with_64gib_stack_reserve(build_fixture, tmp_path):
    """SizeOfStackReserve = 64 GiB in an x64 image: the main thread's stack is a 64 GiB reservation."""
    exe = set_stack_reserve(build_fixture("rob_memory.c", "x64"), tmp_path / "big.exe", 64 << 30)
    res = runner.run(exe, ["main"], timeout=60)
    assert res.exit_status == 0, res.error
    assert res.stdout.decode().splitlines() == ["main stack 65536 MiB"]


def test_x86_image_stack_reserve_past_the_address_space(build_fixture, tmp_path):
    """SizeOfStackReserve = 3 GiB in an x86 image: the first thread cannot be created; the process creation
    fails with STATUS_NO_MEMORY."""
    exe = set_stack_reserve(build_fixture("rob_memory.c", "x86"), tmp_path / "big.exe", 3 << 30)
    res = runner.run(exe, ["main"], timeout=60)
    assert res.stdout == b""
    assert "STATUS_NO_MEMORY" in (res.error or ""), res.error


def test_commit_beyond_the_host_is_the_commitment_limit(build_fixture, arch):
    """VirtualAlloc(MEM_COMMIT) of more than the machine can back: ERROR_COMMITMENT_LIMIT on x64 (was 487);
    x86 runs out of address space first: ERROR_NOT_ENOUGH_MEMORY."""
    with open("/proc/sys/vm/overcommit_memory") as f:
        if f.read().strip() == "1":
            pytest.skip("the host overcommits without limit")
    mib = 1 << 20 if arch == "x64" else 3 << 10      # 1 TiB / 3 GiB
    res = runner.run(build_fixture("rob_memory.c", arch), ["commit", str(mib)], timeout=60)
    want = ERROR_COMMITMENT_LIMIT if arch == "x64" else ERROR_NOT_ENOUGH_MEMORY
    assert res.stdout.decode().splitlines() == [f"commit failed {want}"]


def test_uncapped_commit_beyond_the_host_is_the_commitment_limit(build_fixture, arch):
    """The same with winhatch's own cap off (--max-memory 0): the host's memory is then the limit, and a commit
    past it is still ERROR_COMMITMENT_LIMIT (the bug: error 487, ERROR_INVALID_ADDRESS, from the host's failed
    mapping) — with the default 2 GiB cap the test above is answered by the cap before the host is asked."""
    with open("/proc/sys/vm/overcommit_memory") as f:
        if f.read().strip() == "1":
            pytest.skip("the host overcommits without limit")
    mib = 1 << 20 if arch == "x64" else 3 << 10      # 1 TiB / 3 GiB
    res = runner.run(build_fixture("rob_memory.c", arch), ["commit", str(mib)], timeout=60, max_memory=0)
    want = ERROR_COMMITMENT_LIMIT if arch == "x64" else ERROR_NOT_ENOUGH_MEMORY
    assert res.stdout.decode().splitlines() == [f"commit failed {want}"]
    # a commit that fits the host succeeds uncapped (the refusal above is the size, not the program)
    res = runner.run(build_fixture("rob_memory.c", arch), ["commit", "64"], timeout=60, max_memory=0)
    assert res.stdout.decode().splitlines() == ["commit ok"], res.error


def _run_with_fd_limit(exe, args, tmp_path, limit=256):
    """`winhatch run` in a process allowed `limit` host descriptors, its sandbox in tmp_path/tmp."""
    import os
    import resource
    import subprocess
    import sys
    tmp = tmp_path / "tmp"
    tmp.mkdir()

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    p = subprocess.run([sys.executable, "-m", "winhatch.cli", "run", str(exe), *args], capture_output=True,
                       timeout=600, preexec_fn=lower, env={**os.environ, "TMPDIR": str(tmp)}, cwd=tmp_path)
    return p, tmp


@pytest.mark.parametrize("mode, n", [("same", 3000), ("distinct", 1000)])
def test_more_guest_file_handles_than_host_descriptors(build_fixture, tmp_path, arch, mode, n):
    """A guest holding thousands of file handles in a winhatch allowed 256 host descriptors: every open
    succeeds (Windows gives a process millions of handles), the handles work, a DLL still loads, and the
    sandbox is cleaned up without a traceback (it failed with EMFILE: exit 70, the temporary folder left)."""
    import shutil
    exe = tmp_path / "handles.exe"
    shutil.copy(build_fixture("rob_handles.c", arch), exe)
    p, tmp = _run_with_fd_limit(exe, [mode, str(n)], tmp_path)
    out = p.stdout.decode().splitlines()
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    assert out[0] == f"opened {n} error 0"
    assert out[-2:] == ["LoadLibrary ok 0", "closed"]
    if mode == "same":
        assert out[1] == "last read 4 data"
    assert b"Traceback" not in p.stderr and list(tmp.iterdir()) == []
