# migr: live process migration for Linux. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VARIANT ?= normal

help:
	@echo "make demo        set up, build, boot two nodes and show each one answering"
	@echo "make test        set up, build, run every check: unit tests, uapi, lab (normal and debug kernels)"
	@echo "make lab         boot NODES=3 (1-10) nodes and keep them up; FILES='a b' in /root, CMD='...' on node1; qemu-test/attach N: a shell"
	@echo "make torture     the differential torture test, seeds 1..SEEDS (20), MODE=eager|lazy, VARIANT=normal|debug"
	@echo "make bench       migr vs CRIU vs the raw network in the lab (16 MiB-1 GiB; writes docs/BENCH.md, ~30 min)"
	@echo "make bench-quick the same for 16 and 128 MiB, 10% and 100% touched, < 5 min (build/bench/BENCH.md)"
	@echo "make setup       install/check the toolchain (Debian packages, bindgen-cli)"
	@echo "make kernel      build the lab kernel (VARIANT=normal|debug), cached in ~/.cache/migr"
	@echo "make kmod ctl    build migr.ko / migctl"
	@echo "make fuzz        the fuzz targets of what a peer sends, FUZZ_SECONDS=600 each (make test: 30)"
	@echo "make install     migctl, migr.ko (KDIR=kernel build tree, default the running one's) and migr.service"
	@echo "make docs        migctl's man pages (build/man) and bash/zsh/fish completions (build/completions)"
	@echo "make uapi        regenerate the files derived from uapi/migr.yaml; check-uapi verifies them"

setup:
	@scripts/setup

kernel: setup
	@qemu-test/kernel/build $(VARIANT)

kmod: setup
	@qemu-test/prepare $(VARIANT) >/dev/null && echo "built build/$(VARIANT)/migr.ko"

ctl:
	cd ctl && cargo build --release

# Generated from migctl's clap definitions (ctl/src/docs.rs).
docs: ctl
	ctl/target/release/migctl gen-docs build

uapi: setup
	uapi/gen "$$(scripts/ksrc)"

check-uapi: setup
	uapi/gen "$$(scripts/ksrc)" --check

unit: setup
	cd ctl && cargo test --release 2>&1 | tail -n 3

test: setup
	scripts/test-all

demo: setup
	qemu-test/demo

NODES ?= 3
lab: setup
	NODES='$(NODES)' CMD='$(CMD)' VARIANT='$(VARIANT)' qemu-test/lab-up $(FILES)

# The differential torture test with more seeds (1..SEEDS) and a chosen mode (issue 11).
SEEDS ?= 20
MODE ?= eager
torture: setup
	MIGR_TORTURE_SEEDS=$(SEEDS) MIGR_TORTURE_MODE=$(MODE) qemu-test/run --kernel $(VARIANT) torture

bench:
	@scripts/setup bench
	qemu-test/bench.py

bench-quick:
	@scripts/setup bench
	qemu-test/bench.py --quick --report build/bench/BENCH.md

# The fuzz targets of what a peer sends (ctl/fuzz), SECONDS each (make test: 30).
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

# migctl, migr.ko (against KDIR, default the running kernel's build tree) and the daemon's
# systemd unit; DESTDIR= for a staging directory.
install: setup
	KDIR='$(KDIR)' DESTDIR='$(DESTDIR)' deploy/install

clean:
	rm -rf build ctl/target
	find kmod -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' | xargs rm -f

.PHONY: help setup kernel kmod ctl fuzz install docs uapi check-uapi unit test demo lab torture bench bench-quick clean
