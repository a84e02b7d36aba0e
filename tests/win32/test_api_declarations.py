"""Every @api declaration's prototype parses.

A declaration parses its prototype on first use (winhatch.win32.api.ApiSpec.declared), not when its module
is imported: this reads the parsed fields of all of them, so a malformed prototype still fails a test
instead of the first program that calls the API."""
from winhatch.win32 import api, subsystem


def test_every_declared_prototype_parses():
    subsystem.load_handler_modules()
    specs = api.specs()
    assert len(specs) > 500
    for spec in specs:
        ret, _cc, name, params, varargs = api.parse_prototype(spec._proto)
        assert (spec.ret, spec.params, spec.varargs) == (ret, params, varargs), spec.name
        assert isinstance(spec.cdecl, bool)
        # the export name registration used comes from the same prototype
        assert name.rstrip("%") == spec.name or spec.name.startswith("?") or "::" in spec.name, (name, spec.name)  # C++ mangled, internal


def test_declared_spec_reads_like_a_plain_one():
    spec = api.ApiSpec.declared(("kernel32.dll",), "Sleep", "VOID WINAPI Sleep(DWORD dwMilliseconds)", print,
                                False, False)
    plain = api.ApiSpec(("kernel32.dll",), "Sleep", "VOID", [api.Param("DWORD", "dwMilliseconds")], False, False,
                        print, False, False)
    assert spec == plain and repr(spec) == repr(plain)
    assert spec.names() == [("Sleep", False)]


def test_no_export_is_declared_twice():
    """One handler per export: a second declaration of the same dll!name would silently replace the first
    (the registration keeps the last), so two implementations of one API could drift apart unnoticed."""
    subsystem.load_handler_modules()
    where: dict[tuple[str, str], object] = {}
    twice = []
    for spec in api.specs():
        for dll in spec.dlls:
            for name, _wide in spec.names():
                first = where.setdefault((dll, name), spec.fn)
                if first is not spec.fn:   # two functions (even of one name in one module) for one export
                    twice.append(f"{dll}!{name}: {first.__module__}.{first.__qualname__} (line "
                                 f"{first.__code__.co_firstlineno}) and {spec.fn.__module__}."
                                 f"{spec.fn.__qualname__} (line {spec.fn.__code__.co_firstlineno})")
    assert not twice, "\n".join(twice)
