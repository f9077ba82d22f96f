# SPDX-License-Identifier: GPL-2.0
# iofollow — device-mapper target for live VM disk migration that follows
# the disk head.  See README.md.
#
#   make            build dm-iofollow.ko (kbuild only, against KDIR, by default the
#                   running kernel's /lib/modules/$(uname -r)/build) and iofollow-migrate
#   make test-module  the module for the cached test kernel ('make kernel')
#   make install    install both (module: KDIR's modules_install; tool: PREFIX/sbin)
#   make check      all tests: cargo unit/property tests, module build, in-guest suite
#   make demo       a live migration in a guest, narrated
#   make sim        the trace-driven simulator (userspace)
#   make bench      the module against dm-mirror/dm-clone on an emulated HDD
#                   in a guest (about 30 min; BENCH_ARGS=... see scripts/bench)
#   make fuzz       the libFuzzer targets in tools/fuzz, FUZZ_SECONDS (60) each
#   make soak       randomized stress rounds in a guest for SOAK_SECONDS (1800)
#   make crash      crash consistency: crash a guest mid-copy, check the disk
#   make check-debug  the in-guest suite on the sanitizer kernel (KASAN, KFENCE,
#                   kmemleak, lockdep); run it on every change to rust/dm or the engine
#   make deps       install the toolchain and tools (check, demo, kernel run it)
#   make fmt        format the Rust sources as the kernel does
#   make kernel     build the Rust-enabled test kernel into the cache
#   make dkms       dkms add/build/install in a private tree against the cached
#                   kernel, then the module dkms built runs in a guest

SHELL := /bin/bash
.DEFAULT_GOAL := all

# Toolchain of the kernel build: the pins scripts/deps installs.
include scripts/lib/toolchain.env
LLVM ?= -$(LLVM_MAJOR)
IOFOLLOW_CACHE ?= /opt/iofollow
KERNEL_CACHE ?= $(IOFOLLOW_CACHE)
KBUILD_VARS = LLVM=$(LLVM) RUSTC=$(KERNEL_RUSTC) RUSTDOC=$(KERNEL_RUSTDOC) \
	BINDGEN=$(KERNEL_CACHE)/tools/bindgen-$(BINDGEN_VERSION)/bin/bindgen \
	RUST_LIB_SRC=$(KERNEL_RUST_LIB_SRC)

# KDIR: the Rust-enabled kernel build tree the module is built against, by
# default the running kernel's (as for any out-of-tree module). make check,
# demo, bench and the other in-guest targets build for the cached test
# kernel instead (TEST_KDIR), which `make kernel` builds.
KDIR ?= /lib/modules/$(shell uname -r)/build
TEST_KDIR = $$(scripts/kernel dir)

PREFIX ?= /usr/local

.PHONY: all module test-module tool bins install dkms deps kernel check check-debug demo sim bench fuzz soak crash test-unit test-guest ktest clippy fmt clean

all: module tool

# iofollow-migrate (tools/migrate) and iofollow-dump (tools/dump), userspace
# tools built by cargo.
tool:
	cargo build --release -q -p iofollow-migrate -p iofollow-dump

# Every userspace binary: the tool, the emulated disk and replayer, the simulator.
bins:
	cargo build --release -q --workspace --bins

install: all
	install -D -m 0755 target/release/iofollow-migrate $(DESTDIR)$(PREFIX)/sbin/iofollow-migrate
	install -D -m 0755 target/release/iofollow-dump $(DESTDIR)$(PREFIX)/sbin/iofollow-dump
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KBUILD_VARS) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=updates modules_install

dkms: deps kernel
	scripts/dkms-check

deps:
	@scripts/deps

kernel: deps
	@scripts/kernel build >/dev/null

module:
	@[ -f "$(KDIR)/Module.symvers" ] || { \
		echo "error: no built kernel tree at '$(KDIR)': pass KDIR=<tree> (for the cached test kernel: make test-module)" >&2; \
		exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KBUILD_VARS) modules

# The module for the cached test kernel (what the in-guest targets load).
test-module: kernel
	@$(MAKE) --no-print-directory module KDIR=$(TEST_KDIR)

clippy: kernel
	$(MAKE) -C $(TEST_KDIR) M=$(CURDIR) $(KBUILD_VARS) CLIPPY=1 \
		CLIPPY_DRIVER=$(dir $(KERNEL_RUSTC))clippy-driver modules

check: deps kernel
	@scripts/check

check-debug: deps
	scripts/check-debug

test-unit:
	cargo test --workspace --release

fmt:
	rustfmt $$(git ls-files --cached --others --exclude-standard '*.rs')

test-guest: deps kernel test-module bins
	scripts/run-in-guest tests-ktest/run-suite

ktest: deps kernel test-module tool
	scripts/ktest

demo: deps kernel test-module bins
	scripts/demo

sim:
	cargo run --release -q -p iofollow-sim -- --out out/sim

bench: deps kernel test-module
	scripts/bench $(BENCH_ARGS)

fuzz:
	scripts/fuzz

soak: deps kernel test-module bins
	scripts/soak

crash: deps kernel test-module bins
	scripts/crash-test

clean:
	-$(MAKE) -C $(TEST_KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf out target tools/fuzz/target
