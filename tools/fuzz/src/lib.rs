// SPDX-License-Identifier: GPL-2.0

//! The checks behind the fuzz targets, one function per target, so that the
//! regression inputs (`regressions/<target>/*`) replay on stable as tests.
//!
//! * `table`, `message`, `status`: the parsers never panic, and what they
//!   accept prints back to text they parse to the same value.
//! * `spc`: the simulator's SPC trace reader never panics, and what it
//!   accepts is sorted by time and within the span it reports.
//! * `blockmap`: `BlockMap` under an operation sequence decoded from the
//!   input agrees with a plain model (states, counters, searches) after
//!   every step.
//! * `metadata`: the metadata device's superblock and bitmap page readers
//!   never panic, and what they accept encodes back to the same bytes (the
//!   format has one spelling of every value).

#![forbid(unsafe_code)]

use iofollow_policy::bitmap_page::{decode_page, encode_page};
use iofollow_policy::copyrun::CopyRun;
use iofollow_policy::map::{BlockMap, BlockState, MapError};
use iofollow_policy::message::parse_message;
use iofollow_policy::status::StatusLine;
use iofollow_policy::superblock::{self, Superblock, MBLOCK_BYTES};
use iofollow_policy::table::{format_table, parse_table};

#[allow(dead_code, clippy::all)]
#[path = "../../sim/src/trace.rs"]
mod trace;

fn words(data: &[u8]) -> Option<Vec<&str>> {
    let text = core::str::from_utf8(data).ok()?;
    Some(text.split_whitespace().collect())
}

/// The table parser.
pub fn table(data: &[u8]) {
    let Some(args) = words(data) else { return };
    let Ok(cfg) = parse_table(&args) else { return };
    let mut line = String::new();
    format_table(&cfg, "253:0", "253:1", &mut line).expect("format");
    let toks: Vec<&str> = line.split(' ').collect();
    let back = parse_table(&toks).expect("printed table parses");
    let mut want = cfg;
    want.source = "253:0";
    want.dest = "253:1";
    assert_eq!(back, want, "round trip of {args:?}: {line}");
}

/// The message parser.
pub fn message(data: &[u8]) {
    let Some(args) = words(data) else { return };
    let Ok(msg) = parse_message(&args) else {
        return;
    };
    let text = msg.to_string();
    let toks: Vec<&str> = text.split(' ').collect();
    assert_eq!(parse_message(&toks), Ok(msg), "round trip of {args:?}");
}

/// The status line's parser.
pub fn status(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(line) = StatusLine::parse(text) else {
        return;
    };
    let printed = line.to_string();
    assert_eq!(
        StatusLine::parse(&printed),
        Ok(line),
        "round trip of {text:?}: {printed}"
    );
}

/// The SPC trace reader.
pub fn spc(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = trace::parse_spc(text) else {
        return;
    };
    for w in t.reqs.windows(2) {
        assert!(w[0].t_ns <= w[1].t_ns, "requests out of order");
    }
    for r in &t.reqs {
        assert!(r.sectors > 0, "empty request");
        assert!(
            r.lba
                .checked_add(r.sectors)
                .is_some_and(|e| e <= t.span_sectors),
            "request past the span"
        );
    }
}

/// The metadata readers: the input is a 4 KiB block (zero-padded), then
/// the page index and the map's block count for the bitmap page reader.
pub fn metadata(data: &[u8]) {
    let mut block = [0u8; MBLOCK_BYTES];
    let n = data.len().min(MBLOCK_BYTES);
    block[..n].copy_from_slice(&data[..n]);
    if let Ok(sb) = Superblock::decode(&block) {
        let mut again = [0xa5u8; MBLOCK_BYTES];
        sb.encode_into(&mut again);
        // A version 1 superblock is read, and written back as version 2.
        if block[8..12] == superblock::VERSION.to_le_bytes() {
            assert_eq!(again, block, "superblock round trip");
        }
        assert_eq!(Superblock::decode(&again), Ok(sb), "superblock re-read");
    }
    let tail = data.get(MBLOCK_BYTES..).unwrap_or(&[]);
    let word = |at: usize| {
        let mut w = [0u8; 8];
        for (i, b) in w.iter_mut().enumerate() {
            *b = tail.get(at + i).copied().unwrap_or(0);
        }
        u64::from_le_bytes(w)
    };
    // Small indexes and maps reach the checks past the checksum.
    let (index, nr_blocks) = (word(0) % 4, word(8) % (1 << 20));
    let mut set = std::collections::BTreeSet::new();
    if let Ok(count) = decode_page(index, nr_blocks, &block, |b| {
        assert!(set.insert(b), "block {b} set twice");
    }) {
        assert_eq!(count, set.len() as u64);
        assert!(set.iter().all(|&b| b < nr_blocks), "a block past the map");
        if block.iter().any(|&b| b != 0) {
            let again = encode_page(index, nr_blocks, |b| set.contains(&b));
            assert_eq!(again, block, "bitmap page round trip");
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Model {
    state: BlockState,
    copied: bool,
    redirty: bool,
}

/// `BlockMap` against a model.
pub fn blockmap(data: &[u8]) {
    let Some((&n, ops)) = data.split_first() else {
        return;
    };
    let n = u64::from(n) * 3 + 1; // 1..=766 chunks: several bitmap words and levels
    let words = BlockMap::<Vec<u64>>::words_needed(n).expect("size");
    let mut map = BlockMap::new(vec![0; words], n).expect("map");
    let mut model = vec![
        Model {
            state: BlockState::Unmigrated,
            copied: false,
            redirty: false
        };
        n as usize
    ];
    for op in ops.chunks(3) {
        let [kind, a, b] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let c = (u64::from(a) << 8 | u64::from(b)) % (n + 2); // sometimes out of range
        let m = model.get_mut(c as usize);
        match kind % 7 {
            0 => {
                let got = map.mark_in_flight(c);
                match m {
                    None => assert_eq!(got, Err(MapError::OutOfRange)),
                    Some(m) if matches!(m.state, BlockState::Unmigrated | BlockState::Dirty) => {
                        assert_eq!(got, Ok(()));
                        m.state = BlockState::InFlight;
                        m.redirty = false;
                    }
                    Some(_) => assert_eq!(got, Err(MapError::NotPending)),
                }
            }
            1 | 2 => {
                let ok = kind % 7 == 1;
                let got = map.complete(c, ok);
                match m {
                    None => assert_eq!(got, Err(MapError::OutOfRange)),
                    Some(m) if m.state == BlockState::InFlight => {
                        let new = if ok && !m.redirty {
                            m.copied = true;
                            BlockState::Migrated
                        } else if (ok && m.redirty) || m.copied {
                            m.copied = true;
                            BlockState::Dirty
                        } else {
                            BlockState::Unmigrated
                        };
                        m.state = new;
                        m.redirty = false;
                        assert_eq!(got, Ok(new));
                    }
                    Some(_) => assert_eq!(got, Err(MapError::NotInFlight)),
                }
            }
            3 => {
                let got = map.mark_written(c);
                match m {
                    None => assert_eq!(got, Err(MapError::OutOfRange)),
                    Some(m) => {
                        if m.state == BlockState::InFlight {
                            m.redirty = true;
                        }
                        assert_eq!(got, Ok(m.state));
                    }
                }
            }
            4 => {
                let got = map.mark_dirty(c);
                match m {
                    None => assert_eq!(got, Err(MapError::OutOfRange)),
                    Some(m) => {
                        match m.state {
                            BlockState::Migrated => m.state = BlockState::Dirty,
                            BlockState::InFlight => m.redirty = true,
                            _ => {}
                        }
                        assert_eq!(got, Ok(m.state));
                    }
                }
            }
            5 => {
                let want = model
                    .iter()
                    .filter(|m| m.state == BlockState::Migrated)
                    .count();
                for m in model.iter_mut().filter(|m| m.state == BlockState::Migrated) {
                    m.state = BlockState::Dirty;
                }
                assert_eq!(map.redirty_migrated(), want as u64);
            }
            _ => {
                // A copy run from `c` when it is pending, as the worker starts one.
                if c < n && map.state(c).is_some_and(BlockState::is_pending) {
                    map.mark_in_flight(c).expect("pending");
                    let run = map.extend_run(
                        CopyRun {
                            first: c,
                            blocks: u32::from(b % 17) + 1,
                        },
                        |x| x % 5 == 0,
                    );
                    for x in run.iter() {
                        let m = &mut model[x as usize];
                        assert!(matches!(
                            m.state,
                            BlockState::Unmigrated | BlockState::Dirty
                        ));
                        assert!(x == c || x % 5 != 0, "run over a blocked block");
                        m.state = BlockState::InFlight;
                        m.redirty = false;
                    }
                    if let Some(next) = model.get(run.end() as usize) {
                        let stopped = run.blocks == u32::from(b % 17) + 1
                            || !matches!(next.state, BlockState::Unmigrated | BlockState::Dirty)
                            || run.end() % 5 == 0;
                        assert!(stopped, "run {run:?} stopped early");
                    }
                }
            }
        }
        check(&map, &model, c);
    }
}

fn check(map: &BlockMap<Vec<u64>>, model: &[Model], probe: u64) {
    let count = |s: BlockState| model.iter().filter(|m| m.state == s).count() as u64;
    assert_eq!(map.nr_unmigrated(), count(BlockState::Unmigrated));
    assert_eq!(map.nr_dirty(), count(BlockState::Dirty));
    assert_eq!(map.nr_in_flight(), count(BlockState::InFlight));
    assert_eq!(map.nr_migrated(), count(BlockState::Migrated));
    assert_eq!(
        map.nr_pending(),
        count(BlockState::Unmigrated) + count(BlockState::Dirty)
    );
    assert_eq!(
        map.is_synced(),
        count(BlockState::Migrated) == model.len() as u64
    );
    let pending = |i: u64| model.get(i as usize).is_some_and(|m| m.state.is_pending());
    let n = model.len() as u64;
    for (i, m) in model.iter().enumerate() {
        assert_eq!(map.state(i as u64), Some(m.state), "chunk {i}");
    }
    assert_eq!(map.state(n), None);
    let from = probe.min(n + 1);
    assert_eq!(
        map.next_pending(from),
        (from..n).find(|&i| pending(i)),
        "next from {from}"
    );
    let back = from.min(n - 1);
    assert_eq!(
        map.prev_pending(back),
        (0..=back).rev().find(|&i| pending(i)),
        "prev from {back}"
    );
}

#[cfg(test)]
mod tests {
    /// The metadata seeds are valid, so the round trips run on them.
    #[test]
    fn metadata_seeds_decode() {
        use iofollow_policy::bitmap_page::decode_page;
        use iofollow_policy::superblock::{Superblock, MBLOCK_BYTES};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions/metadata");
        let read = |name: &str| -> [u8; MBLOCK_BYTES] {
            let data = std::fs::read(dir.join(name)).expect("seed");
            data[..MBLOCK_BYTES].try_into().expect("4 KiB")
        };
        let sb = Superblock::decode(&read("superblock-v1")).expect("a valid superblock");
        assert_eq!(sb.geometry.nr_blocks, 40000);
        let n = decode_page(1, 40000, &read("bitmap-page-1"), |_| {}).expect("a valid page");
        assert_eq!(n, (40000 - 32640 + 2) / 3);
    }

    /// Every saved input of every target (crashes found by `make fuzz` are
    /// copied here) passes its check.
    #[test]
    fn regressions() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 6] = [
            ("table", super::table),
            ("message", super::message),
            ("status", super::status),
            ("spc", super::spc),
            ("blockmap", super::blockmap),
            ("metadata", super::metadata),
        ];
        let mut n = 0;
        for (name, check) in targets {
            for entry in std::fs::read_dir(dir.join(name)).expect("regressions dir") {
                let path = entry.expect("entry").path();
                if path.file_name().is_some_and(|f| f == ".gitkeep") {
                    continue;
                }
                check(&std::fs::read(&path).expect("read input"));
                n += 1;
            }
        }
        assert!(n > 0, "no regression inputs");
    }
}
