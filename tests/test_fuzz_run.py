"""The full-run fuzzer (tests/fuzzrun.py): a short campaign here; `make fuzz` runs 1,000 inputs per architecture
(`python tests/fuzzrun.py --runs 1000`)."""
import json

import pytest

import fuzzrun

#: inputs a campaign once failed on, by fixture and seed (tests/fuzzrun.py --only SEED regenerates one):
#: each must now end in an outcome that is not a failure
REGRESSIONS: list[tuple[str, int]] = [
    ("x64/ldr_loadlib", 11000094),   # unreadable unwind data: the exception machinery raised forever (RecursionError)
    ("x64/ldr_loadlib", 11000526),   # a jump to 0xFFFFFFFFFFFFFFFF: dropping its code page wrapped past 2^64 (UcError)
    ("x86/conf_heap", 1000557),      # export directory RVA and e_lfanew-relative header bytes mutated (internal error)
    ("x86/ldr_tls", 1000591),        # a header byte and the relocations mutated (internal error)
]


def test_inputs_are_reproducible_from_their_seed():
    images = fuzzrun.seed_images("x64")
    a = fuzzrun.make_input(images, 123456)
    b = fuzzrun.make_input(images, 123456)
    c = fuzzrun.make_input(images, 123457)
    assert a == b and a[1] != c[1]
    assert a[1] != dict(images)[a[0]]     # it is mutated


def test_a_failure_is_saved_with_its_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(fuzzrun, "run_one", lambda exe: {"outcome": "internal", "rc": 70, "rss_mb": 40,
                                                         "seconds": 0.1, "stderr_tail": "winhatch: internal error"})
    images = fuzzrun.seed_images("x86")
    r = fuzzrun._work((images, 42, tmp_path))
    stem = f"{r['image'].replace('/', '-')}-42"
    assert (tmp_path / f"{stem}.exe").read_bytes() == fuzzrun.make_input(images, 42)[1]
    saved = json.loads((tmp_path / f"{stem}.json").read_text())
    assert saved["seed"] == 42 and saved["outcome"] == "internal" and saved["mutations"]


def test_short_campaign_has_no_internal_error_and_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(fuzzrun, "GUEST_TIMEOUT", 5.0)
    res = fuzzrun.campaign(20, ("x86", "x64"), base_seed=7, jobs=1, fail_dir=tmp_path / "failures", progress=None)
    assert sum(res["counts"].values()) == 40
    assert res["failures"] == [], [(f["seed"], f["image"], f["stderr_tail"]) for f in res["failures"]]
    assert res["peak_rss_mb"] * (1 << 20) < fuzzrun.RSS_BOUND
    # the mutations reach more than one outcome (refusals and runs at least)
    assert res["counts"]["refusal"] and res["counts"]["exit"] + res["counts"]["crash"]
    assert not any(r.get("leftover_sandbox") for r in res["results"])


@pytest.mark.parametrize("image,seed", REGRESSIONS)
def test_regression(image, seed, tmp_path):
    arch = image.split("/")[0]
    images = fuzzrun.seed_images(arch)
    name, data, _ = fuzzrun.make_input(images, seed)
    exe = tmp_path / "fuzz.exe"
    exe.write_bytes(data)
    assert fuzzrun.run_one(exe)["outcome"] not in fuzzrun.FAILURES
