"""KUSER_SHARED_DATA: one read-only page at 0x7FFE0000 shared by every process, its clock following
emulated time."""
from winhatch import runner
from winhatch.kernel.structs import KUSER_SHARED_DATA as K
from winhatch.kernel.structs.kuser import kuser_tick_count_ms


def test_time_fields_follow_emulated_time(build_fixture):
    res = runner.run(build_fixture("hello.c", "x64"))
    m, p = res.machine, res.process
    page = p.aspace.read(0x7FFE0000, 0x1000)
    system_time = K.unpack("x64", page)["SystemTime"]
    low = system_time["LowPart"] | (system_time["High1Time"] << 32)
    assert abs(low - m.clock.system_time()) < 10_000  # within a millisecond of the machine's clock
    assert abs(kuser_tick_count_ms(page) - m.clock.now() // 10_000) <= 16  # one 15.625 ms clock tick
    m.clock.advance(5_000 * 10_000)  # five seconds later
    page2 = p.aspace.read(0x7FFE0000, 0x1000)
    assert kuser_tick_count_ms(page2) - kuser_tick_count_ms(page) >= 4_984  # ticks are 15.625 ms apart
    assert K.unpack("x64", page2)["NtMajorVersion"] == 10


def test_cookie_is_set_once_and_shared(build_fixture):
    res = runner.run(build_fixture("hello.c", "x86"))
    cookie = int.from_bytes(res.process.aspace.read(0x7FFE0000 + K.offset("x64", "Cookie"), 4), "little")
    assert cookie == res.machine.system_cookie != 0
