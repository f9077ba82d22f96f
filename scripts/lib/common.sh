# SPDX-License-Identifier: GPL-2.0
# Shared settings of the iofollow scripts: pinned toolchain, cache layout.
# Sourced, not executed.  Every path here lives OUTSIDE the checkout so that
# a fresh clone (CI) reuses what an earlier run installed or built.

# Not under /var/cache: virtme-ng guests mount a tmpfs there, and the guest
# must see the kernel build tree (its modules) at the same path.
IOFOLLOW_CACHE=${IOFOLLOW_CACHE:-/opt/iofollow}
IOFOLLOW_TOOLS=$IOFOLLOW_CACHE/tools

# Versions the kernel Rust toolchain depends on (see ../shared/TOOLCHAIN.md).
RUST_DEB_VERSION=1.85.0+dfsg3-1~deb12u3
KERNEL_DEB=linux-source-6.12
KERNEL_DEB_VERSION=6.12.117-1~deb12u1
LLVM_MAJOR=19
BINDGEN_VERSION=0.69.5
VNG_VERSION=1.42

KERNEL_RUSTC=/usr/bin/rustc
KERNEL_RUSTDOC=/usr/bin/rustdoc
KERNEL_RUST_LIB_SRC=/usr/src/rustc-1.85.0/library
KERNEL_BINDGEN=$IOFOLLOW_TOOLS/bindgen-$BINDGEN_VERSION/bin/bindgen
VNG=$IOFOLLOW_TOOLS/vng-$VNG_VERSION/bin/vng
# The test guest, for run-in-guest and ktest-guest alike: root, 2 vCPUs,
# 4 GiB (the suite's loop files live in the guest's tmpfs), console shown.
VNG_GUEST_OPTS=(--user root --cpus 2 --memory 4G --verbose)
export LIBCLANG_PATH=/usr/lib/llvm-$LLVM_MAJOR/lib

# Make variables every kernel or module build needs: the rustup rustc first
# on PATH is the wrong compiler for kernel code.
kernel_make_vars() {
	echo "ARCH=x86_64 LLVM=-$LLVM_MAJOR RUSTC=$KERNEL_RUSTC RUSTDOC=$KERNEL_RUSTDOC" \
	     "BINDGEN=$KERNEL_BINDGEN RUST_LIB_SRC=$KERNEL_RUST_LIB_SRC"
}

die() {
	echo "error: $*" >&2
	exit 1
}
