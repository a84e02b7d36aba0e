"""The runtime part of the C++ threads library with a real MSVC-STL program (tests/fixtures/src/msvcp_thread.cpp,
built against Microsoft's STL: tests/msvcstl.py), x86 and x64: std::condition_variable over std::mutex between
two threads (msvcp140's _Cnd_wait/_Cnd_signal/_Cnd_broadcast over _Mtx_*: real guest waits), _Cnd_timedwait
timing out with the mutex owned again, std::chrono's steady_clock (_Query_perf_counter/_Query_perf_frequency)
and system_clock (_Xtime_get_ticks), std::random_device (_Random_device), std::this_thread::yield, std::thread
(started by _beginthreadex, _Thrd_join, _Thrd_detach, _Thrd_id, _Thrd_hardware_concurrency and the thread's
_Cnd_do_broadcast_at_thread_exit).

EXPECTED is wine64's output of the same x64 program (its own msvcp140)."""
from __future__ import annotations

import io

import pytest

from winhatch import runner

import msvcstl

EXPECTED = (
    "main sets 1\r\nworker sees 1\r\nmain sets 3\r\nworker sees 3\r\nmain sets 5\r\nworker sees 5\r\n"
    "stage 6\r\n"
    "timed wait: result=2 waited>=25ms=1 owns=1\r\n"
    "steady: 1\r\n"
    "system after 2020: 1\r\n"
    "random_device: 1\r\n"
    "yielded\r\n"
    "thread: ran=1 stage=100 joinable=0 other id=1\r\n"
    "detached: joinable=0\r\n"
    "hardware_concurrency>0: 1\r\n"
).encode()


@pytest.fixture
def program(arch):
    try:
        return msvcstl.build("msvcp_thread.cpp", arch)
    except msvcstl.Unavailable as e:
        pytest.skip(str(e))


def test_condition_variable_clocks_random(program):
    res = runner.run(program, [], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=io.BytesIO(),
                     max_instructions=200_000_000)
    assert res.error is None, res.error
    assert not res.unimplemented, res.unimplemented
    assert res.stdout == EXPECTED, res.stdout.decode("latin-1")
    assert res.exit_status == 0
