# SPDX-License-Identifier: GPL-2.0
# Helpers for the in-guest test cases (sourced).  Every case runs as root in
# a virtme-ng guest, in its own bash process, with `set -euo pipefail`; it
# creates its devices through these helpers so they are removed on exit.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The module under test (check-debug builds one against the sanitizer kernel).
MODULE=${IOFOLLOW_MODULE:-$REPO/dm-iofollow.ko}
SCRATCH=$(mktemp -d /tmp/iofollow-test.XXXXXX)
# What the case created, one name a line, removed on exit. Files, not arrays:
# helpers run in $(...) subshells, whose variables the case never sees (an
# array here once leaked every loop device and filled the guest's tmpfs).
DM_LIST=$SCRATCH/dm-devices
LOOP_LIST=$SCRATCH/loop-devices
: >"$DM_LIST"
: >"$LOOP_LIST"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

note() {
	echo "  $*"
}

cleanup() {
	local name dev jobs
	# What the case itself must undo first, such as a mount.
	! declare -F case_cleanup >/dev/null || case_cleanup || true
	# Background workloads of a failed case would hold its devices open.
	jobs=$(jobs -p)
	[ -z "$jobs" ] || kill $jobs 2>/dev/null || true
	# Workloads end at once; a userspace disk (the ublk server of the
	# emulated HDD) ends only when the devices above it are gone.
	for _ in $(seq 50); do
		[ -n "$(jobs -pr)" ] || break
		sleep 0.1
	done
	# Newest first: a device is removed before the devices it sits on.
	for name in $(tac "$DM_LIST" 2>/dev/null); do
		timeout 120 dmsetup remove --retry "$name" 2>/dev/null || true
	done
	for dev in $(cat "$LOOP_LIST" 2>/dev/null); do
		losetup -d "$dev" 2>/dev/null || true
	done
	# The metadata devices of migrations a failed case left recorded.
	for name in "$SCRATCH"/state/*.meta; do
		[ -e "$name" ] || continue
		for dev in $(losetup -nO NAME -j "$name"); do
			losetup -d "$dev" 2>/dev/null || true
		done
	done
	wait 2>/dev/null || true
	rm -rf "$SCRATCH"
}
trap cleanup EXIT

load_module() {
	# Cases run side by side: another one may load it between the check and insmod.
	grep -q '^dm_iofollow ' /proc/modules && return 0
	insmod "$MODULE" 2>"$SCRATCH/insmod.err" && return 0
	grep -q '^dm_iofollow ' /proc/modules || { cat "$SCRATCH/insmod.err" >&2; return 1; }
}

# make_loop <MiB> [losetup options...]: a loop device over a sparse file.
make_loop() {
	local mib=$1 file dev
	shift
	file=$(mktemp "$SCRATCH/disk.XXXXXX")
	truncate -s "${mib}M" "$file"
	dev=$(losetup -f --show "$@" "$file")
	echo "$dev" >>"$LOOP_LIST"
	echo "$dev"
}

# free_loop <dev>: detach a loop device of make_loop now and delete its
# file, for a case that makes many (the guest's tmpfs holds them).
free_loop() {
	local file
	file=$(losetup -nO BACK-FILE "$1")
	losetup -d "$1" || fail "cannot detach $1"
	rm -f "$file"
	grep -vxF "$1" "$LOOP_LIST" >"$LOOP_LIST.new" || true
	mv "$LOOP_LIST.new" "$LOOP_LIST"
}

sectors() {
	blockdev --getsz "$1"
}

# dm_create <name> <table>: create a device and check that its node really
# is a block device (without udev, writes would land in a plain file).
dm_create() {
	local name=$1 table=$2
	# dmsetup waits for udev to finish with the new device (udev sync).
	dmsetup create "$name" --table "$table" || fail "dmsetup create $name failed: $table"
	echo "$name" >>"$DM_LIST"
	[ -b "/dev/mapper/$name" ] || fail "/dev/mapper/$name is not a block device"
}

dm_remove() {
	local name=$1
	# udev may still be probing the device after the last writer closed it.
	udevadm settle --timeout=10 2>/dev/null || true
	timeout 120 dmsetup remove --retry "$name" || fail "cannot remove $name (or it hung)"
	grep -vxF "$name" "$DM_LIST" >"$DM_LIST.new" || true
	mv "$DM_LIST.new" "$DM_LIST"
}

# A line in the kernel log to search after, so a case only sees its own messages.
kmsg_mark() {
	KMSG_MARK="iofollow-test mark $RANDOM$RANDOM"
	echo "$KMSG_MARK" >/dev/kmsg
}

kmsg_since_mark() {
	dmesg | sed -n "/$KMSG_MARK/,\$p"
}

# pattern <file> <MiB> <seed>: reproducible pseudo-random data.
pattern() {
	local file=$1 mib=$2 seed=$3
	# openssl dies of SIGPIPE when head has enough: not an error here.
	{ openssl enc -chacha20 -pass "pass:$seed" -nosalt -pbkdf2 </dev/zero 2>/dev/null || true; } |
		head -c "$((mib * 1024 * 1024))" >"$file"
	[ "$(stat -c %s "$file")" -eq $((mib * 1024 * 1024)) ] || fail "cannot make pattern $file"
}

# read_range <dev> <byte offset> <bytes> <out file>: O_DIRECT read of a range.
read_range() {
	dd if="$1" of="$4" bs=4096 skip="$(($2 / 4096))" count="$(($3 / 4096))" \
		iflag=direct status=none
}

write_range() {
	dd if="$3" of="$1" bs=4096 seek="$(($2 / 4096))" oflag=direct conv=notrunc status=none
}

# status_field <dm name> <field>: one field of an iofollow device's status
# line by its name (FIELDS in rust/policy/status.rs: state, migrated_blocks,
# total_blocks, dirty_blocks, head_sector, vm_ios, migration_ios, cache_hits,
# cache_misses, cache_bytes, cache_capacity_bytes, policy, ratio, fault,
# source_reads, dest_reads), read by the status line's one reader (the tool).
status_field() {
	"$MIGRATE" --json status "$1" 2>/dev/null |
		sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}
# stat_of <dm name> <name>: one value of the `stats` message's reply.
stat_of() {
	dmsetup message "$1" 0 stats | tr ' ' '\n' | awk -v k="$2" 'p { print; exit } $0 == k { p = 1 }'
}
# reads_of <dev>: read requests the device completed (field 1 of its stat).
reads_of() {
	local f
	read -r -a f <"/sys/block/$(sysfs_name "$1")/stat"
	echo "${f[0]}"
}
# writes_of <dev>: write requests the device completed (field 5 of its stat).
writes_of() {
	local f
	read -r -a f <"/sys/block/$(sysfs_name "$1")/stat"
	echo "${f[4]}"
}
state_of() { status_field "$1" state; }
migrated_of() { status_field "$1" migrated_blocks; }
total_of() { status_field "$1" total_blocks; }

# wait_migrated <name> <blocks> [seconds]: polls until at least <blocks>
# blocks are migrated; false after [seconds] (default 60), for the caller to
# judge (most pause the copy first, then check).
wait_migrated() {
	local end=$((SECONDS + ${3:-60})) m
	while :; do
		m=$(migrated_of "$1")
		[ "${m:-0}" -ge "$2" ] && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# wait_state <name> <state> [seconds]: polls twice a second. A status costs
# a process or two, about 0.2 s of the guest's CPU under TCG, which cases
# running side by side share.
wait_state() {
	local name=$1 want=$2 limit=${3:-120} end
	end=$((SECONDS + limit))
	while :; do
		[ "$(state_of "$name")" = "$want" ] && return 0
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.5
	done
	fail "$name not $want after ${limit}s: $(dmsetup status "$name")"
}

# direct_read <dev> <bytes>: the device's first <bytes> from the device
# itself (O_DIRECT). Its page cache may be stale: the target writes beneath
# it, and udev's probe at creation cached the first and last blocks as they
# were then (a buffered cmp once saw zeros there on a complete copy).
direct_read() {
	dd if="$1" bs=1M count="$2" iflag=direct,count_bytes status=none
}

# direct_read_at <dev> <byte offset> <bytes>: a range, O_DIRECT.
direct_read_at() {
	dd if="$1" bs=64k skip="$2" count="$3" iflag=direct,skip_bytes,count_bytes status=none
}

# same_data_at <a> <b> <byte offset> <bytes>: whether a range is byte-identical.
same_data_at() {
	cmp -s <(direct_read_at "$1" "$3" "$4") <(direct_read_at "$2" "$3" "$4")
}

# same_data <a> <b> <bytes>: whether the first <bytes> are byte-identical.
same_data() {
	cmp -n "$3" <(direct_read "$1" "$3") <(direct_read "$2" "$3")
}

# compare_devices <a> <b> <bytes>: byte-identical over the first <bytes>.
compare_devices() {
	same_data "$@" || fail "$1 and $2 differ"
}

load_kmod() {
	modprobe "$1" || fail "cannot load kernel module $1"
}

# fill <dev> <MiB> <seed>: write data over the device, different in every
# 512-byte sector (fio stamps each with its offset; twice as fast as
# writing a pattern file in the guest).
fill() {
	fio --name=fill --filename="$1" --rw=write --bs=1M --direct=1 --size="$2M" \
		--randseed="$(cksum <<<"$3" | cut -d' ' -f1)" --output=/dev/null ||
		fail "cannot fill $1"
}

# A device-mapper device over <dev> that delays reads and writes by <ms>:
# a slower "disk" so that the copy takes long enough to overlap VM IO.
slow_dev() { # <name> <dev> <read ms> <write ms>
	load_kmod dm_delay
	# Created fast, so that udev's probe of the new device is not delayed,
	# then slowed down.
	dm_create "$1" "0 $(sectors "$2") delay $2 0 0 $2 0 0"
	set_slow "$1" "$2" "$3" "$4"
	echo "/dev/mapper/$1"
}

# set_slow <name> <dev> <read ms> <write ms>: new delays for the slow_dev
# <name> over <dev> (a live reload: IO in flight drains first).
set_slow() {
	dm_reload "$1" "0 $(sectors "$2") delay $2 0 $3 $2 0 $4"
}

# unslow <name> <dev>: the slow_dev <name> over <dev> delays nothing from
# now on: what a case checks after its last slow phase needs no crawling copy.
unslow() {
	set_slow "$1" "$2" 0 0
}

# migration_pair <name> <MiB> <read ms> <write ms>: a source filled with a
# pattern behind a dm-delay device, and an empty destination. Sets SRC (the
# loop device), SLOW (the delayed device to give iofollow), DST and LEN.
migration_pair() {
	SRC=$(make_loop "$2")
	DST=$(make_loop "$2")
	fill "$SRC" "$2" "$1"
	LEN=$(sectors "$SRC")
	SLOW=$(slow_dev "$1-slow" "$SRC" "$3" "$4")
}

# dm_reload <name> <table>: swap a live device's table (load, suspend, resume).
dm_reload() {
	dmsetup load "$1" --table "$2"
	dmsetup suspend "$1"
	dmsetup resume "$1"
}

# sysfs name of a block device node (loop3, dm-2), through /dev/mapper links.
sysfs_name() {
	basename "$(readlink -f "$1")"
}

# flush_count <blockdev>: flush requests the device completed (field 16 of
# /sys/block/<name>/stat). Counts only on a queue with a volatile write cache.
flush_count() {
	local f
	read -r -a f <"/sys/block/$(sysfs_name "$1")/stat"
	echo "${f[15]}"
}

# write_back <loopdev>: give the device a volatile write cache ("write back"),
# so that a REQ_PREFLUSH reaching it becomes a flush request it counts.
write_back() {
	local wc
	wc=/sys/block/$(sysfs_name "$1")/queue/write_cache
	echo 'write back' >"$wc" || fail "cannot set $1 to write back"
	[ "$(cat "$wc")" = "write back" ] || fail "$1: write_cache is '$(cat "$wc")', not write back"
}

# vm_fsync <dev> <byte offset> <file of 64 KiB>: what a VM's fsync after a write
# does: one 64 KiB O_DIRECT write, then fsync(2) of the device (an empty flush).
vm_fsync() {
	dd if="$3" of="$1" bs=64k seek="$(($2 / 65536))" count=1 oflag=direct conv=fsync,notrunc status=none
}

# --- fault injection (CONFIG_FAULT_INJECTION_DEBUG_FS) ---

FAULTS=/sys/kernel/debug
debugfs_mounted() {
	mountpoint -q "$FAULTS" || mount -t debugfs none "$FAULTS" || fail "cannot mount debugfs"
	[ -d "$FAULTS/fail_make_request" ] || fail "kernel without fail_make_request"
}

# fault_arm <fault dir> <probability %> <times>: inject up to <times> faults
# (-1: no limit), silently (a stack in the log would read as a splat).
fault_arm() {
	local dir=$FAULTS/$1
	echo 0 >"$dir/verbose"
	echo 1 >"$dir/interval"
	echo "$3" >"$dir/times"
	echo "$2" >"$dir/probability"
}

fault_disarm() {
	echo 0 >"$FAULTS/$1/probability"
	echo 0 >"$FAULTS/$1/times"
}

# fault_injected <fault dir> <times armed>: how many faults it injected.
fault_injected() {
	echo $(($2 - $(cat "$FAULTS/$1/times")))
}

# fail_bios <dev> <0|1>: whether bios submitted to <dev> meet fail_make_request.
fail_bios() {
	echo "$2" >"/sys/block/$(sysfs_name "$1")/make-it-fail"
}

# module_text_range: "<start> <end>" of the module's code, for the stack
# filter of failslab and fail_page_alloc (require-start/require-end).
module_text_range() {
	local addr type _ lo= hi= a
	while read -r addr type _; do
		case $type in t | T) ;; *) continue ;; esac
		# Kernel addresses have the top bit set: negative as bash numbers,
		# in the same order.
		a=$((16#$addr))
		[ -n "$lo" ] && [ "$a" -ge "$lo" ] || lo=$a
		[ -n "$hi" ] && [ "$a" -le "$hi" ] || hi=$a
	done < <(grep '[[:space:]]\[dm_iofollow\]$' /proc/kallsyms)
	[ -n "$lo" ] || fail "no code of dm_iofollow in /proc/kallsyms"
	printf '%u %u\n' "$lo" "$((hi + 4096))"
}

# --- LVM and iofollow-migrate ---

# --- NBD destinations (nbd-server on loopback, one export "dest") ---
# nbd_export <MiB> <port>: an empty export file of that size and the
# server's configuration, in $SCRATCH; NBD_PORT is the port.
nbd_export() {
	NBD_PORT=$2
	truncate -s 0 "$SCRATCH/export.img"
	truncate -s "$1M" "$SCRATCH/export.img"
	cat >"$SCRATCH/nbd.conf" <<CONF
[generic]
	user = root
	group = root
	listenaddr = 127.0.0.1
	port = $NBD_PORT
	allowlist = true
[dest]
	exportname = $SCRATCH/export.img
	flush = true
	fua = true
CONF
}
# nbd_start_server: starts the server (its pid in NBD_SERVER), waits until
# it lists its exports.
NBD_SERVER=
nbd_start_server() {
	nbd-server -C "$SCRATCH/nbd.conf" -d >"$SCRATCH/nbd-server.log" 2>&1 &
	NBD_SERVER=$!
	for _ in $(seq 50); do
		nbd-client -l 127.0.0.1 "$NBD_PORT" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "nbd-server did not start: $(cat "$SCRATCH/nbd-server.log")"
}
# nbd_kill_server: the server dies (SIGKILL), as in a crash.
nbd_kill_server() {
	kill -9 "$NBD_SERVER"
	wait "$NBD_SERVER" 2>/dev/null || true
	NBD_SERVER=
}
# nbd_attach <nbd device> <sectors>: attaches the export. With a timeout
# (-t 5), a request to a dead server fails after 5 s; without one it waits
# for the server forever, and so would a suspend above it.
nbd_attach() {
	nbd-client -N dest -t 5 127.0.0.1 "$NBD_PORT" "$1" -b 4096 >/dev/null 2>&1 ||
		fail "nbd-client cannot attach $1"
	for _ in $(seq 50); do
		[ "$(sectors "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$1 did not come up with the export's size"
}
# nbd_cleanup <nbd device>...: detaches them and stops the server.
nbd_cleanup() {
	local d
	for d in "$@"; do
		nbd-client -d "$d" >/dev/null 2>&1
	done
	[ -z "$NBD_SERVER" ] || kill "$NBD_SERVER" 2>/dev/null
}

MIGRATE=$REPO/target/release/iofollow-migrate
# Where iofollow-migrate keeps its migrations' checkpoints (its default,
# /var/lib, is the host's, read-only in the guest).
export IOFOLLOW_MIGRATE_STATE_DIR=$SCRATCH/state

# mount_crash_state [mkfs]: the crash test's disk "iofstate" (made an ext4
# file system first with mkfs) mounted, iofollow-migrate's state directory
# on it (tests-ktest/crash/write and check, "tool" mode).
mount_crash_state() {
	local disk=/dev/disk/by-id/virtio-iofstate
	[ -b $disk ] || fail "disk iofstate missing"
	[ -z "${1:-}" ] || mkfs.ext4 -q -F $disk || fail "mkfs.ext4 of $disk failed"
	mkdir -p /run/iofstate && mount $disk /run/iofstate || fail "cannot mount $disk"
	export IOFOLLOW_MIGRATE_STATE_DIR=/run/iofstate
	case_cleanup() {
		local d
		for d in $(losetup -nO NAME -j /run/iofstate/crash.meta); do
			losetup -d "$d"
		done
		umount /run/iofstate
	}
}

# lvm_env: LVM confined to this case's loop devices, its metadata backups
# in the scratch directory (the guest's /etc is read-only).
lvm_env() {
	[ -x "$MIGRATE" ] || fail "no $MIGRATE (cargo build --release -p iofollow-migrate)"
	export LVM_SYSTEM_DIR=$SCRATCH/lvm LVM_SUPPRESS_FD_WARNINGS=1
	mkdir -p "$LVM_SYSTEM_DIR/backup"
	cat >"$LVM_SYSTEM_DIR/lvm.conf" <<-CONF
		devices { filter = [ "a|^/dev/loop|", "r|.*|" ] use_devicesfile = 0 }
		backup { backup = 1 backup_dir = "$LVM_SYSTEM_DIR/backup" archive = 0 }
	CONF
}

# lvm_pv_pair <dm name> <MiB>: two PVs for a move inside one group: PV_A on
# a loop device, PV_B on a loop device (PV_B_LOOP) behind dm-delay <dm name>
# (fast until set_slow), which LVM sees there and never on the loop device
# under it (a duplicate PV otherwise).
lvm_pv_pair() {
	PV_A=$(make_loop "$2")
	PV_B_LOOP=$(make_loop "$2")
	sed -i "s#\"a|^/dev/loop|\"#\"a|^/dev/mapper/$1\$|\", \"r|^$PV_B_LOOP\$|\", \"a|^/dev/loop|\"#" \
		"$LVM_SYSTEM_DIR/lvm.conf"
	PV_B=$(slow_dev "$1" "$PV_B_LOOP" 0 0)
	pvcreate -q "$PV_A" "$PV_B" >/dev/null || fail "pvcreate $PV_A $PV_B failed"
}

# lv_pv <vg> <lv>: the PV that LVM's metadata has the LV's segment on.
# (Mid-copy LVM warns of the mismatch with the live table: logged, not shown.)
lv_pv() {
	lvs --noheadings -o devices "$1/$2" 2>>"$SCRATCH/lvm.err" | tr -d ' ' | sed 's/(.*//'
}

# lv_on_pv <vg> <lv> <pv> <when>: LVM's metadata has <vg>/<lv> on <pv>, and
# its live table maps <pv>.
lv_on_pv() {
	local on
	on=$(lv_pv "$1" "$2")
	[ "$on" = "$3" ] || fail "$4: LVM has $1/$2 on $on, not $3"
	[ "$(dmsetup table "$1-$2" | awk '{print $4}')" = "$(lsblk -dno MAJ:MIN "$3" | tr -d ' ')" ] ||
		fail "$4: $1-$2 maps $(dmsetup table "$1-$2"), not $3"
}

# What a device must read back. model_init <dev> <MiB>: its contents now.
# model_write <dev> <count> <when>: <count> acknowledged (O_DIRECT) 4 KiB
# writes of random data at random blocks, each applied to the model once
# it is acknowledged. model_check <dev> <when>: the device reads back the
# model.
MODEL=$SCRATCH/model
MODEL_WRITES=0
model_init() {
	MODEL_MIB=$2
	direct_read "$1" $(($2 << 20)) >"$MODEL"
}
model_write() {
	local i off
	for ((i = 0; i < $2; i++)); do
		off=$(((RANDOM * 32768 + RANDOM) % (MODEL_MIB * 256) * 4096))
		head -c 4096 /dev/urandom >"$SCRATCH/blk"
		write_range "$1" "$off" "$SCRATCH/blk" || fail "$3: write at $off failed"
		dd if="$SCRATCH/blk" of="$MODEL" bs=4096 seek=$((off / 4096)) conv=notrunc status=none
		MODEL_WRITES=$((MODEL_WRITES + 1))
	done
}
model_check() {
	cmp <(direct_read "$1" $((MODEL_MIB << 20))) "$MODEL" >/dev/null ||
		fail "$2: $1 does not read back the $MODEL_WRITES acknowledged writes"
}

# make_lv <vg> <lv> <MiB>: a linear LV, removed on exit with what a failed
# migration of it left behind (its iofollow helper goes after it).
make_lv() {
	echo "iofollow-src-$1-$2" >>"$DM_LIST"
	echo "$1-$2" >>"$DM_LIST"
	lvcreate -q -n "$2" -L "$3M" "$1" >/dev/null || fail "lvcreate $1/$2 failed"
	[ -b "/dev/mapper/$1-$2" ] || fail "/dev/mapper/$1-$2 is not a block device"
}

# --- metadata devices (`metadata <dev>`) ---

# md_bit <metadata dev> <block>: block's bit in the device's first bitmap
# page (metadata block 2, bits after a 16-byte header), read past the page
# cache.
md_bit() {
	local byte
	byte=$(dd if="$1" bs=4096 skip=2 count=1 iflag=direct status=none |
		od -An -tu1 -j $((16 + $2 / 8)) -N1 | tr -d ' ')
	echo $(((byte >> ($2 % 8)) & 1))
}

# md_first_recorded <metadata dev> [n]: the first (or n-th) block whose bit
# is set on it, in its first bitmap page.
md_first_recorded() {
	dd if="$1" bs=4096 skip=2 count=1 iflag=direct status=none |
		od -An -tu1 -v -j 16 | tr -s ' ' '\n' | grep -v '^$' |
		awk -v n="${2:-1}" '$1 > 0 { for (b = 0; b < 8; b++) if (int($1 / 2 ^ b) % 2 && ++k == n) { print (NR - 1) * 8 + b; exit } }'
}

# verified_writes <dev> <MiB> <io size> <seed>: fio's arguments for <io
# size> of random 4 KiB writes over the first <MiB> of <dev>, 100 a second,
# each checksummed (crc32c) so that --verify_only reads them back later.
# No disk statistics: fio reads them from the device's slaves, which a
# migration's table swap takes away under it ("stat: No such file or
# directory").
verified_writes() {
	echo --name=vm --filename="$1" --direct=1 --rw=randwrite --bs=4k --size="$2M" \
		--io_size="$3" --rate_iops=100 --verify=crc32c --verify_backlog=64 --verify_state_save=0 \
		--randseed="$4" --disk_util=0
}

# resumed_from_checkpoint <name> <tool output> <at least> <total> [<kind>]:
# iofollow-migrate carried the copy of <name> on from its checkpoint, and
# the target (its kernel log since kmsg_mark) resumed from the metadata's
# <kind> ("checkpoint", a clean one, by default; "last commit" after a
# crash) with at least <at least> of <total> blocks (those copied at a
# kill); KEPT is how many.
resumed_from_checkpoint() {
	local kind=${5:-checkpoint}
	grep -q "not written since they appeared: the copy goes on from the checkpoint" "$2" ||
		fail "$1: not carried on from the checkpoint: $(head -n 5 "$2")"
	KEPT=$(kmsg_since_mark | sed -n "s/.* $1 ([0-9]*:[0-9]*): resumed from the metadata's $kind [0-9]*: \([0-9]*\) of $4 blocks migrated.*/\1/p" | head -n 1)
	[ -n "$KEPT" ] || fail "$1: the target did not resume from the metadata's $kind: $(kmsg_since_mark | grep iofollow | tail -n 3)"
	[ "$KEPT" -ge "$3" ] || fail "$1: the checkpoint kept $KEPT blocks, fewer than $3"
}

# wait_recorded <name> <seconds>: polls until every migrated block is
# recorded on the metadata device (a commit every second at most).
wait_recorded() {
	local end=$((SECONDS + $2))
	until [ "$(stat_of "$1" recorded_blocks)" = "$(migrated_of "$1")" ]; do
		[ $SECONDS -lt $end ] || fail "recorded $(stat_of "$1" recorded_blocks) of $(migrated_of "$1") migrated blocks after $2 s"
		sleep 0.2
	done
}
