// SPDX-License-Identifier: GPL-2.0

//! iofollow-dump: prints what a dm-iofollow metadata device holds (format
//! version 1, Documentation/iofollow.rst "On-disk metadata"): both
//! superblock slots, the newest commit's geometry and device identities,
//! and the migrated bitmap's counts. Reads only.

mod device;
mod report;
#[cfg(test)]
mod tests;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Print the superblocks and migrated counts of a dm-iofollow metadata device.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// The metadata device (or an image of one).
    device: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let shown = cli.device.display();
    let mut dev = match device::Device::open(&cli.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("iofollow-dump: {shown}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sectors = dev.sectors();
    match report::Report::read(sectors, &mut |n| dev.block(n)) {
        Ok(r) => {
            print!("{r}");
            if r.refused() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("iofollow-dump: {shown}: {e}");
            ExitCode::FAILURE
        }
    }
}
