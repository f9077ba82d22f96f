#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Every malformed table line is rejected with its own ti->error text.
. "$(dirname "$0")/../lib.sh"
load_module

src=$(make_loop 32)
dst=$(make_loop 32)
small=$(make_loop 16)
len=$(sectors "$src")
t="0 $len iofollow"

expect_rejected "$t $src $dst" "Invalid number of arguments"
expect_rejected "$t /dev/iofollow-no-such-device $dst 1024" "Error opening source device"
expect_rejected "$t $src /dev/iofollow-no-such-device 1024" "Error opening destination device"
expect_rejected "$t $src $dst 1000" "Chunk size is not a power of 2"
expect_rejected "$t $src $dst 0" "Invalid chunk size"
expect_rejected "$t $src $dst 4" "Invalid chunk size"
expect_rejected "$t $src $dst 12ab" "Invalid chunk size"
expect_rejected "$t $src $small 1024" "Destination device is smaller than the target"
expect_rejected "$t $small $dst 1024" "Source device is smaller than the target"
expect_rejected "$t $src $src 1024" "Source and destination are the same device"
expect_rejected "$t $src $dst 1024 1 ratio 2:1" "Invalid number of feature arguments"
expect_rejected "$t $src $dst 1024 3 paused" "Invalid number of feature arguments"
expect_rejected "$t $src $dst 1024 x paused" "Invalid number of feature arguments"
expect_rejected "$t $src $dst 1024 1 bogus" "Unknown feature argument"
expect_rejected "$t $src $dst 1024 2 paused paused" "Duplicate feature argument"
expect_rejected "$t $src $dst 1024 2 ratio 0:1" "Invalid ratio"
expect_rejected "$t $src $dst 1024 2 ratio 2-1" "Invalid ratio"
expect_rejected "$t $src $dst 1024 2 policy random" "Unknown policy"
expect_rejected "$t $src $dst 1024 2 cache -1" "Cache size is negative"
expect_rejected "$t $src $dst 1024 2 cache 999999999" "Cache size larger than 65536 MiB"
expect_rejected "$t $src $dst 1024 2 cache x" "Invalid cache size"
expect_rejected "$t $src $dst 1024 2 cache_eviction mru" "Unknown cache eviction: liveness or lru"
expect_rejected "$t $src $dst 1024 2 block 2048" "Invalid block size: a power of 2 from 8 to the chunk size"
expect_rejected "$t $src $dst 1024 2 block 96" "Invalid block size: a power of 2 from 8 to the chunk size"
expect_rejected "$t $src $dst 1024 2 block 4" "Invalid block size: a power of 2 from 8 to the chunk size"
expect_rejected "$t $src $dst 1024 3 no_read_at_head block" "Invalid number of feature arguments"
expect_rejected "$t $src $dst 1024 2 depth 0" "Invalid depth: 1 to 8"
expect_rejected "$t $src $dst 1024 2 depth 9" "Invalid depth: 1 to 8"
