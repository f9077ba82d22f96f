# SPDX-License-Identifier: GPL-2.0
# iofollow — device-mapper target for live VM disk migration that follows
# the disk head.  See README.md.
#
#   make            build dm-iofollow.ko (kbuild only: against the cached test kernel
#                   from 'make kernel', or KDIR=<tree>) and iofollow-migrate
#   make install    install both (module: KDIR's modules_install; tool: PREFIX/sbin)
#   make check      all tests: cargo unit/property tests, module build, in-guest suite
#   make demo       a live migration in a guest, narrated
#   make sim        the trace-driven simulator (userspace)
#   make bench      the module against dm-mirror/dm-clone on an emulated HDD
#                   in a guest (about 30 min; BENCH_ARGS=... see scripts/bench)
#   make fuzz       the libFuzzer targets in rust/fuzz, FUZZ_SECONDS (60) each
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

# Toolchain of the kernel build (scripts/lib/common.sh pins the versions).
LLVM ?= -19
KERNEL_RUSTC ?= /usr/bin/rustc
KERNEL_RUSTDOC ?= /usr/bin/rustdoc
IOFOLLOW_CACHE ?= /opt/iofollow
KERNEL_CACHE ?= $(IOFOLLOW_CACHE)
KBUILD_VARS = LLVM=$(LLVM) RUSTC=$(KERNEL_RUSTC) RUSTDOC=$(KERNEL_RUSTDOC) \
	BINDGEN=$(KERNEL_CACHE)/tools/bindgen-0.69.5/bin/bindgen \
	RUST_LIB_SRC=/usr/src/rustc-1.85.0/library

# KDIR: a Rust-enabled kernel build tree.  Empty means the cached test kernel.
KDIR ?=
KDIR_OR_CACHE = $(if $(KDIR),$(KDIR),$$(scripts/kernel dir))

PREFIX ?= /usr/local

.PHONY: all module tool bins install dkms deps kernel check check-debug demo sim bench fuzz soak crash test-unit test-guest ktest clippy fmt clean

all: module tool

# iofollow-migrate (rust/migrate), a userspace tool built by cargo.
tool:
	cargo build --release -q -p iofollow-migrate

# Every userspace binary: the tool, the emulated disk and replayer, the simulator.
bins:
	cargo build --release -q --workspace --bins

install: all
	install -D -m 0755 target/release/iofollow-migrate $(DESTDIR)$(PREFIX)/sbin/iofollow-migrate
	$(MAKE) -C $(KDIR_OR_CACHE) M=$(CURDIR) $(KBUILD_VARS) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=updates modules_install

dkms: deps kernel
	scripts/dkms-check

deps:
	@scripts/deps

kernel: deps
	@$(if $(KDIR),echo "using KDIR=$(KDIR)",scripts/kernel build >/dev/null)

module:
	@kdir=$(KDIR_OR_CACHE); [ -f "$$kdir/Module.symvers" ] || { \
		echo "error: no built kernel tree at '$$kdir': run 'make kernel' (or pass KDIR=<tree>)" >&2; \
		exit 1; }
	$(MAKE) -C $(KDIR_OR_CACHE) M=$(CURDIR) $(KBUILD_VARS) modules

clippy:
	$(MAKE) -C $(KDIR_OR_CACHE) M=$(CURDIR) $(KBUILD_VARS) CLIPPY=1 \
		CLIPPY_DRIVER=$(dir $(KERNEL_RUSTC))clippy-driver modules

check: deps kernel
	@KDIR="$(KDIR)" scripts/check

check-debug: deps
	scripts/check-debug

test-unit:
	cargo test --workspace --release

fmt:
	rustfmt $$(git ls-files --cached --others --exclude-standard '*.rs')

test-guest: deps kernel module bins
	scripts/run-in-guest tests-ktest/run-suite

ktest: deps kernel module
	scripts/ktest

demo: deps kernel module bins
	scripts/demo

sim:
	cargo run --release -q -p iofollow-sim -- --out out/sim

bench: deps kernel module
	scripts/bench $(BENCH_ARGS)

fuzz:
	scripts/fuzz

soak: deps kernel module bins
	scripts/soak

crash: deps kernel module
	scripts/crash-test

clean:
	-$(MAKE) -C $(KDIR_OR_CACHE) M=$(CURDIR) clean 2>/dev/null
	rm -rf out target rust/fuzz/target
