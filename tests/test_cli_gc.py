"""`winhatch run` pauses the cyclic garbage collector during its start-up only in its own process.

In the command's process (the console script, `python -m winhatch.cli`) the collector is off until the
process's first thread exists, then what the start-up made is frozen (gc.freeze) and collection resumes;
a host calling main() with arguments (CliRunner here) keeps its collector exactly as it was."""
import gc
import subprocess
import sys
import textwrap

from click.testing import CliRunner

from winhatch import cli


def test_a_host_calling_main_keeps_its_collector(build_fixture):
    frozen = gc.get_freeze_count()
    r = CliRunner().invoke(cli.main, ["run", str(build_fixture("hello.c", "x64"))])
    assert r.exit_code == 42
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_command_process_resumes_collection_for_the_guest(build_fixture):
    exe = str(build_fixture("hello.c", "x64"))
    probe = textwrap.dedent("""
        import gc, sys
        from winhatch import cli
        from winhatch.kernel import events
        seen = []
        subscribe = events.EventLog.subscribe
        def spy(self, fn, categories=None):
            def wrapped(e):
                before = gc.isenabled()
                fn(e)
                if e.name == "thread_create":
                    seen.append((before, gc.isenabled(), gc.get_freeze_count() > 0))
            return subscribe(self, wrapped, categories)
        events.EventLog.subscribe = spy
        sys.argv = ["winhatch", "run", sys.argv[1]]
        try:
            cli.main()
        finally:
            print(seen, gc.isenabled(), file=sys.stderr)
    """)
    p = subprocess.run([sys.executable, "-c", probe, exe], capture_output=True, text=True)
    assert p.returncode == 42, p.stderr
    # off during the start-up, back on (after a freeze) once the first thread exists, on at the end
    assert p.stderr.strip().splitlines()[-1] == "[(False, True, True)] True"
