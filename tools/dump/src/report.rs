// SPDX-License-Identifier: GPL-2.0

//! What a metadata device holds, decoded by the policy core's format code
//! (`superblock.rs`, `bitmap_page.rs`), and its text form.

use iofollow_policy::bitmap_page::{decode_page, PageError};
use iofollow_policy::superblock::{
    newest, Found, Identity, LoadError, SlotError, Superblock, MBLOCK_BYTES, SUPERBLOCK_SLOTS,
};
use std::fmt::{self, Write as _};

/// One metadata block: `Ok(None)` past the end of the device.
pub type BlockRead<'a> = dyn FnMut(u64) -> std::io::Result<Option<[u8; MBLOCK_BYTES]>> + 'a;

/// The bitmap's pages, counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bitmap {
    /// Blocks whose bit is set in a valid page.
    pub migrated: u64,
    /// Pages read.
    pub valid: u64,
    /// Pages that fail their checksum: torn by a crash, read as not migrated.
    pub torn: u64,
    /// Checksummed pages of another index or with bits past the end.
    pub misplaced: u64,
}

/// Everything read from a device.
#[derive(Debug)]
pub struct Report {
    /// Device size, sectors.
    pub sectors: u64,
    /// Each superblock slot as decoded.
    pub slots: [Result<Superblock, SlotError>; 2],
    /// What the slots hold together.
    pub found: Result<Found, LoadError>,
    /// The bitmap of the newest superblock (None: no superblock, or the
    /// device is smaller than its layout).
    pub bitmap: Option<Bitmap>,
}

impl Report {
    /// Reads the slots and, under a valid superblock, every bitmap page.
    pub fn read(sectors: u64, block: &mut BlockRead<'_>) -> std::io::Result<Self> {
        let mut slot = |n: u64| -> std::io::Result<Result<Superblock, SlotError>> {
            Ok(match block(n)? {
                Some(b) => Superblock::decode(&b),
                None => Err(SlotError::Zeroed),
            })
        };
        let slots = [slot(0)?, slot(1)?];
        let mut found = newest(slots[0], slots[1]);
        let mut bitmap = None;
        if let Ok(Found::Superblock(sb)) = found {
            let layout = sb.layout();
            if sectors < layout.min_sectors() {
                found = Err(LoadError::TooSmall);
            } else {
                let mut b = Bitmap::default();
                for page in 0..layout.bitmap_pages {
                    let Some(data) = block(layout.page_mblock(page))? else {
                        break;
                    };
                    match decode_page(page, sb.geometry.nr_blocks, &data, |_| {}) {
                        Ok(n) => {
                            b.valid += 1;
                            b.migrated += n;
                        }
                        Err(PageError::Checksum) => b.torn += 1,
                        Err(PageError::Misplaced) => b.misplaced += 1,
                    }
                }
                bitmap = Some(b);
            }
        }
        Ok(Self {
            sectors,
            slots,
            found,
            bitmap,
        })
    }

    /// Whether the device would be refused by a table (exit status 1).
    pub fn refused(&self) -> bool {
        self.found.is_err() || self.bitmap.as_ref().is_some_and(|b| b.misplaced > 0)
    }
}

fn slot_text(s: &Result<Superblock, SlotError>) -> String {
    match s {
        Ok(sb) => format!("seq {}", sb.seq),
        Err(SlotError::Zeroed) => "zeroed".into(),
        Err(SlotError::NotMetadata) => "other data (no magic)".into(),
        Err(SlotError::Checksum) => "checksum mismatch (a torn write?)".into(),
        Err(SlotError::Version(v)) => format!("format version {v}, not read by this tool"),
        Err(SlotError::Malformed) => "malformed (checksummed, fields contradict)".into(),
    }
}

fn identity(id: &Identity) -> String {
    let tag = if id.tag == [0; 16] {
        "none".to_string()
    } else {
        id.tag.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    format!("{} sectors, tag {tag}", id.sectors)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "device: {} sectors", self.sectors)?;
        for (i, s) in self.slots.iter().enumerate() {
            writeln!(f, "slot {i}: {}", slot_text(s))?;
        }
        let sb = match &self.found {
            Err(e) => return writeln!(f, "error: {e}"),
            Ok(Found::Fresh) => {
                return writeln!(
                    f,
                    "fresh: both superblock slots are zero (a new metadata device)"
                )
            }
            Ok(Found::Superblock(sb)) => sb,
        };
        let g = &sb.geometry;
        writeln!(
            f,
            "superblock: seq {} in slot {} of {SUPERBLOCK_SLOTS}, clean shutdown {}, committed {}",
            sb.seq,
            sb.slot(),
            if sb.clean { "yes" } else { "no" },
            if sb.committed { "yes" } else { "no" }
        )?;
        writeln!(
            f,
            "geometry: block {} sectors, chunk {} sectors, {} blocks, target {} sectors",
            g.block_sectors, g.chunk_sectors, g.nr_blocks, g.target_sectors
        )?;
        writeln!(f, "source: {}", identity(&g.source))?;
        writeln!(f, "destination: {}", identity(&g.dest))?;
        let layout = sb.layout();
        writeln!(
            f,
            "bitmap: {} pages from metadata block {}",
            layout.bitmap_pages,
            layout.page_mblock(0)
        )?;
        if let Some(b) = &self.bitmap {
            writeln!(
                f,
                "migrated: {} of {} blocks in the bitmap, {} at the last commit",
                b.migrated, g.nr_blocks, sb.migrated_blocks
            )?;
            writeln!(
                f,
                "pages: {} valid, {} torn (read as not migrated), {} misplaced",
                b.valid, b.torn, b.misplaced
            )?;
        }
        Ok(())
    }
}
