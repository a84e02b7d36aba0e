"""winhatch.win32.startup_cache: values kept in the cache directory, keyed by their inputs."""
from winhatch.win32 import startup_cache


def test_cached_computes_once_per_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("WINHATCH_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {("a", "b"): (("c", "d"),), "n": [1, 2]}

    first = startup_cache.cached("test-kind", "inputs-1", compute)
    assert startup_cache.cached("test-kind", "inputs-1", compute) == first and len(calls) == 1
    startup_cache.cached("test-kind", "inputs-2", compute)
    assert len(calls) == 2


def test_damaged_or_unkept_values_are_computed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("WINHATCH_CACHE", str(tmp_path))
    startup_cache.cached("test-kind", "x", lambda: [1, 2, 3])
    (path,) = (tmp_path / "sysdlls").glob("test-kind-*.marshal")
    path.write_bytes(path.read_bytes()[:3])          # truncated
    assert startup_cache.cached("test-kind", "x", lambda: [4]) == [4]
    assert startup_cache.cached("test-kind", "x", lambda: [5]) == [4]
    assert startup_cache.cached("test-kind", "y", lambda: None, keep=lambda v: v is not None) is None
    assert startup_cache.cached("test-kind", "y", lambda: 7, keep=lambda v: v is not None) == 7
