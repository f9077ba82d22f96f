// SPDX-License-Identifier: GPL-2.0

//! The metadata device's layout and superblock, format version 2 (issue 26:
//! a migration that survives a reload, a reboot or a crash). Only the
//! format; `rust/migration/metadata.rs` reads and writes it.
//!
//! The device is cut into 4 KiB metadata blocks:
//!
//! | metadata block | holds |
//! |---|---|
//! | 0, 1 | the superblock, two slots: commit `seq` goes to slot `seq % 2` |
//! | 2 .. 2 + pages | the migrated bitmap ([`crate::policy::bitmap_page`]) |
//!
//! A commit writes the bitmap pages it changed, flushes, then writes the
//! superblock of the next `seq` into the other slot with FUA. A torn
//! superblock write leaves the previous slot valid ([`newest`]); a torn
//! bitmap page fails its checksum and counts as not migrated (copied again:
//! time, never data).
//!
//! The superblock, little-endian, every byte not listed zero:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `IOFOLLOW` |
//! | 8 | 4 | format version (2; version 1 is read too) |
//! | 12 | 4 | CRC-32C of the 4 KiB block with this field zero |
//! | 16 | 8 | commit sequence number |
//! | 24 | 4 | flags: bit 0 clean shutdown (no dirty region to copy again); bit 1 (version 2) committed: the bitmap is kept by commits during the copy, trusted without a clean shutdown |
//! | 32 | 4 | block size, sectors |
//! | 36 | 4 | chunk size, sectors (informational: a reload may change it) |
//! | 40 | 8 | number of blocks |
//! | 48 | 8 | target length, sectors |
//! | 56 | 8 | source size, sectors |
//! | 64 | 16 | source identity tag |
//! | 80 | 8 | destination size, sectors |
//! | 88 | 16 | destination identity tag |
//! | 104 | 8 | first bitmap page (metadata block) |
//! | 112 | 8 | bitmap pages |
//! | 120 | 8 | migrated blocks at this commit (for `iofollow-dump`) |
//!
//! The identity tags catch a swapped device of the same size (dm-clone
//! keeps a UUID field it never checks): the target derives them from the
//! device ([`Identity::of`] a dm UUID or a partition UUID), zeros when it has
//! none, and a tag that differs fails the table.

use crate::policy::bitmap_page::BITS_PER_PAGE;
use crate::policy::crc32c::checksum;
pub use crate::policy::mblock::MBLOCK_BYTES;
use crate::policy::mblock::{crc_without_field, get, get_u32, get_u64, put};
use core::fmt;
/// Sectors of a metadata block.
pub const MBLOCK_SECTORS: u64 = 8;
/// First bytes of a superblock.
pub const MAGIC: [u8; 8] = *b"IOFOLLOW";
/// The format this code writes (and reads, with [`VERSION_CLEAN_ONLY`]).
pub const VERSION: u32 = 2;
/// The first format: a clean checkpoint only, no `committed` flag.
pub const VERSION_CLEAN_ONLY: u32 = 1;
/// Superblock slots, at metadata blocks 0 and 1.
pub const SUPERBLOCK_SLOTS: u64 = 2;

const FLAG_CLEAN: u32 = 1;
const FLAG_COMMITTED: u32 = 2;
/// Offset of the checksum field.
const CRC_AT: usize = 12;

/// Where everything is on a metadata device for `nr_blocks` blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Bitmap pages.
    pub bitmap_pages: u64,
}

impl Layout {
    /// The layout for a map of `nr_blocks` blocks.
    pub const fn for_blocks(nr_blocks: u64) -> Self {
        Self {
            bitmap_pages: nr_blocks.div_ceil(BITS_PER_PAGE),
        }
    }

    /// Metadata block of bitmap page `page`.
    pub const fn page_mblock(&self, page: u64) -> u64 {
        SUPERBLOCK_SLOTS.saturating_add(page)
    }

    /// Metadata blocks in all.
    pub const fn mblocks(&self) -> u64 {
        self.page_mblock(self.bitmap_pages)
    }

    /// The smallest metadata device that holds it, in sectors.
    pub const fn min_sectors(&self) -> u64 {
        self.mblocks().saturating_mul(MBLOCK_SECTORS)
    }
}

/// Size and identity tag of a source or destination device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Size, sectors.
    pub sectors: u64,
    /// Stable identifier derived from the device, zeros when it has none.
    pub tag: [u8; 16],
}

impl Identity {
    /// The identity of a device of `sectors` whose stable identifier (a dm
    /// UUID, a partition UUID) is `id`: the tag is four CRC-32Cs of it, each
    /// behind a different first byte, so that identifiers sharing a long
    /// prefix (the LVs of one VG: `LVM-<vg uuid><lv uuid>`) differ; zeros
    /// for a device without one.
    pub fn of(sectors: u64, id: &[u8]) -> Self {
        let mut tag = [0u8; 16];
        if !id.is_empty() {
            for (i, word) in tag.chunks_exact_mut(4).enumerate() {
                let salt = [u8::try_from(i).unwrap_or(0)];
                word.copy_from_slice(&checksum(&[&salt, id]).to_le_bytes());
            }
        }
        Self { sectors, tag }
    }
}

/// What a metadata device was written for: a table must match it to resume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Block size, sectors.
    pub block_sectors: u32,
    /// Chunk size, sectors.
    pub chunk_sectors: u32,
    /// Number of blocks.
    pub nr_blocks: u64,
    /// Target length, sectors.
    pub target_sectors: u64,
    /// The source device.
    pub source: Identity,
    /// The destination device.
    pub dest: Identity,
}

/// One commit's superblock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Superblock {
    /// Commit sequence number: higher is newer; lives in slot `seq % 2`.
    pub seq: u64,
    /// Written by a clean shutdown: no region is dirty.
    pub clean: bool,
    /// The bitmap is kept by commits while the table runs: every bit set in
    /// it stands for a block equal and durable on both devices, clean
    /// shutdown or not ([`crate::policy::commit`]).
    pub committed: bool,
    /// What it was written for.
    pub geometry: Geometry,
    /// Migrated blocks in the bitmap at this commit.
    pub migrated_blocks: u64,
}

/// Why a superblock slot was not read as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// All zeros: never written.
    Zeroed,
    /// Not zeros and no magic: another program's data, or a torn write.
    NotMetadata,
    /// The magic, but the checksum does not match.
    Checksum,
    /// The magic, the checksum, a version this code does not read.
    Version(u32),
    /// Checksummed, but its fields contradict each other.
    Malformed,
}

/// What a metadata device holds, from its two slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Both slots zero: a new device, to be formatted.
    Fresh,
    /// The newest valid superblock.
    Superblock(Superblock),
}

/// Why a metadata device cannot be used: each a table's `ti->error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// Neither slot is a superblock, one holds other data.
    NotMetadata,
    /// Neither slot has a valid checksum.
    Checksum,
    /// A version this code does not read.
    Version(u32),
    /// A checksummed superblock whose fields contradict each other.
    Malformed,
    /// The device is smaller than its layout.
    TooSmall,
    /// The table's block size differs from the metadata's.
    BlockSize,
    /// The table's length differs from the metadata's.
    Length,
    /// The source's size differs.
    SourceSize,
    /// The source's identity tag differs.
    SourceIdentity,
    /// The destination's size differs.
    DestSize,
    /// The destination's identity tag differs.
    DestIdentity,
}

impl LoadError {
    /// The table's error message, NUL-terminated for the kernel's `ti->error`.
    pub const fn c_message(self) -> &'static core::ffi::CStr {
        match self {
            Self::NotMetadata => {
                c"Metadata device holds other data (zero its first 8 KiB to use it)"
            }
            Self::Checksum => c"Metadata superblock checksum mismatch",
            Self::Version(_) => c"Unsupported metadata version",
            Self::Malformed => c"Metadata superblock is malformed",
            Self::TooSmall => c"Metadata device is too small",
            Self::BlockSize => c"Metadata block size differs from the table's",
            Self::Length => c"Metadata was written for a target of another length",
            Self::SourceSize => c"Metadata source size differs: another source device?",
            Self::SourceIdentity => c"Metadata source identity differs: another source device?",
            Self::DestSize => c"Metadata destination size differs: another destination device?",
            Self::DestIdentity => {
                c"Metadata destination identity differs: another destination device?"
            }
        }
    }

    /// The table's error message.
    pub fn as_str(self) -> &'static str {
        // Every message is ASCII, so the conversion cannot fail.
        self.c_message().to_str().unwrap_or("Invalid metadata")
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(v) => write!(f, "{} {v}", self.as_str()),
            _ => f.write_str(self.as_str()),
        }
    }
}

fn block_crc(block: &[u8; MBLOCK_BYTES]) -> u32 {
    crc_without_field(block, CRC_AT)
}

impl Superblock {
    /// The layout its geometry implies.
    pub const fn layout(&self) -> Layout {
        Layout::for_blocks(self.geometry.nr_blocks)
    }

    /// The slot (0 or 1) this superblock is written to.
    pub const fn slot(&self) -> u64 {
        self.seq % SUPERBLOCK_SLOTS
    }

    /// Writes the 4 KiB block into `out` (the caller's buffer: a block on
    /// the stack is too large for a kernel frame).
    pub fn encode_into(&self, out: &mut [u8; MBLOCK_BYTES]) {
        let g = &self.geometry;
        let b = out;
        b.fill(0);
        put(b, 0, &MAGIC);
        put(b, 8, &VERSION.to_le_bytes());
        put(b, 16, &self.seq.to_le_bytes());
        let flags = if self.clean { FLAG_CLEAN } else { 0 }
            | if self.committed { FLAG_COMMITTED } else { 0 };
        put(b, 24, &flags.to_le_bytes());
        put(b, 32, &g.block_sectors.to_le_bytes());
        put(b, 36, &g.chunk_sectors.to_le_bytes());
        put(b, 40, &g.nr_blocks.to_le_bytes());
        put(b, 48, &g.target_sectors.to_le_bytes());
        put(b, 56, &g.source.sectors.to_le_bytes());
        put(b, 64, &g.source.tag);
        put(b, 80, &g.dest.sectors.to_le_bytes());
        put(b, 88, &g.dest.tag);
        let layout = self.layout();
        put(b, 104, &layout.page_mblock(0).to_le_bytes());
        put(b, 112, &layout.bitmap_pages.to_le_bytes());
        put(b, 120, &self.migrated_blocks.to_le_bytes());
        let crc = block_crc(b);
        put(b, CRC_AT, &crc.to_le_bytes());
    }

    /// Reads one slot.
    pub fn decode(b: &[u8; MBLOCK_BYTES]) -> Result<Self, SlotError> {
        if get::<8>(b, 0) != MAGIC {
            return Err(if b.iter().all(|&x| x == 0) {
                SlotError::Zeroed
            } else {
                SlotError::NotMetadata
            });
        }
        if get_u32(b, CRC_AT) != block_crc(b) {
            return Err(SlotError::Checksum);
        }
        let version = get_u32(b, 8);
        let known_flags = match version {
            VERSION => FLAG_CLEAN | FLAG_COMMITTED,
            VERSION_CLEAN_ONLY => FLAG_CLEAN,
            _ => return Err(SlotError::Version(version)),
        };
        let flags = get_u32(b, 24);
        let geometry = Geometry {
            block_sectors: get_u32(b, 32),
            chunk_sectors: get_u32(b, 36),
            nr_blocks: get_u64(b, 40),
            target_sectors: get_u64(b, 48),
            source: Identity {
                sectors: get_u64(b, 56),
                tag: get(b, 64),
            },
            dest: Identity {
                sectors: get_u64(b, 80),
                tag: get(b, 88),
            },
        };
        let sb = Self {
            seq: get_u64(b, 16),
            clean: flags & FLAG_CLEAN != 0,
            committed: flags & FLAG_COMMITTED != 0,
            geometry,
            migrated_blocks: get_u64(b, 120),
        };
        let layout = sb.layout();
        let consistent = flags & !known_flags == 0
            && get_u32(b, 28) == 0
            && geometry.block_sectors.is_power_of_two()
            && geometry.chunk_sectors.is_power_of_two()
            && geometry.chunk_sectors >= geometry.block_sectors
            && geometry.nr_blocks
                == geometry
                    .target_sectors
                    .div_ceil(u64::from(geometry.block_sectors))
            && geometry.nr_blocks != 0
            && geometry.source.sectors >= geometry.target_sectors
            && geometry.dest.sectors >= geometry.target_sectors
            && get_u64(b, 104) == layout.page_mblock(0)
            && get_u64(b, 112) == layout.bitmap_pages
            && sb.migrated_blocks <= geometry.nr_blocks
            && b.get(128..)
                .is_some_and(|rest| rest.iter().all(|&x| x == 0));
        if consistent {
            Ok(sb)
        } else {
            Err(SlotError::Malformed)
        }
    }

    /// Whether its bitmap may be trusted: written by a clean shutdown, or
    /// kept by commits.
    pub const fn trusted(&self) -> bool {
        self.clean || self.committed
    }

    /// Whether a table of geometry `want` may resume from it; the chunk
    /// size may differ (it sizes copy IOs, not the map).
    pub fn check(&self, want: &Geometry) -> Result<(), LoadError> {
        let g = &self.geometry;
        if g.block_sectors != want.block_sectors {
            Err(LoadError::BlockSize)
        } else if g.target_sectors != want.target_sectors || g.nr_blocks != want.nr_blocks {
            Err(LoadError::Length)
        } else if g.source.sectors != want.source.sectors {
            Err(LoadError::SourceSize)
        } else if g.source.tag != want.source.tag {
            Err(LoadError::SourceIdentity)
        } else if g.dest.sectors != want.dest.sectors {
            Err(LoadError::DestSize)
        } else if g.dest.tag != want.dest.tag {
            Err(LoadError::DestIdentity)
        } else {
            Ok(())
        }
    }
}

/// What the two slots hold together: the newest valid superblock; a slot
/// that is torn (no magic, a bad checksum) beside a valid one is the
/// interrupted next commit, not an error.
pub fn newest(
    a: Result<Superblock, SlotError>,
    b: Result<Superblock, SlotError>,
) -> Result<Found, LoadError> {
    match (a, b) {
        (Ok(x), Ok(y)) => Ok(Found::Superblock(if y.seq > x.seq { y } else { x })),
        (Ok(x), Err(_)) | (Err(_), Ok(x)) => Ok(Found::Superblock(x)),
        (Err(SlotError::Zeroed), Err(SlotError::Zeroed)) => Ok(Found::Fresh),
        (Err(x), Err(y)) => Err(match (x, y) {
            (SlotError::Version(v), _) | (_, SlotError::Version(v)) => LoadError::Version(v),
            (SlotError::Malformed, _) | (_, SlotError::Malformed) => LoadError::Malformed,
            (SlotError::Checksum, _) | (_, SlotError::Checksum) => LoadError::Checksum,
            _ => LoadError::NotMetadata,
        }),
    }
}

/// Reads a metadata device of `device_sectors` from its two slots, for a
/// table of geometry `want`: the superblock to resume from, or `Fresh`.
pub fn load(
    slot0: &[u8; MBLOCK_BYTES],
    slot1: &[u8; MBLOCK_BYTES],
    device_sectors: u64,
    want: &Geometry,
) -> Result<Found, LoadError> {
    if device_sectors < Layout::for_blocks(want.nr_blocks).min_sectors() {
        return Err(LoadError::TooSmall);
    }
    let found = newest(Superblock::decode(slot0), Superblock::decode(slot1))?;
    if let Found::Superblock(sb) = &found {
        sb.check(want)?;
    }
    Ok(found)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;

    fn enc(s: &Superblock) -> [u8; MBLOCK_BYTES] {
        let mut b = [0xa5u8; MBLOCK_BYTES];
        s.encode_into(&mut b);
        b
    }

    fn geometry() -> Geometry {
        Geometry {
            block_sectors: 128,
            chunk_sectors: 2048,
            nr_blocks: 16384,
            target_sectors: 16384 * 128,
            source: Identity {
                sectors: 16384 * 128,
                tag: *b"LVM-src-uuid-001",
            },
            dest: Identity {
                sectors: 16384 * 128 + 8,
                tag: [0; 16],
            },
        }
    }

    fn sb(seq: u64) -> Superblock {
        Superblock {
            seq,
            clean: seq % 3 == 0,
            committed: seq % 2 == 0,
            geometry: geometry(),
            migrated_blocks: 1000,
        }
    }

    #[test]
    fn round_trip_and_fields_at_their_offsets() {
        let s = sb(7);
        let b = enc(&s);
        assert_eq!(Superblock::decode(&b), Ok(s));
        assert_eq!(&b[0..8], b"IOFOLLOW");
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 2);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 0);
        let c = enc(&sb(6));
        assert_eq!(u32::from_le_bytes(c[24..28].try_into().unwrap()), 3);
        assert_eq!(&b[64..80], b"LVM-src-uuid-001");
        assert_eq!(u64::from_le_bytes(b[104..112].try_into().unwrap()), 2);
        assert_eq!(u64::from_le_bytes(b[112..120].try_into().unwrap()), 1);
        assert!(b[128..].iter().all(|&x| x == 0));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let b = enc(&sb(3));
        for byte in 0..MBLOCK_BYTES {
            for bit in 0..8 {
                let mut c = b;
                c[byte] ^= 1 << bit;
                assert!(Superblock::decode(&c).is_err(), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn slots() {
        let zero = [0u8; MBLOCK_BYTES];
        let g = geometry();
        let dev = Layout::for_blocks(g.nr_blocks).min_sectors();
        assert_eq!(load(&zero, &zero, dev, &g), Ok(Found::Fresh));
        // The newer commit wins, in either slot.
        let (s4, s5) = (sb(4), sb(5));
        assert_eq!(
            load(&enc(&s4), &enc(&s5), dev, &g),
            Ok(Found::Superblock(s5))
        );
        assert_eq!(
            load(&enc(&sb(6)), &enc(&s5), dev, &g),
            Ok(Found::Superblock(sb(6)))
        );
        // A torn next commit leaves the last one.
        let mut torn = enc(&sb(6));
        torn[200] = 1;
        assert_eq!(load(&torn, &enc(&s5), dev, &g), Ok(Found::Superblock(s5)));
        let mut half = [0u8; MBLOCK_BYTES];
        half[512..].copy_from_slice(&enc(&sb(6))[512..]);
        assert_eq!(load(&half, &enc(&s5), dev, &g), Ok(Found::Superblock(s5)));
        // Neither valid.
        assert_eq!(load(&torn, &zero, dev, &g), Err(LoadError::Checksum));
        let mut other = [0u8; MBLOCK_BYTES];
        other[1080] = 0x53; // an ext4 magic's neighbourhood: someone's data
        assert_eq!(load(&other, &zero, dev, &g), Err(LoadError::NotMetadata));
        assert_eq!(
            load(&zero, &enc(&s5), dev - 1, &g),
            Err(LoadError::TooSmall)
        );
    }

    #[test]
    fn versions_and_malformed_fields() {
        let with = |s: &Superblock, version: u8, flags: u8| {
            let mut b = enc(s);
            b[8] = version;
            b[24] = flags;
            let crc = block_crc(&b);
            b[12..16].copy_from_slice(&crc.to_le_bytes());
            b
        };
        let b = with(&sb(1), 3, 0);
        assert_eq!(Superblock::decode(&b), Err(SlotError::Version(3)));
        let zero = [0u8; MBLOCK_BYTES];
        let e = newest(Superblock::decode(&b), Superblock::decode(&zero)).unwrap_err();
        assert_eq!(std::format!("{e}"), "Unsupported metadata version 3");
        // Version 1 (a clean checkpoint only) is read; its flags know no
        // `committed`, and no version knows bit 2.
        let v1 = Superblock::decode(&with(&sb(3), 1, 1)).unwrap();
        assert!(v1.clean && !v1.committed && v1.trusted());
        assert_eq!(
            Superblock::decode(&with(&sb(3), 1, 2)),
            Err(SlotError::Malformed)
        );
        assert_eq!(
            Superblock::decode(&with(&sb(3), 2, 4)),
            Err(SlotError::Malformed)
        );
        let committed = Superblock::decode(&with(&sb(1), 2, 2)).unwrap();
        assert!(!committed.clean && committed.trusted());
        assert!(!Superblock::decode(&with(&sb(1), 2, 0)).unwrap().trusted());

        let mut bad = sb(1);
        bad.geometry.nr_blocks += 1;
        assert_eq!(Superblock::decode(&enc(&bad)), Err(SlotError::Malformed));
        let mut bad = sb(1);
        bad.geometry.block_sectors = 96;
        assert_eq!(Superblock::decode(&enc(&bad)), Err(SlotError::Malformed));
        let mut bad = sb(1);
        bad.migrated_blocks = bad.geometry.nr_blocks + 1;
        assert_eq!(Superblock::decode(&enc(&bad)), Err(SlotError::Malformed));
    }

    #[test]
    fn a_table_resumes_only_what_it_wrote() {
        let s = sb(9);
        let g = geometry();
        assert_eq!(s.check(&g), Ok(()));
        let mut w = g;
        w.chunk_sectors = 512;
        assert_eq!(s.check(&w), Ok(()), "a new chunk size is fine");
        let cases: [(fn(&mut Geometry), LoadError); 6] = [
            (|w| w.block_sectors = 256, LoadError::BlockSize),
            (|w| w.target_sectors -= 128, LoadError::Length),
            (|w| w.source.sectors += 8, LoadError::SourceSize),
            (|w| w.source.tag[0] ^= 1, LoadError::SourceIdentity),
            (|w| w.dest.sectors -= 8, LoadError::DestSize),
            (|w| w.dest.tag = [1; 16], LoadError::DestIdentity),
        ];
        for (change, want) in cases {
            let mut w = g;
            change(&mut w);
            assert_eq!(s.check(&w), Err(want));
        }
    }

    #[test]
    fn identity_tags_tell_volumes_of_one_group_apart() {
        assert_eq!(Identity::of(8, b"").tag, [0; 16]);
        let vg = "LVM-zOfG3pAhY2qs0Zk8bVqCzWvlBTQaD9Hq";
        let a = Identity::of(
            8,
            std::format!("{vg}Xb4Ijh1Ts0ZeuD5ZO0XLkHcmEwIUTWSk").as_bytes(),
        );
        let b = Identity::of(
            8,
            std::format!("{vg}hS1cvkcXaX6bVR8Q0M1oUlfp3ZrsRDIS").as_bytes(),
        );
        assert_ne!(a.tag, b.tag);
        assert_ne!(a.tag, [0; 16]);
        assert_eq!(
            a,
            Identity::of(
                8,
                std::format!("{vg}Xb4Ijh1Ts0ZeuD5ZO0XLkHcmEwIUTWSk").as_bytes()
            )
        );
    }

    #[test]
    fn layout() {
        assert_eq!(Layout::for_blocks(1).bitmap_pages, 1);
        assert_eq!(Layout::for_blocks(BITS_PER_PAGE).bitmap_pages, 1);
        assert_eq!(Layout::for_blocks(BITS_PER_PAGE + 1).bitmap_pages, 2);
        // 1 TiB in 64 KiB blocks: 16 Mi blocks, 515 pages, about 2 MiB.
        let l = Layout::for_blocks(1 << 24);
        assert_eq!(l.bitmap_pages, 515);
        assert_eq!(l.min_sectors(), (2 + 515) * 8);
    }
}
