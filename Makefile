# iofollow — device-mapper target for live VM disk migration that follows
# the disk head.  See README.md.
#
#   make            build dm-iofollow.ko (against the cached test kernel, or KDIR=<tree>)
#   make check      all tests: cargo unit/property tests, module build, in-guest suite
#   make demo       a live migration in a guest, narrated
#   make sim        the trace-driven simulator (userspace)
#   make deps       install the toolchain and tools (every target runs it)
#   make kernel     build the Rust-enabled test kernel into the cache

SHELL := /bin/bash
.DEFAULT_GOAL := module

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

.PHONY: module deps kernel check demo sim bench test-unit test-guest ktest clippy clean

deps:
	@scripts/deps

kernel: deps
	@$(if $(KDIR),echo "using KDIR=$(KDIR)",scripts/kernel build >/dev/null)

module: deps kernel
	$(MAKE) -C $(KDIR_OR_CACHE) M=$(CURDIR) $(KBUILD_VARS) modules

clippy: deps kernel
	$(MAKE) -C $(KDIR_OR_CACHE) M=$(CURDIR) $(KBUILD_VARS) CLIPPY=1 \
		CLIPPY_DRIVER=$(dir $(KERNEL_RUSTC))clippy-driver modules

check: deps kernel
	@KDIR="$(KDIR)" scripts/check

test-unit:
	cargo test --workspace --release

test-guest: module
	scripts/run-in-guest tests-ktest/run-suite

ktest: module
	scripts/ktest

demo: module
	scripts/demo

sim:
	cargo run --release -q -p iofollow-sim -- --out out/sim

clean:
	-$(MAKE) -C $(KDIR_OR_CACHE) M=$(CURDIR) clean 2>/dev/null
	rm -rf out target
