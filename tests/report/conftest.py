import pytest


@pytest.fixture(scope="session")
def hello_runs():
    """get(arch) -> (exe path, RunResult of `hello.exe a b`): one emulated run per arch for the session."""
    import fixturebuild
    import winhatch

    cache = {}

    def get(arch):
        if arch not in cache:
            exe = fixturebuild.build("hello.c", arch)
            cache[arch] = (exe, winhatch.run(exe, ["a", "b"], record=("api",)))
        return cache[arch]
    return get
