// SPDX-License-Identifier: GPL-2.0

//! The migration's steps and the switch-over protocol
//! (Documentation/iofollow.rst, "Durability contract"):
//!
//! 1. the helper device takes the live device's linear table;
//! 2. the live device's table becomes iofollow from the helper to the
//!    destination (load, suspend, resume: IO in flight drains first);
//! 3. wait for `synced`;
//! 4. suspend; only a *suspended* device that says `synced` has a complete
//!    and durable destination that no write can change; if it says
//!    anything else, a write raced the switch: resume and wait again;
//! 5. for an LVM volume moved within its group, commit LVM metadata that
//!    names the destination (still suspended and synced: both legs hold
//!    every write, so a crash on either side of the commit is safe);
//! 6. load the linear table on the destination, resume, remove the helper.
//!
//! An interrupt or a failure before step 6 puts the original table back
//! (and the metadata that names the source):
//! under every state the source holds every acknowledged write.

use crate::dm::Dm;
use crate::error::{Error, Result};
use crate::lvm::Side;
use crate::plan::{helper_name, Plan};
use crate::status::{State, Status};
use crate::table::{iofollow_source, is_iofollow, single_linear, Segment};
use iofollow_policy::message::Message;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the operator sees while the copy runs, and the pacing of the polls.
pub trait Observer {
    /// A status sample.
    fn progress(&mut self, status: &Status);
    /// A step or a notice, in words.
    fn note(&mut self, what: &str);
    /// The device is suspended and still synced: the copy is complete and
    /// durable (`status` as read then: what the copy cost).
    fn synced(&mut self, _status: &Status) {}
    /// Waits one poll interval.
    fn tick(&mut self);
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The live device now maps the destination.
    Switched,
    /// Interrupted: the live device has its original table again.
    Restored,
}

/// Compares source and destination of a plan; `Err` says where they differ.
pub type Verify<'a> = &'a dyn Fn(&Plan) -> Result<()>;

/// LVM's metadata of a volume moved within its group (step 5).
pub trait Metadata {
    /// Takes the group's lock. It is taken before the suspend and held
    /// through the switch-over: no LVM command waits for it while holding
    /// anything on the suspended device, and none changes the group
    /// between the commit's read and its write.
    fn lock(&self) -> Result<Box<dyn LockedMetadata + '_>>;
}

/// The metadata under the group's lock.
pub trait LockedMetadata {
    /// Makes it name the volume on `side` (`Ok` when it does).
    fn commit(&self, side: Side) -> Result<()>;
    /// Which side it names.
    fn side(&self) -> Result<Side>;
}

/// Ends the process at a named step when `IOFOLLOW_MIGRATE_FAILPOINT` names
/// it, as a kill at that moment would: the crash tests reach each step of
/// the switch-over this way.
pub fn failpoint(step: &str) {
    if std::env::var("IOFOLLOW_MIGRATE_FAILPOINT").is_ok_and(|f| f == step) {
        eprintln!("iofollow-migrate: failpoint {step}: exiting as if killed");
        std::process::exit(137);
    }
}

/// Policy of a run.
pub struct RunOptions<'a> {
    /// `resume` messages sent after the target enters `error`, before giving up.
    pub retries: u32,
    /// Polls between an `error` and the retry.
    pub retry_ticks: u32,
    /// Compares source and destination while the device is suspended
    /// and synced; `Err` stops the switch-over.
    pub verify: Option<Verify<'a>>,
    /// LVM's metadata, committed while suspended and synced (step 5).
    pub commit: Option<&'a dyn Metadata>,
}

/// The live device's iofollow status.
pub fn status(dm: &impl Dm, live: &str) -> Result<Status> {
    status_and_block(dm, live).map(|(st, _)| st)
}

/// The live device's iofollow status, and the bytes of the blocks it counts.
pub fn status_and_block(dm: &impl Dm, live: &str) -> Result<(Status, u64)> {
    let lines = dm.status(live)?;
    let tables = dm.table(live)?;
    // The first iofollow segment (a migration's table has only that one).
    let Some((line, t)) = lines
        .iter()
        .zip(tables.iter())
        .find(|(_, t)| t.target == "iofollow")
    else {
        return Err(Error::new(format!(
            "{live} is not being migrated by iofollow (its table is not iofollow)"
        )));
    };
    let words: Vec<&str> = t.params.split_whitespace().collect();
    let block = iofollow_policy::table::parse_table(&words)
        .map(|cfg| cfg.block_sectors() * 512)
        .map_err(|e| Error::new(format!("{live}: cannot read its iofollow table: {e}")))?;
    Ok((crate::status::parse(&line.params)?, block))
}

/// Every dm device with an iofollow table (by the tool or by hand), by name.
pub fn migrations(dm: &impl Dm) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for name in dm.names()? {
        // Gone since the listing: not a migration any more.
        let Ok(table) = dm.table(&name) else {
            continue;
        };
        if is_iofollow(&table) {
            found.push(name);
        }
    }
    found.sort();
    Ok(found)
}

/// Changes the copy settings of a running migration of `live` with target
/// messages, in order; they last until the switch-over, and its table line
/// shows them. Fails before sending anything when `live` is not being
/// migrated; a refused message stops the rest (the ones before it stay).
pub fn set(dm: &impl Dm, live: &str, changes: &[Message]) -> Result<()> {
    status_and_block(dm, live)?;
    for m in changes {
        dm.message(live, &m.to_string())
            .map_err(|e| Error::new(format!("{live}: message '{m}' refused: {e}")))?;
    }
    Ok(())
}

/// Steps 1 and 2. On failure nothing is left changed.
pub fn start(dm: &impl Dm, plan: &Plan, obs: &mut impl Observer) -> Result<()> {
    obs.note(&format!(
        "creating {} with the original mapping of {}",
        plan.helper, plan.live
    ));
    let helper_dev = dm.create(
        &plan.helper,
        &plan.helper_uuid(),
        std::slice::from_ref(&plan.original),
    )?;
    let undo = |e: Error| {
        let _ = dm.clear(&plan.live);
        let _ = dm.remove(&plan.helper);
        e
    };
    let table = plan.iofollow_table(&helper_dev.to_string()).map_err(undo)?;
    obs.note(&format!(
        "loading under {}: {} {} {} {}",
        plan.live, table.start, table.len, table.target, table.params
    ));
    dm.load(&plan.live, std::slice::from_ref(&table)).map_err(|e| {
        undo(e.context("the kernel refused the iofollow table (its reason is in the kernel log: dmesg | grep iofollow)"))
    })?;
    dm.suspend(&plan.live).map_err(undo)?;
    if let Err(e) = dm.resume(&plan.live) {
        // The new table did not take: the device is suspended with the old one.
        let _ = dm.clear(&plan.live);
        let _ = dm.resume(&plan.live);
        let _ = dm.remove(&plan.helper);
        return Err(e);
    }
    Ok(())
}

/// Steps 1 and 2 of a migration carried on from its metadata's checkpoint
/// after its table was gone: the live device is suspended first, so that
/// `check` (which withdraws the checkpoint if the devices may have been
/// written outside the migration) sees the last write before the iofollow
/// table reads the metadata; what it says is noted. On failure the device
/// is resumed with its original table.
pub fn start_at_checkpoint(
    dm: &impl Dm,
    plan: &Plan,
    obs: &mut impl Observer,
    check: &mut dyn FnMut() -> Result<String>,
) -> Result<()> {
    dm.suspend(&plan.live)?;
    let started = check().and_then(|note| {
        obs.note(&note);
        start(dm, plan, obs)
    });
    if started.is_err() {
        let _ = dm.resume(&plan.live);
    }
    started
}

/// Step 3: polls until `synced`. `Ok(false)` when `stop` was raised.
fn wait_synced(
    dm: &impl Dm,
    plan: &Plan,
    obs: &mut impl Observer,
    stop: &AtomicBool,
    opts: &RunOptions<'_>,
) -> Result<bool> {
    let mut failures = 0u32;
    let mut since_error = 0u32;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let st = status(dm, &plan.live)?;
        obs.progress(&st);
        match st.state {
            State::Synced => return Ok(true),
            State::Error => {
                since_error += 1;
                if since_error > opts.retry_ticks {
                    if failures >= opts.retries {
                        return Err(Error::new(format!(
                            "the copy failed {} times (a source read or a destination write; see dmesg)",
                            failures + 1
                        )));
                    }
                    failures += 1;
                    since_error = 0;
                    obs.note(&format!(
                        "the copy stopped on an IO error: retrying ({failures} of {})",
                        opts.retries
                    ));
                    dm.message(&plan.live, "resume")?;
                }
            }
            State::Paused => {
                // Created running; paused only by an operator's message. Honour it.
                since_error = 0;
            }
            State::Copying => since_error = 0,
        }
        obs.tick();
    }
}

/// How an attempt at steps 4 and 5 ended.
enum Switch {
    /// The device maps the destination.
    Done,
    /// A write raced the switch: copying on.
    Raced,
    /// `--verify` found a difference; the original table is back.
    Refused(Error),
}

/// Steps 4 and 5.
fn switch_over(
    dm: &impl Dm,
    plan: &Plan,
    obs: &mut impl Observer,
    opts: &RunOptions<'_>,
) -> Result<Switch> {
    let locked = match opts.commit {
        Some(m) => Some(m.lock()?),
        None => None,
    };
    dm.suspend(&plan.live)?;
    let st = match status(dm, &plan.live) {
        Ok(st) => st,
        Err(e) => {
            let _ = dm.resume(&plan.live);
            return Err(e);
        }
    };
    if st.state != State::Synced {
        dm.resume(&plan.live)?;
        obs.note(&format!(
            "suspended, {} says {}: a write raced the switch-over; copying on",
            plan.live, st.state
        ));
        return Ok(Switch::Raced);
    }
    obs.synced(&st);
    // What the copy cost, for the log: the policies differ in IOs, not bytes.
    let cost = format!("{} copy IOs, {} VM IOs", st.migration_ios, st.vm_ios);
    if let Some(verify) = opts.verify {
        obs.note(&format!(
            "suspended and synced ({cost}): comparing source and destination"
        ));
        if let Err(e) = verify(plan) {
            restore_suspended(dm, &plan.live, &plan.helper, &plan.original)?;
            return Ok(Switch::Refused(
                e.context("verify failed; the original table is back"),
            ));
        }
    }
    if let Some(l) = &locked {
        obs.note(&format!(
            "suspended and synced ({cost}): committing LVM metadata that puts {} on {}",
            plan.live, plan.dest_path
        ));
        if let Err(e) = l.commit(Side::Destination) {
            // Where the metadata is decides: the switch needs it on the
            // destination, the original table on the source.
            match l.side() {
                Ok(Side::Destination) => obs.note(&format!(
                    "the commit reported '{e}', but LVM has {} on the destination: switching",
                    plan.live
                )),
                Ok(Side::Source) => {
                    restore_suspended(dm, &plan.live, &plan.helper, &plan.original)?;
                    return Ok(Switch::Refused(e.context(
                        "LVM's metadata still names the source, and the original table is back",
                    )));
                }
                Err(e2) => {
                    let _ = dm.resume(&plan.live);
                    return Err(e.context(format!(
                        "and LVM's metadata cannot be read ({e2}); still migrating with iofollow: \
                         run 'iofollow-migrate abort {}'",
                        plan.live
                    )));
                }
            }
        }
        failpoint("committed");
    }
    obs.note(&format!(
        "suspended and synced ({cost}): switching {} to {}",
        plan.live, plan.dest_path
    ));
    if let Err(e) = dm.load(&plan.live, &[plan.switch_table()]) {
        let e = e.context("the switch-over table was refused");
        // The metadata names the source again before the source's table is back.
        if let Some(l) = &locked {
            return match l.commit(Side::Source) {
                Ok(()) => {
                    restore_suspended(dm, &plan.live, &plan.helper, &plan.original)?;
                    Ok(Switch::Refused(e.context(
                        "LVM's metadata names the source again, and the original table is back",
                    )))
                }
                Err(u) => {
                    let _ = dm.resume(&plan.live);
                    Err(e.context(format!(
                        "naming the source in LVM's metadata again failed too ({u}); still \
                         migrating with iofollow: run 'iofollow-migrate abort {}'",
                        plan.live
                    )))
                }
            };
        }
        let _ = dm.resume(&plan.live);
        return Err(e.context("still migrating with iofollow"));
    }
    dm.resume(&plan.live).map_err(|e| {
        e.context(format!(
            "{} is suspended with the switch-over table loaded: run 'dmsetup resume {}'",
            plan.live, plan.live
        ))
    })?;
    failpoint("switched");
    if let Err(e) = dm.remove(&plan.helper) {
        obs.note(&format!(
            "could not remove {} ({e}); remove it with 'dmsetup remove {}'",
            plan.helper, plan.helper
        ));
    }
    Ok(Switch::Done)
}

/// Puts `original` back under the suspended device `live`; removes `helper`.
/// The iofollow table's checkpoint is withdrawn first (`reset` writes both
/// superblock slots before it replies): the source will be written outside
/// the migration, so no later table may trust it.
fn restore_suspended(dm: &impl Dm, live: &str, helper: &str, original: &Segment) -> Result<()> {
    if let Err(e) = dm.message(live, "reset") {
        eprintln!("iofollow-migrate: {live}: {e}: its checkpoint may still be trusted");
    }
    dm.load(live, std::slice::from_ref(original))?;
    dm.resume(live)?;
    dm.remove(helper)
}

/// Puts `original` back under the running device `live`; removes `helper`.
fn restore(
    dm: &impl Dm,
    live: &str,
    helper: &str,
    original: &Segment,
    obs: &mut impl Observer,
) -> Result<()> {
    obs.note(&format!(
        "pausing the copy and putting the original table of {live} back"
    ));
    // Pausing first keeps the copy from adding IO to the suspend's wait.
    let _ = dm.message(live, "pause");
    dm.suspend(live)?;
    restore_suspended(dm, live, helper, original)
}

/// A whole migration: start, copy, switch over. On an interrupt or a
/// failure of the copy the original table is put back.
pub fn run(
    dm: &impl Dm,
    plan: &Plan,
    obs: &mut impl Observer,
    stop: &AtomicBool,
    opts: &RunOptions<'_>,
) -> Result<Outcome> {
    start(dm, plan, obs)?;
    carry_on(dm, plan, obs, stop, opts)
}

/// Steps 3 to 6 of a migration whose iofollow table is live: from
/// [`run`], or for one a run that has gone left copying
/// ([`crate::plan::resumed`]). On an interrupt or a failure of the copy
/// the original table is put back.
pub fn carry_on(
    dm: &impl Dm,
    plan: &Plan,
    obs: &mut impl Observer,
    stop: &AtomicBool,
    opts: &RunOptions<'_>,
) -> Result<Outcome> {
    loop {
        match wait_synced(dm, plan, obs, stop, opts) {
            Ok(true) => {}
            Ok(false) => {
                restore(dm, &plan.live, &plan.helper, &plan.original, obs)?;
                return Ok(Outcome::Restored);
            }
            Err(e) => {
                restore(dm, &plan.live, &plan.helper, &plan.original, obs).map_err(|r| {
                    e.clone()
                        .context(format!("restoring the original table failed too ({r})"))
                })?;
                return Err(e.context("the original table is back"));
            }
        }
        let attempt = switch_over(dm, plan, obs, opts).map_err(|e| {
            e.context(format!(
                "switch-over of {} failed ('iofollow-migrate status {0}' shows where it is; \
                 'iofollow-migrate abort {0}' puts the original table back)",
                plan.live
            ))
        })?;
        match attempt {
            Switch::Done => return Ok(Outcome::Switched),
            Switch::Refused(e) => return Err(e),
            Switch::Raced => obs.tick(),
        }
    }
}

/// Undoes a migration left running (or half set up) by an earlier run:
/// the live device gets the helper's table, the original mapping, back.
pub fn abort(dm: &impl Dm, live: &str, obs: &mut impl Observer) -> Result<()> {
    let helper = helper_name(live);
    let table = dm.table(live)?;
    let helper_info = dm.info(&helper)?;
    match (table.as_slice(), helper_info) {
        ([t], Some(h)) if t.target == "iofollow" => {
            if iofollow_source(&t.params) != Some(h.dev) {
                return Err(Error::new(format!("{live} copies from {}, not from {helper}: not ours to abort", t.params)));
            }
            // The helper holds the original mapping: one linear segment.
            let (len, lin) = single_linear(&helper, &dm.table(&helper)?)?;
            restore(dm, live, &helper, &Segment::linear(len, lin.dev, lin.offset), obs)
        }
        ([t], Some(_)) => {
            // Interrupted before the iofollow table took over, or after the switch.
            obs.note(&format!("{live} has a '{}' table; removing the leftover {helper}", t.target));
            dm.remove(&helper)
        }
        ([t], None) if t.target == "iofollow" => Err(Error::new(format!(
            "{live} has an iofollow table that iofollow-migrate did not set up (no {helper}); replace its table with dmsetup"
        ))),
        _ => Err(Error::new(format!("{live} is not being migrated: nothing to abort"))),
    }
}
