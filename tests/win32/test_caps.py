"""Default caps on guest memory (the machine's commit limit) and handles (per process): reaching one fails
the guest's call with Windows' error, as Windows does at its own limits."""
from click.testing import CliRunner

from winhatch import cli, runner
from winhatch.kernel.machine import DEFAULT_MAX_MEMORY, Machine
from winhatch.kernel.ob.handles import DEFAULT_MAX_HANDLES, MAX_HANDLES


def test_handle_cap_fails_create_event_with_error_no_system_resources(build_fixture, arch):
    r = runner.run(build_fixture("caps.c", arch), ["handles"], max_handles=1000)
    # 1000 handles in all: the console connection (RTL_USER_PROCESS_PARAMETERS.ConsoleHandle, ConDrv's, as on
    # Windows), the three standard handles, the current directory's (RtlSetCurrentDirectory_U's, as on Windows)
    # and 995 events; ERROR_NO_SYSTEM_RESOURCES
    assert r.stdout == b"handles 995 error 1450\r\n", r.error
    assert r.exit_status == 0


def test_commit_cap_fails_virtual_alloc_with_error_commitment_limit(build_fixture, arch):
    r = runner.run(build_fixture("caps.c", arch), ["commit"], max_memory=256 << 20)
    words = r.stdout.split()
    assert words[0] == b"commit" and words[3:] == [b"error", b"1455"], r.stdout   # ERROR_COMMITMENT_LIMIT
    got = int(words[1])
    assert 200 <= got < 256      # 16 MiB blocks up to the cap, less what the start-up committed
    assert r.exit_status == 0


def test_cli_options_and_defaults(build_fixture):
    exe = str(build_fixture("caps.c", "x64"))
    r = CliRunner().invoke(cli.main, ["run", "--max-memory", "128M", exe, "commit"])
    assert r.exit_code == 0 and b"error 1455" in r.stdout_bytes and int(r.stdout_bytes.split()[1]) < 128
    r = CliRunner().invoke(cli.main, ["run", "--max-memory", "lots", exe])
    assert r.exit_code == 2 and "is not a size" in r.output
    h = CliRunner().invoke(cli.main, ["run", "--help"]).output
    assert "--max-memory" in h and "--max-handles" in h and "0: no cap" in h
    assert DEFAULT_MAX_MEMORY == 2 << 30 and DEFAULT_MAX_HANDLES == 1 << 18


def test_zero_means_no_cap():
    m = Machine(limits={"max_memory": 0, "max_handles": 0})
    assert m.commit_pool.limit is None and m.max_handles == MAX_HANDLES   # Windows' own 2^24 remains
    m = Machine()
    assert m.commit_pool.limit == DEFAULT_MAX_MEMORY and m.max_handles == DEFAULT_MAX_HANDLES
