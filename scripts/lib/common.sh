# SPDX-License-Identifier: GPL-2.0
# Shared settings of the iofollow scripts: pinned toolchain, cache layout.
# Sourced, not executed.  Every path here lives OUTSIDE the checkout so that
# a fresh clone (CI) reuses what an earlier run installed or built.

# Not under /var/cache: virtme-ng guests mount a tmpfs there, and the guest
# must see the kernel build tree (its modules) at the same path.
IOFOLLOW_CACHE=${IOFOLLOW_CACHE:-/opt/iofollow}
IOFOLLOW_TOOLS=$IOFOLLOW_CACHE/tools

# The pinned toolchain (the Makefile reads the same file).
# shellcheck source=toolchain.env
. "$(dirname "${BASH_SOURCE[0]}")/toolchain.env"
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
