// SPDX-License-Identifier: GPL-2.0

//! iofollow-migrate: moves a live device-mapper device (an LVM volume, or
//! any one-segment linear device under a running VM) to another block
//! device with dm-iofollow, then switches it over. See
//! Documentation/iofollow-migrate.rst.

mod blockdev;
mod checkpoint;
mod command;
mod control;
mod dm;
mod error;
mod lvm;
mod lvm_text;
mod plan;
mod record;
mod status;
mod table;
#[cfg(test)]
mod tests;
mod ui;
mod verify;

use crate::blockdev::Blocks;
use crate::control::{Observer, Outcome, RunOptions};
use crate::dm::{Dm, SystemDm};
use crate::error::{Error, Result};
use crate::table::CopyOptions;
use clap::{Args, Parser, Subcommand};
use iofollow_policy::message::Message;
use iofollow_policy::ratio::Ratio;
use iofollow_policy::select::PolicyKind;
use iofollow_policy::table::{parse_cache_mib, DiskId};
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
    after_help = "Examples:
  iofollow-migrate migrate vg0/vm7 /dev/sdc      (a PV of vg0: LVM's metadata follows)
  iofollow-migrate migrate --raw-destination --verify vg0/vm7 /dev/nbd0
  iofollow-migrate --json status vg0/vm7
  iofollow-migrate status
  iofollow-migrate set vg0/vm7 --ratio 8:1
  iofollow-migrate resume vg0/vm7                (after the run was killed or a
                                                 reboot; or the same migrate again)
  iofollow-migrate abort vg0/vm7

Exit status: 0 done, 1 error, 2 bad usage, 130 interrupted (original table back).
See Documentation/iofollow-migrate.rst."
)]
struct Cli {
    /// JSON lines on stdout (progress, events) instead of words.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Copy a live device to the destination and switch it over.
    Migrate(MigrateArgs),
    /// Print a migration's progress; without a device, every migration's.
    Status {
        /// The device being migrated (dm name or path).
        device: Option<String>,
    },
    /// Change the ratio, deadline or cache of a running migration.
    Set(SetArgs),
    /// Carry on a migration that a run which has gone left copying, or
    /// whose table went with a reboot (from its checkpoint), to its
    /// switch-over.
    Resume(ResumeArgs),
    /// Stop a migration and put the device's original table back.
    Abort {
        /// The device being migrated (dm name or path).
        device: String,
    },
}

#[derive(Args, Debug)]
struct MigrateArgs {
    /// The live device: a dm name, VG/LV, /dev/VG/LV, /dev/mapper/NAME or /dev/dm-N.
    device: String,
    /// The destination: a physical volume of the LVM volume's group, or a
    /// block device (at least as large; its data is overwritten).
    destination: String,
    /// Longest copy IO in KiB: a power of 2 from 4 to 8192.
    #[arg(long, default_value_t = 1024, value_name = "KiB")]
    chunk: u64,
    /// VM to copy requests while the VM is busy, V:M with V and M from 1 to 64 (default 2:1).
    #[arg(long, value_parser = parse_ratio, value_name = "V:M")]
    ratio: Option<Ratio>,
    /// Chunk selection (default follow).
    #[arg(long, ignore_case = true, value_parser = policy_values())]
    policy: Option<PolicyKind>,
    /// Migration-aware read cache in MiB (0 = off; default 64).
    #[arg(long, value_parser = parse_cache, value_name = "MiB")]
    cache: Option<u32>,
    /// Finish the copy within this many seconds: the copy's share rises
    /// above the ratio only as far as the remaining data needs.
    #[arg(long, value_parser = parse_deadline_s, value_name = "SECONDS")]
    deadline: Option<u32>,
    /// Share one head model with the other volumes of the source's disk
    /// being migrated (the `disk` feature). Off by default: with three VMs
    /// moving off one disk, a model per device served them 15-19 % better
    /// (Documentation/results.rst).
    #[arg(long)]
    shared_head: bool,
    /// Compare source and destination while suspended, before switching
    /// (the VM's IO waits for the whole comparison).
    #[arg(long)]
    verify: bool,
    /// Check everything and print the tables (or, for a device left
    /// copying, what it would carry on); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Retries after the copy stops on an IO error, before giving up.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Move an LVM volume to a device that is not a physical volume: LVM's
    /// metadata will still name the old one. (To a PV of its own group no
    /// option is needed: the metadata follows.)
    #[arg(long)]
    raw_destination: bool,
    /// Overwrite a destination that holds a file system, a partition table,
    /// or a RAID, LVM or LUKS signature.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct ResumeArgs {
    /// The device being migrated (dm name or path).
    device: String,
    /// Compare source and destination while suspended, before switching
    /// (the VM's IO waits for the whole comparison).
    #[arg(long)]
    verify: bool,
    /// Retries after the copy stops on an IO error, before giving up.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Carry a migration whose table is gone on over a destination that
    /// now holds a file system, a partition table or a signature the
    /// source does not.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct SetArgs {
    /// The device being migrated (dm name or path).
    device: String,
    /// VM to copy requests while the VM is busy, V:M with V and M from 1 to 64.
    #[arg(long, value_parser = parse_ratio, value_name = "V:M")]
    ratio: Option<Ratio>,
    /// Finish the copy within this many seconds from now (0: no deadline).
    #[arg(long, value_parser = parse_deadline_or_none, value_name = "SECONDS")]
    deadline: Option<u32>,
    /// Migration-aware read cache in MiB (0 = off; resizing empties it).
    #[arg(long, value_parser = parse_cache, value_name = "MiB")]
    cache: Option<u32>,
}

impl SetArgs {
    /// The target messages that make the change, in a fixed order.
    fn messages(&self) -> Vec<Message> {
        let mut m = Vec::new();
        m.extend(self.ratio.map(Message::Ratio));
        m.extend(self.deadline.map(Message::Deadline));
        m.extend(self.cache.map(Message::Cache));
        m
    }
}

/// `--policy`'s values, from the policy core's names (shown by `--help`).
fn policy_values() -> impl clap::builder::TypedValueParser<Value = PolicyKind> {
    use clap::builder::TypedValueParser;
    let names = PolicyKind::ALL.map(PolicyKind::name);
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| PolicyKind::from_name(&name).unwrap_or_default())
}

fn parse_ratio(s: &str) -> std::result::Result<Ratio, String> {
    Ratio::parse(s).ok_or_else(|| format!("'{s}' is not V:M with V and M from 1 to 64"))
}

/// A deadline for `set`: 0 takes the deadline away.
fn parse_deadline_or_none(s: &str) -> std::result::Result<u32, String> {
    iofollow_policy::deadline::parse_deadline(s)
        .ok_or_else(|| format!("'{s}' is not a number of seconds from 0 to 31622400"))
}

fn parse_deadline_s(s: &str) -> std::result::Result<u32, String> {
    iofollow_policy::deadline::parse_deadline(s)
        .filter(|&d| d > 0)
        .ok_or_else(|| format!("'{s}' is not a number of seconds from 1 to 31622400"))
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
        if !Path::new(&path).exists() {
            let what = if device.starts_with('/') {
                format!("{device} does not exist")
            } else {
                format!("no logical volume {device} ({path} does not exist; see 'lvs')")
            };
            return Err(Error::new(what));
        }
        let dev = blockdev::device_number(Path::new(&path))?;
        return dm
            .name_of(dev)?
            .ok_or_else(|| Error::new(format!("{device} is not a device-mapper device")));
    }
    Ok(device.to_string())
}

/// Held by the run migrating a device, so that `abort` (or a second run)
/// does not act under it: a flock on `/run/lock/iofollow-migrate.<dev>`.
struct RunLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl RunLock {
    fn take(live: &str) -> Result<Self> {
        let dir = Path::new("/run/lock");
        let dir = if dir.is_dir() {
            dir.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("iofollow-migrate.{live}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| match e {
                nix::errno::Errno::EWOULDBLOCK => Error::new(format!(
                    "{live} is already being migrated by iofollow-migrate (a run holds {}): \
                     stop that run (Ctrl-C) first",
                    path.display()
                )),
                e => Error::new(format!("cannot lock {}: {e}", path.display())),
            })?;
        Ok(Self { _lock: lock })
    }
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

/// Ctrl-C, SIGTERM and SIGHUP (the terminal went away) ask the copy loop to
/// stop; the loop puts the original table back. They are blocked in every thread and taken by one that only
/// waits for them: a signal handler would interrupt the suspend ioctl (dm
/// waits for IO interruptibly, and fails it with EINTR) or the udev
/// semaphore, in the middle of a table swap.
fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGHUP);
    set.thread_block()
        .map_err(|e| Error::new(format!("cannot block SIGINT, SIGTERM and SIGHUP: {e}")))?;
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

/// The LVM move a destination asks for: a PV of the live volume's own
/// group. A PV of another group is never a destination.
fn lvm_move(dm: &impl Dm, live: &str, dest_path: &str) -> Result<Option<lvm::Move>> {
    let is_lvm = dm.info(live)?.is_some_and(|i| i.lvm);
    let volume = if is_lvm {
        lvm::volume_of_dm_name(live)
    } else {
        None
    };
    match (lvm::pv_of(Path::new(dest_path))?, volume) {
        (lvm::PvOf::Group(g), Some(v)) if g == v.vg => Ok(Some(lvm::Move::new(v, dest_path)?)),
        (lvm::PvOf::Group(g), _) => Err(Error::new(format!(
            "{dest_path} is a physical volume of volume group {g}: it holds that group's \
             metadata and volumes, and is never a destination of {live} \
             (remove it from {g} with vgreduce and pvremove first)"
        ))),
        _ => Ok(None),
    }
}

fn migrate(args: &MigrateArgs, json: bool) -> Result<ExitCode> {
    match lvm::volumes_on_pv(Path::new(&args.device))? {
        Some(volumes) => migrate_pv(args, json, &volumes),
        None => migrate_one(args, &args.device, json, None),
    }
}

/// A whole physical volume, as `pvmove /dev/sdb /dev/sdc`: every volume on
/// it moves at once, each with its own iofollow device and switch-over
/// (with `--shared-head` all sharing the disk's head model), in one display.
fn migrate_pv(args: &MigrateArgs, json: bool, volumes: &[lvm::Volume]) -> Result<ExitCode> {
    let names: Vec<String> = volumes.iter().map(lvm::Volume::full_name).collect();
    let vg = volumes.first().map(|v| v.vg.clone()).unwrap_or_default();
    if lvm::pv_of(Path::new(&args.destination))? != lvm::PvOf::Group(vg.clone()) {
        return Err(Error::new(format!(
            "{} is a physical volume of {vg}: its volumes move to another PV of {vg} \
             ('vgextend {vg} {}' first), not to a raw device",
            args.device, args.destination
        )));
    }
    eprintln!(
        "iofollow-migrate: {} volumes on {}: {}",
        names.len(),
        args.device,
        names.join(", ")
    );
    let group = ui::Group::new(names.len());
    // Blocked here, so in every worker too; one flag stops them all.
    let stop = stop_flag(args)?;
    let results: Vec<(String, Result<ExitCode>)> = std::thread::scope(|s| {
        let workers: Vec<_> = names
            .iter()
            .map(|name| {
                let (group, stop) = (Arc::clone(&group), stop.clone());
                let worker = s.spawn(move || migrate_volume(args, name, json, Some(group), stop));
                (name.clone(), worker)
            })
            .collect();
        workers
            .into_iter()
            .map(|(name, w)| {
                let r = w
                    .join()
                    .unwrap_or_else(|_| Err(Error::new("the migration's thread failed")));
                (name, r)
            })
            .collect()
    });
    let mut code = ExitCode::SUCCESS;
    let mut failed = Vec::new();
    for (name, r) in results {
        match r {
            Ok(c) if c == ExitCode::SUCCESS => {}
            Ok(c) => code = c,
            Err(e) => {
                eprintln!("iofollow-migrate: {name}: {e}");
                failed.push(name);
            }
        }
    }
    if failed.is_empty() {
        Ok(code)
    } else {
        Err(Error::new(format!(
            "{} of {} volumes did not move: {}",
            failed.len(),
            names.len(),
            failed.join(", ")
        )))
    }
}

fn migrate_one(
    args: &MigrateArgs,
    device: &str,
    json: bool,
    group: Option<Arc<ui::Group>>,
) -> Result<ExitCode> {
    migrate_volume(args, device, json, group, stop_flag(args)?)
}

/// The stop flag of a real run (a dry run changes nothing: none).
fn stop_flag(args: &MigrateArgs) -> Result<Option<Arc<AtomicBool>>> {
    if args.dry_run {
        Ok(None)
    } else {
        stop_on_signals().map(Some)
    }
}

/// The copy settings `migrate` asks for.
fn copy_options(args: &MigrateArgs) -> CopyOptions {
    CopyOptions {
        chunk_sectors: args.chunk.saturating_mul(2),
        ratio: args.ratio,
        policy: args.policy,
        cache_mib: args.cache,
        deadline_s: args.deadline,
        shared_head: args.shared_head,
    }
}

fn migrate_volume(
    args: &MigrateArgs,
    device: &str,
    json: bool,
    group: Option<Arc<ui::Group>>,
    stop: Option<Arc<AtomicBool>>,
) -> Result<ExitCode> {
    let dest_arg = &args.destination;
    let dm = SystemDm::open()?;
    let live = resolve_live(&dm, device)?;
    let _running = RunLock::take(&live)?;
    // (A device that does not exist is the plan's to report.)
    let being_copied = dm.info(&live)?.is_some() && table::is_iofollow(&dm.table(&live)?);
    let how = Drive {
        verify: args.verify,
        retries: args.retries,
        json,
        force: args.force,
    };
    if being_copied {
        // Left copying by a run that has gone: the same migration goes on.
        let dest = blockdev::device_number(Path::new(dest_arg)).map_err(|e| {
            e.context(format!(
                "{live} is being migrated by iofollow with no run driving it \
                 ('iofollow-migrate resume {live}' carries it on)"
            ))
        })?;
        let asked = Asked {
            dest,
            path: dest_arg,
            copy: copy_options(args),
        };
        return carry_on_recorded(&dm, &live, Some(asked), &how, group, stop.as_deref());
    }
    let dest_asked = blockdev::device_number(Path::new(dest_arg))?;
    ensure_module(&dm)?;
    let copy = copy_options(args);
    if let Some(rec) = record::Record::load(&live)? {
        // Its table went (a reboot, a crash, a removed device) with the
        // checkpoint kept: the same migration goes on from it.
        let asked = Asked {
            dest: dest_asked,
            path: dest_arg,
            copy,
        };
        return checkpoint::carry_on(&dm, &live, &rec, Some(asked), &how, group, stop.as_deref());
    }
    let mv = lvm_move(&dm, &live, dest_arg)?;
    let allow = plan::Allow {
        raw_destination: args.raw_destination,
        lvm_twin: mv.is_some(),
    };
    if let (Some(mv), true) = (&mv, args.dry_run) {
        let plan = plan::plan(
            &dm,
            &blockdev::Sysfs,
            &live,
            mv.dest_pv,
            dest_arg,
            copy,
            allow,
        )?;
        println!(
            "{}: {} sectors, on disk {} from sector {}",
            plan.live, plan.len, plan.place.disk, plan.place.offset
        );
        println!(
            "allocate {} ({} sectors, contiguous) on {dest_arg}, copy {} into it",
            mv.twin().full_name(),
            plan.len,
            mv.volume.full_name()
        );
        println!(
            "when synced and suspended, commit LVM metadata with {} on {dest_arg}, map it there, remove {}",
            mv.volume.full_name(),
            mv.twin().full_name()
        );
        return Ok(ExitCode::SUCCESS);
    }
    // An LVM move copies into the twin LVM allocates on the destination PV.
    let dest_path = match &mv {
        Some(mv) => {
            let sectors =
                blockdev::Sysfs.sectors(dm.info(&live)?.map(|i| i.dev).ok_or_else(|| {
                    Error::new(format!("no device-mapper device named '{live}'"))
                })?)?;
            let twin = mv.create_twin(sectors)?;
            eprintln!(
                "iofollow-migrate: allocated {} on {dest_arg}",
                mv.twin().full_name()
            );
            control::failpoint("twin-created");
            twin.to_string_lossy().into_owned()
        }
        None => dest_arg.clone(),
    };
    let drop_twin = |e: Error| match &mv {
        Some(mv) => match mv.remove_twin() {
            Ok(()) => e,
            Err(r) => e.context(format!(
                "removing {} failed too ({r})",
                mv.twin().full_name()
            )),
        },
        None => e,
    };
    let dest = blockdev::device_number(Path::new(&dest_path)).map_err(drop_twin)?;
    let plan = plan::plan(&dm, &blockdev::Sysfs, &live, dest, &dest_path, copy, allow)
        .map_err(drop_twin)?;
    blockdev::ensure_unused(Path::new(&dest_path)).map_err(drop_twin)?;
    // The twin is ours, allocated on a PV of the group: nothing to probe.
    if !args.force && mv.is_none() {
        let sig = blockdev::probe_signatures(Path::new(&dest_path))?;
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

    let stop = stop.ok_or_else(|| Error::new("no stop flag for a real run"))?;
    let plan = checkpoint::record_new(&dm, &plan, dest_arg).map_err(drop_twin)?;
    drive(&dm, &plan, mv.as_ref(), &how, group, &stop, control::run)
}

/// How a run drives the copy to its switch-over.
struct Drive {
    verify: bool,
    retries: u32,
    json: bool,
    /// Overwrite a destination that holds data (`--force`).
    force: bool,
}

/// The run's progress and end: `steps` starts (`control::run`) or carries
/// on (`control::carry_on`) the migration `plan`; `mv`, an LVM volume
/// moved within its group.
fn drive<D: Dm>(
    dm: &D,
    plan: &plan::Plan,
    mv: Option<&lvm::Move>,
    how: &Drive,
    group: Option<Arc<ui::Group>>,
    stop: &AtomicBool,
    steps: impl FnOnce(&D, &plan::Plan, &mut ui::Ui, &AtomicBool, &RunOptions<'_>) -> Result<Outcome>,
) -> Result<ExitCode> {
    let helper_path = format!("/dev/mapper/{}", plan.helper);
    let verify =
        |p: &plan::Plan| verify::compare(Path::new(&helper_path), Path::new(&p.dest_path), p.len);
    let opts = RunOptions {
        retries: how.retries,
        retry_ticks: 20,
        verify: if how.verify { Some(&verify) } else { None },
        commit: mv.map(|m| m as &dyn control::Metadata),
    };
    let mut ui = match group {
        Some(g) => ui::Ui::in_group(&plan.live, plan.block_bytes(), how.json, g),
        None => ui::Ui::new(&plan.live, plan.block_bytes(), how.json),
    };
    let outcome = steps(dm, plan, &mut ui, stop, &opts);
    if let Some(mv) = mv {
        finish_lvm_move(dm, plan, mv, &outcome);
    }
    // The checkpoint lives as long as the iofollow table does (and across a
    // reboot): once the device maps the destination, or the source again
    // (writes may reach it outside the migration), it is over, whatever
    // the outcome.
    let copying = dm
        .table(&plan.live)
        .map_or(true, |t| table::is_iofollow(&t));
    if !copying {
        if let Err(e) = record::forget(&plan.live) {
            eprintln!(
                "iofollow-migrate: {}: {e}: remove {} before the next migration of it",
                plan.live,
                record::metadata_file(&plan.live).display()
            );
        }
    }
    match outcome? {
        Outcome::Switched => {
            let verb = if how.verify {
                "verified and switched"
            } else {
                "switched"
            };
            let to = match mv {
                Some(mv) => format!(
                    "{} on {} (in LVM's metadata too)",
                    mv.volume.full_name(),
                    mv.dest_path
                ),
                None => plan.dest_path.clone(),
            };
            ui.done("switched", &format!("{verb}: {} now maps {to}", plan.live));
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

/// `resume`: a migration that a run which has gone (killed, or its host
/// session lost without a signal) left copying, carried on to its
/// switch-over from what the tables say; for an LVM volume copying into
/// its twin, LVM's metadata follows as in `migrate`. Nothing changes
/// before the checks.
fn resume(args: &ResumeArgs, json: bool) -> Result<ExitCode> {
    let dm = SystemDm::open()?;
    let live = resolve_live(&dm, &args.device)?;
    let _running = RunLock::take(&live)?;
    // Before anything is printed: a Ctrl-C from now on puts the original
    // table back, none is lost before the signals are taken.
    let stop = stop_on_signals()?;
    let how = Drive {
        verify: args.verify,
        retries: args.retries,
        json,
        force: args.force,
    };
    let copying = table::is_iofollow(&dm.table(&live)?);
    match record::Record::load(&live)? {
        Some(rec) if !copying => {
            checkpoint::carry_on(&dm, &live, &rec, None, &how, None, Some(&stop))
        }
        _ => carry_on_recorded(&dm, &live, None, &how, None, Some(&stop)),
    }
}

/// What a `migrate` of a device left copying asked for.
struct Asked<'a> {
    dest: DiskId,
    path: &'a str,
    copy: CopyOptions,
}

/// Whether `asked` names a setting other than the copy's `recorded` one
/// (the chunk always: it has a default).
fn settings_differ(asked: &CopyOptions, recorded: &CopyOptions) -> bool {
    fn given_and_other<T: PartialEq>(asked: Option<T>, recorded: Option<T>) -> bool {
        asked.is_some() && asked != recorded
    }
    asked.chunk_sectors != recorded.chunk_sectors
        || given_and_other(asked.ratio, recorded.ratio)
        || given_and_other(asked.policy, recorded.policy)
        || given_and_other(asked.cache_mib, recorded.cache_mib)
        || given_and_other(asked.deadline_s, recorded.deadline_s)
        || asked.shared_head != recorded.shared_head
}

/// What `resume` does, and `migrate` of a device left copying: the
/// migration the tables record carried on to its switch-over, once it is
/// the one `asked` for (if any); `stop` is `None` in a dry run, which
/// reports what it would carry on and changes nothing. The caller holds
/// the device's run lock.
fn carry_on_recorded(
    dm: &SystemDm,
    live: &str,
    asked: Option<Asked<'_>>,
    how: &Drive,
    group: Option<Arc<ui::Group>>,
    stop: Option<&AtomicBool>,
) -> Result<ExitCode> {
    // Refuses a suspended device (a run killed in its switch-over: `abort`
    // settles it) before anything changes.
    let plan = plan::resumed(dm, &blockdev::Sysfs, live, false)?;
    let volume = dm
        .info(live)?
        .is_some_and(|i| i.lvm)
        .then(|| lvm::volume_of_dm_name(live))
        .flatten();
    let mv = match volume {
        Some(v) => {
            let source = table::Linear::parse(&plan.original.params)
                .map(|l| l.dev)
                .ok_or_else(|| Error::new(format!("{}: cannot read its table", plan.helper)))?;
            let into_twin = dm
                .name_of(plan.dest)?
                .and_then(|n| lvm::volume_of_dm_name(&n))
                == Some(v.twin());
            match (lvm::resumed_move(&v, source)?, into_twin) {
                (Some(mv), true) => Some(mv),
                (None, false) => None,
                (Some(_), false) => {
                    return Err(Error::new(format!(
                        "{live} copies to {}, not into {}: run 'iofollow-migrate abort {live}'",
                        plan.dest_path,
                        v.twin().full_name()
                    )))
                }
                (None, true) => {
                    return Err(Error::new(format!(
                        "{live} copies into {}, which is not tagged {}: not a move of \
                         iofollow-migrate; run 'iofollow-migrate abort {live}'",
                        v.twin().full_name(),
                        lvm::TEMP_TAG
                    )))
                }
            }
        }
        None => None,
    };
    let plan = match &mv {
        Some(_) => plan::resumed(dm, &blockdev::Sysfs, live, true)?,
        None => plan,
    };
    let (recorded, recorded_path) = match &mv {
        Some(mv) => (mv.dest_pv, mv.dest_path.as_str()),
        None => (plan.dest, plan.dest_path.as_str()),
    };
    if let Some(asked) = asked.as_ref().filter(|a| a.dest != recorded) {
        return Err(Error::new(format!(
            "{live} is already being migrated by iofollow, to {recorded_path} and not to {}, \
             and no run is driving it: 'iofollow-migrate resume {live}' carries the copy on \
             to the switch-over, 'iofollow-migrate abort {live}' puts its original table back",
            asked.path
        )));
    }
    if asked.is_some_and(|a| settings_differ(&a.copy, &plan.copy)) {
        eprintln!(
            "iofollow-migrate: {live}: the copy keeps its table's settings \
             ('iofollow-migrate set' changes the ratio, deadline and cache)"
        );
    }
    let m = control::status(dm, live)?;
    let Some(stop) = stop else {
        println!(
            "{live}: carry on the migration to {recorded_path} ({} of {} blocks copied, {}), \
             switch over when synced",
            m.migrated_blocks, m.total_blocks, m.state
        );
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!(
        "iofollow-migrate: carrying on the migration of {live} to {recorded_path} \
         ({} of {} blocks copied, {})",
        m.migrated_blocks, m.total_blocks, m.state
    );
    if m.state == status::State::Paused {
        eprintln!(
            "iofollow-migrate: {live} is paused: the copy goes on after \
             'dmsetup message {live} 0 resume'"
        );
    }
    if plan.lvm_raw {
        eprintln!(
            "iofollow-migrate: warning: {} is an LVM volume moved to {}: {}",
            plan.live,
            plan.dest_path,
            plan::LVM_RAW_WARNING
        );
    }
    drive(dm, &plan, mv.as_ref(), how, group, stop, control::carry_on)
}

/// Removes the twin when the run ended with the device on one side and
/// the metadata naming it there; otherwise leaves it to `abort`.
fn finish_lvm_move(dm: &impl Dm, plan: &plan::Plan, mv: &lvm::Move, outcome: &Result<Outcome>) {
    let live_table = dm.table(&plan.live).ok();
    let maps = |seg: &table::Segment| live_table.as_deref() == Some(std::slice::from_ref(seg));
    let settled = match outcome {
        Ok(Outcome::Switched) => {
            maps(&plan.switch) && mv.side().ok() == Some(lvm::Side::Destination)
        }
        _ => maps(&plan.original) && mv.side().ok() == Some(lvm::Side::Source),
    };
    let twin = mv.twin().full_name();
    // The helper maps the old extents, which removing the twin frees.
    let helper_gone = matches!(dm.info(&plan.helper), Ok(None));
    if !settled || !helper_gone {
        eprintln!(
            "iofollow-migrate: leaving {twin}: run 'iofollow-migrate abort {}' to settle it",
            plan.live
        );
        return;
    }
    match mv.remove_twin() {
        Ok(()) => eprintln!("iofollow-migrate: removed {twin}"),
        Err(e) => eprintln!(
            "iofollow-migrate: could not remove {twin} ({e}); run 'iofollow-migrate abort {}'",
            plan.live
        ),
    }
}

/// `abort`: the original table back, and for an LVM move, metadata that
/// names the leg holding every write and no twin.
fn abort(dm: &impl Dm, live: &str) -> Result<()> {
    let _running = RunLock::take(live)?;
    let recorded = record::metadata_file(live).exists();
    abort_tables(dm, live, recorded)?;
    if recorded {
        record::forget(live)?;
        eprintln!("{live}: removed the migration's checkpoint");
    }
    Ok(())
}

/// `abort`'s tables and LVM metadata; `recorded`: a checkpoint of the
/// migration is kept (its table may be gone: then only LVM's is settled).
fn abort_tables(dm: &impl Dm, live: &str, recorded: bool) -> Result<()> {
    let info = dm
        .info(live)?
        .ok_or_else(|| Error::new(format!("no device-mapper device named '{live}'")))?;
    if info.suspended {
        // Left suspended by a killed run (mid switch-over): resumed first,
        // so that no LVM command below can wait on it. Under iofollow the
        // source is authoritative, and the destination mirrored.
        dm.resume(live)?;
        eprintln!("{live}: resumed (a killed run left it suspended)");
    }
    let volume = info.lvm.then(|| lvm::volume_of_dm_name(live)).flatten();
    let helper = plan::helper_name(live);
    let table = dm.table(live)?;
    let migrating = table::is_iofollow(&table) || dm.info(&helper)?.is_some();
    if let Some(v) = volume.as_ref().filter(|v| lvm::has_twin(v).unwrap_or(true)) {
        // The leg with every acknowledged write: the source under iofollow
        // (the helper maps it), else what the live table maps.
        let truth = match table.as_slice() {
            [t] if t.target == "iofollow" => {
                table::single_linear(&helper, &dm.table(&helper)?)?.1.dev
            }
            _ => table::single_linear(live, &table)?.1.dev,
        };
        // Before the table changes: under iofollow the source is
        // authoritative, and the twin is still in use.
        if let (Some(mv), false) = (lvm::name_on(v, truth)?, migrating) {
            mv.remove_twin()?;
            eprintln!(
                "{}: LVM's metadata names the device at {truth}; removed {}",
                v.full_name(),
                v.twin().full_name()
            );
            return Ok(());
        }
    }
    if migrating || !recorded {
        control::abort(dm, live, &mut Notes)?;
    }
    // The twin of a move aborted before the settle (it held the copy).
    if let Some(v) = &volume {
        let truth = table::single_linear(live, &dm.table(live)?)?.1.dev;
        if lvm::settle(v, truth)? {
            eprintln!("{}: removed {}", v.full_name(), v.twin().full_name());
        }
    }
    eprintln!("{live} has its original table again");
    Ok(())
}

/// `set`: the messages, then the status they left.
fn set(args: &SetArgs, json: bool) -> Result<()> {
    let changes = args.messages();
    if changes.is_empty() {
        return Err(Error::usage(
            "set: nothing to change: give --ratio, --deadline or --cache",
        ));
    }
    let dm = SystemDm::open()?;
    let live = resolve_live(&dm, &args.device)?;
    control::set(&dm, &live, &changes)?;
    for m in &changes {
        eprintln!("{live}: {m}");
    }
    show_status(&dm, &live, json)
}

/// `status` without a device: every migration on the machine, a line each.
fn show_all(json: bool) -> Result<()> {
    let dm = SystemDm::open()?;
    let names = control::migrations(&dm)?;
    if names.is_empty() && !json {
        eprintln!("no iofollow migration on this machine");
    }
    for name in names {
        show_status(&dm, &name, json)?;
    }
    Ok(())
}

/// One migration's progress, `live` a dm name.
fn show_status(dm: &impl Dm, live: &str, json: bool) -> Result<()> {
    let (st, block_bytes) =
        control::status_and_block(dm, live).map_err(|e| match record::Record::load(live) {
            Ok(Some(r)) => Error::new(format!(
                "{e}; its migration to {} is recorded, with a checkpoint: \
                 'iofollow-migrate resume {live}' carries it on",
                r.destination
            )),
            _ => e,
        })?;
    if json {
        println!("{}", status::json_line(live, &st, block_bytes, None));
    } else {
        let pct = st
            .migrated_blocks
            .saturating_mul(100)
            .checked_div(st.total_blocks)
            .unwrap_or(100);
        println!(
            "{live}: {} {}/{} blocks ({pct}%), {} dirty, head at sector {}, policy {} ratio {}",
            st.state,
            st.migrated_blocks,
            st.total_blocks,
            st.dirty_blocks,
            st.head_sector,
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
    let device = match &cli.command {
        Command::Migrate(m) => &m.device,
        Command::Status { device } => device.as_deref().unwrap_or(""),
        Command::Abort { device } => device,
        Command::Resume(args) => &args.device,
        Command::Set(args) => &args.device,
    };
    let result = match &cli.command {
        Command::Status { device: Some(d) } => SystemDm::open().and_then(|dm| {
            show_status(&dm, &resolve_live(&dm, d)?, cli.json)?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Status { device: None } => show_all(cli.json).map(|()| ExitCode::SUCCESS),
        Command::Abort { device } => SystemDm::open().and_then(|dm| {
            abort(&dm, &resolve_live(&dm, device)?)?;
            Ok(ExitCode::SUCCESS)
        }),
        Command::Set(args) => set(args, cli.json).map(|()| ExitCode::SUCCESS),
        Command::Migrate(args) => migrate(args, cli.json),
        Command::Resume(args) => resume(args, cli.json),
    };
    result.unwrap_or_else(|e| {
        eprintln!("iofollow-migrate: {e}");
        if cli.json {
            // A caller reading the events sees the end too.
            println!(
                "{}",
                status::json_event(device, "failed", Some(&e.to_string()))
            );
        }
        if e.is_usage() {
            ExitCode::from(2)
        } else {
            ExitCode::FAILURE
        }
    })
}

#[cfg(test)]
mod cli_tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("iofollow-migrate").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
    }

    fn migrate_args(args: &[&str]) -> MigrateArgs {
        match parse(args).unwrap().command {
            Command::Migrate(m) => m,
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn migrate_is_a_subcommand_with_defaults() {
        let m = migrate_args(&["migrate", "vg0/vm7", "/dev/sdc"]);
        assert_eq!(
            (m.device.as_str(), m.destination.as_str()),
            ("vg0/vm7", "/dev/sdc")
        );
        assert_eq!(
            (
                m.chunk,
                m.retries,
                m.verify,
                m.dry_run,
                m.raw_destination,
                m.force
            ),
            (1024, 3, false, false, false, false)
        );
        assert_eq!((m.ratio, m.policy, m.cache), (None, None, None));
        // No subcommand: a device named "vg0/vm7" is not guessed at.
        assert!(parse(&["vg0/vm7", "/dev/sdc"]).is_err());
    }

    #[test]
    fn options_go_through_the_policy_core_parsers() {
        let m = migrate_args(&[
            "migrate",
            "--ratio",
            "4:1",
            "--policy",
            "Sequential",
            "--cache",
            "0",
            "--deadline",
            "3600",
            "--verify",
            "a",
            "b",
        ]);
        assert_eq!(m.deadline, Some(3600));
        assert_eq!(m.ratio, Ratio::new(4, 1));
        assert_eq!(m.policy, Some(PolicyKind::Sequential));
        assert_eq!(m.cache, Some(0));
        assert!(m.verify);
        for (args, want) in [
            (
                &["migrate", "--ratio", "0:1", "a", "b"][..],
                "is not V:M with V and M from 1 to 64",
            ),
            (
                &["migrate", "--deadline", "0", "a", "b"][..],
                "is not a number of seconds from 1 to 31622400",
            ),
            (&["migrate", "--ratio", "65:1", "a", "b"][..], "is not V:M"),
            (
                &["migrate", "--policy", "lru", "a", "b"][..],
                "[possible values: follow, sequential]",
            ),
            (
                &["migrate", "--cache=-1", "a", "b"][..],
                "Cache size is negative",
            ),
            (&["migrate", "--chunk", "x", "a", "b"][..], "invalid digit"),
            (&["migrate", "a"][..], "required"),
            (&[][..], "Usage"),
        ] {
            let e = parse(args).err().unwrap_or_default();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn json_is_global_and_status_and_abort_are_subcommands() {
        for args in [
            &["--json", "status", "vg0/vm7"][..],
            &["status", "--json", "vg0/vm7"],
        ] {
            let cli = parse(args).unwrap();
            assert!(cli.json, "{args:?}");
            match cli.command {
                Command::Status { device } => assert_eq!(device.as_deref(), Some("vg0/vm7")),
                other => unreachable!("{other:?}"),
            }
        }
        assert!(matches!(
            parse(&["status"]).unwrap().command,
            Command::Status { device: None }
        ));
        match parse(&["abort", "vg0-vm7"]).unwrap().command {
            Command::Abort { device } => assert_eq!(device, "vg0-vm7"),
            other => unreachable!("{other:?}"),
        }
        assert!(parse(&["abort"]).is_err());
        assert!(parse(&["--json", "migrate", "a", "b"]).unwrap().json);
        match parse(&["resume", "--verify", "vg0/vm7"]).unwrap().command {
            Command::Resume(r) => {
                assert_eq!(
                    (r.device.as_str(), r.verify, r.retries),
                    ("vg0/vm7", true, 3)
                );
            }
            other => unreachable!("{other:?}"),
        }
        // What the table already says cannot be given again.
        assert!(parse(&["resume", "--ratio", "4:1", "vg0/vm7"]).is_err());
        assert!(parse(&["resume"]).is_err());
    }

    #[test]
    fn set_takes_what_a_running_migration_can_change() {
        let Command::Set(a) = parse(&["set", "vg0/vm7", "--ratio", "4:1", "--deadline", "0"])
            .unwrap()
            .command
        else {
            unreachable!()
        };
        assert_eq!(a.device, "vg0/vm7");
        assert_eq!(
            a.messages(),
            [
                Message::Ratio(Ratio::new(4, 1).unwrap()),
                Message::Deadline(0)
            ]
        );
        assert!(parse(&["set", "vg0/vm7", "--ratio", "0:1"]).is_err());
        assert!(parse(&["set", "vg0/vm7", "--cache", "x"]).is_err());
        assert!(parse(&["set", "--ratio", "4:1"]).is_err());
    }

    #[test]
    fn help_lists_the_policies_and_examples() {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let help = cmd.render_long_help().to_string();
        assert!(
            help.contains("iofollow-migrate migrate --raw-destination"),
            "{help}"
        );
        let migrate = cmd
            .find_subcommand_mut("migrate")
            .map(|c| c.render_long_help().to_string())
            .unwrap_or_default();
        assert!(
            migrate.contains("follow") && migrate.contains("sequential"),
            "{migrate}"
        );
    }

    #[test]
    fn a_second_migrate_notes_only_settings_it_asks_for_and_the_table_lacks() {
        // The table's settings, as plan::resumed reads them back.
        let recorded = copy_options(&migrate_args(&[
            "migrate", "--chunk", "64", "--ratio", "4:1", "d", "/dev/x",
        ]));
        let asked = |args: &[&str]| copy_options(&migrate_args(args));
        // Nothing asked beyond the chunk it was started with.
        assert!(!settings_differ(
            &asked(&["migrate", "--chunk", "64", "d", "/dev/x"]),
            &recorded
        ));
        assert!(!settings_differ(
            &asked(&["migrate", "--chunk", "64", "--ratio", "4:1", "d", "/dev/x"]),
            &recorded
        ));
        for other in [
            &["migrate", "d", "/dev/x"][..], // the default chunk, 1024 KiB
            &["migrate", "--chunk", "64", "--ratio", "8:1", "d", "/dev/x"],
            &[
                "migrate",
                "--chunk",
                "64",
                "--policy",
                "sequential",
                "d",
                "/dev/x",
            ],
            &["migrate", "--chunk", "64", "--cache", "0", "d", "/dev/x"],
            &[
                "migrate",
                "--chunk",
                "64",
                "--deadline",
                "600",
                "d",
                "/dev/x",
            ],
            &["migrate", "--chunk", "64", "--shared-head", "d", "/dev/x"],
        ] {
            assert!(settings_differ(&asked(other), &recorded), "{other:?}");
        }
    }
}
