// SPDX-License-Identifier: GPL-2.0

//! The checkpoint across a reboot (Documentation/iofollow-migrate.rst,
//! "Resuming a migration"): every migration keeps its progress on a
//! metadata device of its own (crate::record); a run that finds the
//! migration recorded but its table gone loads the iofollow table again
//! with that metadata, and the target carries the copy on from the last
//! commit.
//!
//! The checkpoint holds only while nothing but the migration wrote the
//! source or the destination. A table that mapped the source directly in
//! between (LVM's activation after a reboot, a device created again by
//! hand) could have let writes reach it behind the checkpoint, which would
//! then claim destination blocks that are stale. So the run carries on
//! from the checkpoint only when the live device and the destination took
//! no write since they appeared, as their IO counters say, read while the
//! live device is suspended; otherwise it withdraws the checkpoint and
//! the copy starts over from the first block.

use crate::blockdev::{self, written_since_created};
use crate::control;
use crate::dm::{Dm, SystemDm};
use crate::error::{Error, Result};
use crate::lvm;
use crate::plan::{self, Plan};
use crate::record::{self, Record};
use crate::table::Linear;
use crate::{drive, settings_differ, Asked, Drive};
use iofollow_policy::table::DiskId;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A new migration's record, and `plan` with its metadata device.
/// `destination` is as the operator named it.
pub fn record_new(dm: &impl Dm, plan: &Plan, destination: &str) -> Result<Plan> {
    let source = Linear::parse(&plan.original.params).map(|l| l.dev);
    let rec = Record {
        live: plan.live.clone(),
        destination: destination.to_string(),
        original: plan.original.clone(),
        copy: plan.copy.clone(),
        source_id: source.and_then(blockdev::stable_id),
        destination_id: blockdev::stable_id(plan.dest),
    };
    let live = dm
        .info(&plan.live)?
        .ok_or_else(|| Error::new(format!("no device-mapper device named '{}'", plan.live)))?;
    let devices: Vec<DiskId> = [Some(live.dev), source, Some(plan.dest)]
        .into_iter()
        .flatten()
        .collect();
    rec.create(&devices).map_err(|e| {
        e.context(format!(
            "cannot keep the checkpoint of {} in {} (set {} to another directory)",
            plan.live,
            record::state_dir().display(),
            record::STATE_DIR_ENV
        ))
    })?;
    let attached = record::attach(&plan.live).and_then(|dev| blockdev::device_number(&dev));
    match attached {
        Ok(dev) => Ok(Plan {
            metadata: Some(dev),
            ..plan.clone()
        }),
        Err(e) => {
            let _ = record::forget(&plan.live);
            Err(e)
        }
    }
}

/// Carries on the migration `rec` of `live`, whose table is gone, from its
/// checkpoint; `asked`: what a `migrate` of it asked for (the destination
/// must be the recorded one); `stop` is `None` in a dry run. The caller
/// holds the device's run lock.
pub fn carry_on(
    dm: &SystemDm,
    live: &str,
    rec: &Record,
    asked: Option<Asked<'_>>,
    how: &Drive,
    group: Option<Arc<crate::ui::Group>>,
    stop: Option<&AtomicBool>,
) -> Result<ExitCode> {
    let info = dm
        .info(live)?
        .ok_or_else(|| Error::new(format!("no device-mapper device named '{live}'")))?;
    let table = dm.table(live)?;
    if table.as_slice() != std::slice::from_ref(&rec.original) {
        let now: Vec<String> = table
            .iter()
            .map(|t| format!("{} {} {}", t.len, t.target, t.params))
            .collect();
        return Err(Error::new(format!(
            "{live} maps '{}', but its migration to {} was recorded over '{} linear {}': \
             not the same source; 'iofollow-migrate abort {live}' drops the record",
            now.join(", "),
            rec.destination,
            rec.original.len,
            rec.original.params
        )));
    }
    let source = Linear::parse(&rec.original.params)
        .map(|l| l.dev)
        .ok_or_else(|| Error::new(format!("{live}: cannot read its table")))?;
    // A move within an LVM group copies into the twin the first run made.
    let mv = match info.lvm.then(|| lvm::volume_of_dm_name(live)).flatten() {
        Some(v) => lvm::resumed_move(&v, source)?,
        None => None,
    };
    let (dest_path, recorded) = match &mv {
        Some(mv) => (mv.twin().path().to_string_lossy().into_owned(), mv.dest_pv),
        None => {
            let d = blockdev::device_number(Path::new(&rec.destination))?;
            (rec.destination.clone(), d)
        }
    };
    if let Some(asked) = asked.as_ref().filter(|a| a.dest != recorded) {
        return Err(Error::new(format!(
            "{live} has a migration to {} recorded, not to {}: 'iofollow-migrate resume {live}' \
             carries it on, 'iofollow-migrate abort {live}' drops it",
            rec.destination, asked.path
        )));
    }
    if asked.is_some_and(|a| settings_differ(&a.copy, &rec.copy)) {
        eprintln!("iofollow-migrate: {live}: the copy keeps its recorded settings");
    }
    let dest = blockdev::device_number(Path::new(&dest_path))?;
    // Device numbers may name other devices after a reboot.
    let unproven = match (
        same_device("source", source, rec.source_id.as_deref())?,
        same_device("destination", dest, rec.destination_id.as_deref())?,
    ) {
        (Some(why), _) | (_, Some(why)) => Some(why),
        (None, None) => None,
    };
    let allow = plan::Allow {
        raw_destination: true,
        lvm_twin: mv.is_some(),
    };
    let plan = plan::plan(
        dm,
        &blockdev::Sysfs,
        live,
        dest,
        &dest_path,
        rec.copy.clone(),
        allow,
    )?;
    blockdev::ensure_unused(Path::new(&dest_path))?;
    if !how.force {
        refuse_foreign_data(live, &dest_path)?;
    }
    let Some(stop) = stop else {
        println!(
            "{live}: carry on the migration to {} from its checkpoint in {} (if neither \
             device was written since it appeared), switch over when synced",
            rec.destination,
            record::metadata_file(live).display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let meta = record::attach(live)?;
    let meta_dev = blockdev::device_number(&meta)?;
    let plan = Plan {
        metadata: Some(meta_dev),
        ..plan
    };
    eprintln!(
        "iofollow-migrate: carrying on the migration of {live} to {} from its checkpoint \
         on {} ({meta_dev})",
        rec.destination,
        meta.display()
    );
    let live_dev = info.dev;
    let mut check = || -> Result<String> {
        let written = unproven
            .clone()
            .or_else(|| [live_dev, dest].into_iter().find_map(written_since_created));
        match written {
            None => Ok(format!(
                "{live} and {dest_path} were not written since they appeared: \
                 the copy goes on from the checkpoint"
            )),
            Some(why) => {
                record::withdraw(&meta)?;
                Ok(format!(
                    "{why}: the checkpoint cannot be trusted, the copy starts over \
                     from the first block"
                ))
            }
        }
    };
    let steps = |dm: &SystemDm,
                 plan: &Plan,
                 ui: &mut crate::ui::Ui,
                 stop: &AtomicBool,
                 opts: &control::RunOptions<'_>| {
        control::start_at_checkpoint(dm, plan, ui, &mut check)?;
        control::carry_on(dm, plan, ui, stop, opts)
    };
    drive(dm, &plan, mv.as_ref(), how, group, stop, steps)
}

/// `Err` if the destination at `dest_path` holds data that the source,
/// read through `live` (which maps it), does not: the destination holds a
/// partial copy of the source and nothing else, unless someone wrote it
/// since the migration was recorded (formatted it, taking the migration
/// for dead), and the copy carried on, or started over, would overwrite
/// that.
fn refuse_foreign_data(live: &str, dest_path: &str) -> Result<()> {
    let source = blockdev::probe(Path::new(&format!("/dev/mapper/{live}")))?;
    let dest = blockdev::probe(Path::new(dest_path))?;
    match blockdev::foreign_data(&dest, &source) {
        None => Ok(()),
        Some(what) => Err(Error::new(format!(
            "{dest_path} holds {what}, which {live} does not: it was written since the \
             migration was recorded; refusing to overwrite it ('iofollow-migrate abort {live}' \
             drops the record, --force carries the copy on over it)"
        ))),
    }
}

/// Whether `dev`, the migration's `what`, is the device recorded as
/// `recorded` (`blockdev::stable_id`): `Err` if it is another one, `Ok(Some)`
/// (why not) if that cannot be told, `Ok(None)` if it is.
fn same_device(what: &str, dev: DiskId, recorded: Option<&str>) -> Result<Option<String>> {
    match (recorded, blockdev::stable_id(dev)) {
        (Some(r), Some(now)) if r == now => Ok(None),
        (Some(r), now) => Err(Error::new(format!(
            "the {what} {dev} is {}, not the recorded {r}: another device took its number; \
             'iofollow-migrate abort' drops the record",
            now.as_deref().unwrap_or("a device without a stable name")
        ))),
        (None, _) => Ok(Some(format!(
            "the {what} {dev} has no name that outlives its device number (dm uuid, disk WWID \
             or serial, loop file), so it may be another device"
        ))),
    }
}
