// SPDX-License-Identifier: GPL-2.0

//! iofollow-migrate: moves a live device-mapper device (an LVM volume, or
//! any one-segment linear device under a running VM) to another block
//! device with dm-iofollow, then switches it over. See
//! Documentation/iofollow-migrate.rst.

mod blockdev;
mod control;
mod dm;
mod error;
mod plan;
mod status;
mod table;
#[cfg(test)]
mod tests;
mod ui;
mod verify;

use crate::control::{Observer, Outcome, RunOptions};
use crate::dm::{Dm, SystemDm};
use crate::error::{Error, Result};
use crate::table::CopyOptions;
use clap::{Args, Parser, Subcommand};
use iofollow_policy::ratio::Ratio;
use iofollow_policy::select::PolicyKind;
use iofollow_policy::table::parse_cache_mib;
use nix::sys::signal::{SigSet, Signal};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Move a live device-mapper device to another disk with dm-iofollow, and
/// switch it over once the copy is complete and durable.
#[derive(Parser, Debug)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    migrate: MigrateArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the migration's progress.
    Status {
        /// The device being migrated (dm name or path).
        device: String,
        /// One JSON object instead of words.
        #[arg(long)]
        json: bool,
    },
    /// Stop a migration and put the device's original table back.
    Abort {
        /// The device being migrated (dm name or path).
        device: String,
    },
}

#[derive(Args, Debug)]
struct MigrateArgs {
    /// The live device: a dm name, /dev/mapper/NAME, /dev/VG/LV or /dev/dm-N.
    #[arg(required = true)]
    device: Option<String>,
    /// The destination block device (at least as large; its data is overwritten).
    #[arg(required = true)]
    destination: Option<String>,
    /// Longest copy IO in KiB: a power of 2 from 4 to 8192.
    #[arg(long, default_value_t = 1024, value_name = "KiB")]
    chunk: u64,
    /// VM to copy requests while the VM is busy, V:M (default 2:1).
    #[arg(long, value_parser = parse_ratio, value_name = "V:M")]
    ratio: Option<Ratio>,
    /// Chunk selection: follow (the head) or sequential.
    #[arg(long, value_parser = parse_policy)]
    policy: Option<PolicyKind>,
    /// Migration-aware read cache in MiB (0 = off; default 64).
    #[arg(long, value_parser = parse_cache, value_name = "MiB")]
    cache: Option<u32>,
    /// Compare source and destination while suspended, before switching.
    #[arg(long)]
    verify: bool,
    /// Check everything and print the tables; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Progress as JSON lines on stdout.
    #[arg(long)]
    json: bool,
    /// Retries after the copy stops on an IO error, before giving up.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Move an LVM volume to a device that is not a physical volume of its
    /// group: LVM's metadata will still name the old one (see --help).
    #[arg(long)]
    raw_destination: bool,
    /// Overwrite a destination that holds a file system, a partition table,
    /// or a RAID, LVM or LUKS signature.
    #[arg(long)]
    force: bool,
}

fn parse_ratio(s: &str) -> std::result::Result<Ratio, String> {
    Ratio::parse(s).ok_or_else(|| format!("'{s}' is not V:M with V and M from 1 to 64"))
}

fn parse_policy(s: &str) -> std::result::Result<PolicyKind, String> {
    PolicyKind::from_name(s).ok_or_else(|| format!("'{s}' is not follow or sequential"))
}

fn parse_cache(s: &str) -> std::result::Result<u32, String> {
    parse_cache_mib(s).map_err(|e| e.message().to_string())
}

/// The dm name of `device`: a path to a dm device, `VG/LV`, or a dm name.
fn resolve_live(dm: &impl Dm, device: &str) -> Result<String> {
    if device.contains('/') {
        let path = if device.starts_with('/') {
            device.to_string()
        } else {
            format!("/dev/{device}")
        };
        let dev = blockdev::device_number(Path::new(&path))?;
        return dm
            .name_of(dev)?
            .ok_or_else(|| Error::new(format!("{device} is not a device-mapper device")));
    }
    Ok(device.to_string())
}

/// Loads dm-iofollow if the kernel does not have the target yet.
fn ensure_module(dm: &impl Dm) -> Result<()> {
    if !dm.target_types()?.iter().any(|t| t == "iofollow") {
        // A missing module is reported by the plan, with what to do.
        let _ = std::process::Command::new("modprobe")
            .args(["-q", "dm-iofollow"])
            .status();
    }
    Ok(())
}

/// Ctrl-C and SIGTERM ask the copy loop to stop; the loop puts the original
/// table back. They are blocked in every thread and taken by one that only
/// waits for them: a signal handler would interrupt the suspend ioctl (dm
/// waits for IO interruptibly, and fails it with EINTR) or the udev
/// semaphore, in the middle of a table swap.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block()
        .map_err(|e| Error::new(format!("cannot block SIGINT and SIGTERM: {e}")))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || loop {
        if let Ok(sig) = set.wait() {
            if flag.swap(true, Ordering::Relaxed) {
                eprintln!("iofollow-migrate: {sig} again: still putting the original table back");
            }
        }
    });
    Ok(stop)
}

fn migrate(args: &MigrateArgs) -> Result<ExitCode> {
    let (Some(device), Some(dest_path)) = (&args.device, &args.destination) else {
        return Err(Error::new("usage: iofollow-migrate <device> <destination>"));
    };
    let dm = SystemDm::open()?;
    let live = resolve_live(&dm, device)?;
    let dest = blockdev::device_number(Path::new(dest_path))?;
    ensure_module(&dm)?;
    let chunk_sectors = args.chunk.saturating_mul(2);
    let copy = CopyOptions {
        chunk_sectors,
        ratio: args.ratio,
        policy: args.policy,
        cache_mib: args.cache,
    };
    let allow = plan::Allow {
        raw_destination: args.raw_destination,
    };
    let plan = plan::plan(&dm, &blockdev::Sysfs, &live, dest, dest_path, copy, allow)?;
    blockdev::ensure_unused(Path::new(dest_path))?;
    if !args.force {
        let sig = blockdev::probe_signatures(Path::new(dest_path))?;
        if !sig.found.is_empty() {
            return Err(Error::new(format!(
                "{dest_path} holds {}: refusing to overwrite it (wipe it with wipefs, or pass --force)",
                sig.found.join(" and ")
            )));
        }
    }
    if plan.lvm_raw {
        eprintln!(
            "iofollow-migrate: warning: {} is an LVM volume moved to {dest_path}: {}",
            plan.live,
            plan::LVM_RAW_WARNING
        );
    }

    if args.dry_run {
        let helper_path = format!("/dev/mapper/{}", plan.helper);
        let t = plan.iofollow_table(&helper_path)?;
        let s = plan.switch_table();
        let o = &plan.original;
        println!(
            "{}: {} sectors, on disk {} from sector {}",
            plan.live, plan.len, plan.place.disk, plan.place.offset
        );
        println!(
            "create {}: {} {} {} {}",
            plan.helper, o.start, o.len, o.target, o.params
        );
        println!(
            "load {}: {} {} {} {}",
            plan.live, t.start, t.len, t.target, t.params
        );
        println!(
            "when synced, load {}: {} {} {} {}",
            plan.live, s.start, s.len, s.target, s.params
        );
        return Ok(ExitCode::SUCCESS);
    }

    let stop = stop_on_signals()?;
    let helper_path = format!("/dev/mapper/{}", plan.helper);
    let verify =
        |p: &plan::Plan| verify::compare(Path::new(&helper_path), Path::new(&p.dest_path), p.len);
    let opts = RunOptions {
        retries: args.retries,
        retry_ticks: 20,
        verify: if args.verify { Some(&verify) } else { None },
    };
    let mut ui = ui::Ui::new(&plan.live, plan.block_bytes(), args.json);
    match control::run(&dm, &plan, &mut ui, &stop, &opts)? {
        Outcome::Switched => {
            let how = if args.verify {
                "verified and switched"
            } else {
                "switched"
            };
            ui.done(
                "switched",
                &format!("{how}: {} now maps {}", plan.live, plan.dest_path),
            );
            if plan.lvm_raw {
                eprintln!(
                    "iofollow-migrate: warning: {} now maps {}, but {}",
                    plan.live,
                    plan.dest_path,
                    plan::LVM_RAW_WARNING
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Restored => {
            ui.done(
                "restored",
                &format!("interrupted: {} has its original table again", plan.live),
            );
            Ok(ExitCode::from(130))
        }
    }
}

fn show_status(device: &str, json: bool) -> Result<()> {
    let dm = SystemDm::open()?;
    let live = resolve_live(&dm, device)?;
    let (st, block_bytes) = control::status_and_block(&dm, &live)?;
    if json {
        println!("{}", status::json_line(&live, &st, block_bytes, None));
    } else {
        let pct = st
            .migrated
            .saturating_mul(100)
            .checked_div(st.total)
            .unwrap_or(100);
        println!(
            "{live}: {} {}/{} blocks ({pct}%), {} dirty, head at sector {}, policy {} ratio {}",
            st.state.as_str(),
            st.migrated,
            st.total,
            st.dirty,
            st.head,
            st.policy,
            st.ratio
        );
    }
    Ok(())
}

struct Notes;

impl Observer for Notes {
    fn progress(&mut self, _: &status::Status) {}
    fn note(&mut self, what: &str) {
        eprintln!("{what}");
    }
    fn tick(&mut self) {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Status { device, json }) => {
            show_status(device, *json).map(|()| ExitCode::SUCCESS)
        }
        Some(Command::Abort { device }) => SystemDm::open().and_then(|dm| {
            let live = resolve_live(&dm, device)?;
            control::abort(&dm, &live, &mut Notes)?;
            eprintln!("{live} has its original table again");
            Ok(ExitCode::SUCCESS)
        }),
        None => migrate(&cli.migrate),
    };
    result.unwrap_or_else(|e| {
        eprintln!("iofollow-migrate: {e}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod cli_tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("iofollow-migrate").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn migrate_is_the_default_command() {
        let cli = parse(&["vg0/vm7", "/dev/sdc"]).unwrap();
        assert!(cli.command.is_none());
        let m = cli.migrate;
        assert_eq!(
            (m.device.as_deref(), m.destination.as_deref()),
            (Some("vg0/vm7"), Some("/dev/sdc"))
        );
        assert_eq!(
            (m.chunk, m.retries, m.verify, m.dry_run, m.json),
            (1024, 3, false, false, false)
        );
        assert_eq!((m.ratio, m.policy, m.cache), (None, None, None));
    }

    #[test]
    fn options_go_through_the_policy_core_parsers() {
        let m = parse(&[
            "--ratio",
            "4:1",
            "--policy",
            "Sequential",
            "--cache",
            "0",
            "--verify",
            "a",
            "b",
        ])
        .unwrap()
        .migrate;
        assert_eq!(m.ratio, Ratio::new(4, 1));
        assert_eq!(m.policy, Some(PolicyKind::Sequential));
        assert_eq!(m.cache, Some(0));
        assert!(m.verify);
        for (args, want) in [
            (
                &["--ratio", "0:1", "a", "b"][..],
                "is not V:M with V and M from 1 to 64",
            ),
            (&["--ratio", "65:1", "a", "b"][..], "is not V:M"),
            (
                &["--policy", "lru", "a", "b"][..],
                "is not follow or sequential",
            ),
            (&["--cache=-1", "a", "b"][..], "Cache size is negative"),
            (&["--chunk", "x", "a", "b"][..], "invalid digit"),
            (&["a"][..], "required"),
            (&[][..], "required"),
        ] {
            let e = parse(args).err().unwrap_or_default();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn status_and_abort_are_subcommands() {
        match parse(&["status", "--json", "vg0/vm7"]).unwrap().command {
            Some(Command::Status { device, json }) => {
                assert_eq!((device.as_str(), json), ("vg0/vm7", true))
            }
            other => unreachable!("{other:?}"),
        }
        match parse(&["abort", "vg0-vm7"]).unwrap().command {
            Some(Command::Abort { device }) => assert_eq!(device, "vg0-vm7"),
            other => unreachable!("{other:?}"),
        }
        assert!(parse(&["abort"]).is_err());
    }
}
