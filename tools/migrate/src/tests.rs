// SPDX-License-Identifier: GPL-2.0

//! The migration's steps against a fake device-mapper: what is left behind
//! after every way a run can end.

use crate::blockdev::Blocks;
use crate::control::{self, Observer, Outcome, RunOptions};
use crate::dm::{DevInfo, Dm};
use crate::error::{Error, Result};
use crate::lvm::Side;
use crate::plan::{plan, Allow, Plan};
use crate::status::Status;
use crate::table::{CopyOptions, Segment};
use iofollow_policy::table::DiskId;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

const LEN: u64 = 131072;
const PV: DiskId = DiskId { major: 7, minor: 1 };
const DISK: DiskId = DiskId { major: 7, minor: 0 };
const DEST: DiskId = DiskId {
    major: 8,
    minor: 16,
};

#[derive(Clone, Debug)]
struct FakeDev {
    dev: DiskId,
    active: Vec<Segment>,
    inactive: Option<Vec<Segment>>,
    suspended: bool,
    lvm: bool,
}

#[derive(Default)]
struct State {
    devs: BTreeMap<String, FakeDev>,
    /// Status lines of the iofollow table, one per read; the last repeats.
    script: VecDeque<&'static str>,
    /// The last status read while suspended.
    suspended_status: Option<String>,
    /// Operation that fails once: "load", "suspend", "resume", "create", ...
    fail: Option<&'static str>,
    log: Vec<String>,
    next_minor: u32,
    /// Raise the stop flag after this many status reads.
    stop_after: Option<usize>,
    reads: usize,
}

struct FakeDm {
    st: RefCell<State>,
    stop: AtomicBool,
}

impl FakeDm {
    fn new(script: &[&'static str]) -> Self {
        let mut st = State {
            script: script.iter().copied().collect(),
            next_minor: 10,
            ..State::default()
        };
        st.devs.insert(
            "vg-lv".into(),
            FakeDev {
                dev: DiskId {
                    major: 253,
                    minor: 3,
                },
                active: vec![Segment::linear(LEN, PV, 2048)],
                inactive: None,
                suspended: false,
                lvm: false,
            },
        );
        Self {
            st: RefCell::new(st),
            stop: AtomicBool::new(false),
        }
    }

    fn fail_once(&self, op: &'static str) -> Result<()> {
        let mut st = self.st.borrow_mut();
        if st.fail == Some(op) {
            st.fail = None;
            return Err(Error::new(format!("injected {op} failure")));
        }
        st.log.push(op.to_string());
        Ok(())
    }

    fn dev(&self, name: &str) -> FakeDev {
        self.st
            .borrow()
            .devs
            .get(name)
            .cloned()
            .unwrap_or_else(|| unreachable!("no {name}"))
    }

    fn with_dev<T>(&self, name: &str, f: impl FnOnce(&mut FakeDev) -> Result<T>) -> Result<T> {
        let mut st = self.st.borrow_mut();
        let d = st
            .devs
            .get_mut(name)
            .ok_or_else(|| Error::new(format!("No such device or address: {name}")))?;
        f(d)
    }

    /// The device is back to how the VM found it, with nothing of ours left.
    fn assert_original(&self) {
        let lv = self.dev("vg-lv");
        assert_eq!(lv.active, vec![Segment::linear(LEN, PV, 2048)]);
        assert!(!lv.suspended && lv.inactive.is_none());
        assert_eq!(self.st.borrow().devs.len(), 1, "helper left behind");
    }
}

impl Dm for FakeDm {
    fn info(&self, name: &str) -> Result<Option<DevInfo>> {
        Ok(self.st.borrow().devs.get(name).map(|d| DevInfo {
            dev: d.dev,
            suspended: d.suspended,
            inactive_table: d.inactive.is_some(),
            open_count: 1,
            lvm: d.lvm,
        }))
    }
    fn names(&self) -> Result<Vec<String>> {
        Ok(self.st.borrow().devs.keys().cloned().collect())
    }
    fn name_of(&self, dev: DiskId) -> Result<Option<String>> {
        Ok(self
            .st
            .borrow()
            .devs
            .iter()
            .find(|(_, d)| d.dev == dev)
            .map(|(n, _)| n.clone()))
    }
    fn table(&self, name: &str) -> Result<Vec<Segment>> {
        self.with_dev(name, |d| Ok(d.active.clone()))
    }
    fn status(&self, name: &str) -> Result<Vec<Segment>> {
        let d = self.dev(name);
        let mut st = self.st.borrow_mut();
        let line = if st.script.len() > 1 {
            st.script.pop_front()
        } else {
            st.script.front().copied()
        };
        let line = line.unwrap_or("copying 0/2048 0 0 0 0 0 0 0/0 follow 2:1 - 0/0");
        st.reads += 1;
        if st.stop_after == Some(st.reads) {
            self.stop.store(true, Ordering::Relaxed);
        }
        if d.suspended {
            st.suspended_status = Some(line.to_string());
        }
        Ok(d.active
            .iter()
            .map(|s| Segment::new(s.start, s.len, &s.target, line))
            .collect())
    }
    fn target_types(&self) -> Result<Vec<String>> {
        Ok(vec!["linear".into(), "iofollow".into()])
    }
    fn create(&self, name: &str, _uuid: &str, table: &[Segment]) -> Result<DiskId> {
        self.fail_once("create")?;
        let mut st = self.st.borrow_mut();
        st.next_minor += 1;
        let dev = DiskId {
            major: 253,
            minor: st.next_minor,
        };
        st.devs.insert(
            name.into(),
            FakeDev {
                dev,
                active: table.to_vec(),
                inactive: None,
                suspended: false,
                lvm: false,
            },
        );
        Ok(dev)
    }
    fn load(&self, name: &str, table: &[Segment]) -> Result<()> {
        self.fail_once("load")?;
        let is_switch = table
            .first()
            .is_some_and(|s| s.params.starts_with(&DEST.to_string()));
        let safe = self
            .st
            .borrow()
            .suspended_status
            .as_deref()
            .is_some_and(|s| s.starts_with("synced"));
        let suspended = self.dev(name).suspended;
        assert!(
            !is_switch || (suspended && safe),
            "switch table loaded without a suspended synced status"
        );
        self.with_dev(name, |d| {
            d.inactive = Some(table.to_vec());
            Ok(())
        })
    }
    fn clear(&self, name: &str) -> Result<()> {
        self.with_dev(name, |d| {
            d.inactive = None;
            Ok(())
        })
    }
    fn suspend(&self, name: &str) -> Result<()> {
        self.fail_once("suspend")?;
        self.st.borrow_mut().suspended_status = None;
        self.with_dev(name, |d| {
            d.suspended = true;
            Ok(())
        })
    }
    fn resume(&self, name: &str) -> Result<()> {
        self.fail_once("resume")?;
        self.with_dev(name, |d| {
            if let Some(t) = d.inactive.take() {
                d.active = t;
            }
            d.suspended = false;
            Ok(())
        })
    }
    fn remove(&self, name: &str) -> Result<()> {
        self.fail_once("remove")?;
        let users = self
            .st
            .borrow()
            .devs
            .values()
            .filter(|d| {
                d.active
                    .iter()
                    .any(|s| s.params.starts_with(&format!("{} ", self.dev(name).dev)))
            })
            .count();
        if users > 0 {
            return Err(Error::new(format!("Device or resource busy: {name}")));
        }
        self.st.borrow_mut().devs.remove(name);
        Ok(())
    }
    fn message(&self, name: &str, msg: &str) -> Result<()> {
        self.st
            .borrow_mut()
            .log
            .push(format!("message {name} {msg}"));
        Ok(())
    }
}

struct FakeBlocks;

impl Blocks for FakeBlocks {
    fn sectors(&self, dev: DiskId) -> Result<u64> {
        Ok(if dev == DEST { LEN } else { 4 * LEN })
    }
    fn partition(&self, dev: DiskId) -> Result<Option<(DiskId, u64)>> {
        Ok((dev == PV).then_some((DISK, 2048)))
    }
    fn node(&self, dev: DiskId) -> Result<String> {
        Ok(format!("/dev/fake-{dev}"))
    }
}

#[derive(Default)]
struct Quiet {
    notes: Vec<String>,
    samples: usize,
}

impl Observer for Quiet {
    fn progress(&mut self, _: &Status) {
        self.samples += 1;
    }
    fn note(&mut self, what: &str) {
        self.notes.push(what.into());
    }
    fn tick(&mut self) {}
}

fn copy() -> CopyOptions {
    CopyOptions {
        chunk_sectors: 2048,
        ratio: None,
        policy: None,
        cache_mib: None,
        deadline_s: None,
        shared_head: true,
    }
}

/// The plan for vg-lv to /dev/sdb (`DEST`) with default options.
fn plan_for(dm: &FakeDm, blocks: &impl Blocks, allow: Allow) -> Result<Plan> {
    plan(dm, blocks, "vg-lv", DEST, "/dev/sdb", copy(), allow)
}

fn planned(dm: &FakeDm) -> Plan {
    plan_for(dm, &FakeBlocks, Allow::default()).unwrap()
}

/// Why the plan for vg-lv with default options is refused.
fn refusal(dm: &FakeDm, blocks: &impl Blocks) -> String {
    plan_for(dm, blocks, Allow::default())
        .unwrap_err()
        .to_string()
}

fn opts() -> RunOptions<'static> {
    RunOptions {
        retries: 2,
        retry_ticks: 1,
        verify: None,
        commit: None,
    }
}

const COPYING: &str = "copying 10/2048 0 4096 5 5 0 0 0/0 follow 2:1 - 0/0";
const SYNCED: &str = "synced 2048/2048 0 4096 5 5 0 0 0/0 follow 2:1 - 0/0";
const ERROR: &str = "error 10/2048 0 4096 5 5 0 0 0/0 follow 2:1 - 0/0";

#[test]
fn plan_finds_the_disk_under_the_volume() {
    let dm = FakeDm::new(&[]);
    let p = planned(&dm);
    // PV 7:1 starts at 2048 on disk 7:0; the LV at 2048 on the PV.
    assert_eq!((p.place.disk, p.place.offset), (DISK, 4096));
    assert_eq!(p.helper, "iofollow-src-vg-lv");
    assert_eq!(
        p.iofollow_table("253:11").unwrap().params,
        "253:11 8:16 2048 4 source_offset 4096 disk 7:0"
    );
    assert_eq!(p.switch_table(), Segment::linear(LEN, DEST, 0));
    // Without --shared-head, a head model of its own.
    let mut own = p;
    own.copy.shared_head = false;
    assert_eq!(
        own.iofollow_table("253:11").unwrap().params,
        "253:11 8:16 2048"
    );
}

#[test]
fn plan_refuses_with_reasons() {
    let dm = FakeDm::new(&[]);
    let err = |dm: &FakeDm, live: &str, dest: DiskId| {
        plan(
            dm,
            &FakeBlocks,
            live,
            dest,
            "/dev/x",
            copy(),
            Allow::default(),
        )
        .unwrap_err()
        .to_string()
    };
    assert!(err(&dm, "nope", DEST).contains("no device-mapper device named 'nope'"));
    assert!(err(
        &dm,
        "vg-lv",
        DiskId {
            major: 253,
            minor: 3
        }
    )
    .contains("is vg-lv itself"));
    // The whole disk under the PV holds the source.
    assert!(err(&dm, "vg-lv", DISK).contains("holds the source"));
    assert!(err(&dm, "vg-lv", PV).contains("holds the source"));
    dm.st.borrow_mut().devs.get_mut("vg-lv").unwrap().suspended = true;
    assert!(err(&dm, "vg-lv", DEST).contains("is suspended"));
    dm.st.borrow_mut().devs.get_mut("vg-lv").unwrap().suspended = false;
    dm.st
        .borrow_mut()
        .devs
        .get_mut("vg-lv")
        .unwrap()
        .active
        .push(Segment::new(LEN, 8, "linear", "7:1 0"));
    assert!(err(&dm, "vg-lv", DEST).contains("2 segments"));
}

#[test]
fn plan_refuses_a_small_destination_and_a_leftover_helper() {
    struct Small;
    impl Blocks for Small {
        fn sectors(&self, _: DiskId) -> Result<u64> {
            Ok(LEN - 1)
        }
        fn partition(&self, _: DiskId) -> Result<Option<(DiskId, u64)>> {
            Ok(None)
        }
        fn node(&self, _: DiskId) -> Result<String> {
            Ok("/dev/small".into())
        }
    }
    let dm = FakeDm::new(&[]);
    let e = refusal(&dm, &Small);
    assert_eq!(
        e,
        "the destination /dev/sdb is too small: 131071 sectors, vg-lv has 131072"
    );
    dm.create("iofollow-src-vg-lv", "u", &[Segment::linear(LEN, PV, 2048)])
        .unwrap();
    let e = refusal(&dm, &FakeBlocks);
    assert!(e.contains("run 'iofollow-migrate abort vg-lv'"), "{e}");
}

#[test]
fn a_run_switches_only_when_suspended_and_synced() {
    // The status read while suspended has its own counters: the log reports them.
    let suspended = "synced 2048/2048 0 4096 7 9 0 0 0/0 follow 2:1 - 0/0";
    let dm = FakeDm::new(&[COPYING, COPYING, SYNCED, suspended]);
    let p = planned(&dm);
    let mut obs = Quiet::default();
    assert_eq!(
        control::run(&dm, &p, &mut obs, &dm.stop, &opts()).unwrap(),
        Outcome::Switched
    );
    let lv = dm.dev("vg-lv");
    assert_eq!(lv.active, vec![p.switch_table()]);
    assert!(!lv.suspended && lv.inactive.is_none());
    assert_eq!(dm.st.borrow().devs.len(), 1, "helper removed");
    assert_eq!(obs.samples, 3);
    assert!(
        obs.notes
            .iter()
            .any(|n| n.starts_with("suspended and synced (9 copy IOs, 7 VM IOs): switching")),
        "{:?}",
        obs.notes
    );
}

#[test]
fn a_write_racing_the_switch_sends_it_back_to_copying() {
    // Synced, but a write lands before the suspend: the suspended status says copying.
    let dm = FakeDm::new(&[SYNCED, COPYING, COPYING, SYNCED, SYNCED]);
    let p = planned(&dm);
    let mut obs = Quiet::default();
    assert_eq!(
        control::run(&dm, &p, &mut obs, &dm.stop, &opts()).unwrap(),
        Outcome::Switched
    );
    assert!(obs
        .notes
        .iter()
        .any(|n| n.contains("a write raced the switch-over")));
    assert_eq!(dm.dev("vg-lv").active, vec![p.switch_table()]);
}

#[test]
fn an_interrupt_puts_the_original_table_back() {
    let dm = FakeDm::new(&[COPYING]);
    dm.st.borrow_mut().stop_after = Some(3);
    let p = planned(&dm);
    let mut obs = Quiet::default();
    assert_eq!(
        control::run(&dm, &p, &mut obs, &dm.stop, &opts()).unwrap(),
        Outcome::Restored
    );
    dm.assert_original();
    let log = dm.st.borrow().log.clone();
    let at = |op: &str| log.iter().position(|l| l == op);
    assert!(at("message vg-lv pause").is_some(), "{log:?}");
    // The checkpoint is withdrawn while the iofollow table is still loaded:
    // the source is written outside the migration from the resume on.
    let reset = at("message vg-lv reset").unwrap_or_else(|| unreachable!("no reset: {log:?}"));
    let last_load = log.iter().rposition(|l| l == "load");
    assert!(last_load.is_some_and(|l| reset < l), "{log:?}");
}

#[test]
fn a_refused_table_changes_nothing() {
    let dm = FakeDm::new(&[COPYING]);
    dm.st.borrow_mut().fail = Some("load");
    let p = planned(&dm);
    let e = control::run(&dm, &p, &mut Quiet::default(), &dm.stop, &opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("the kernel refused the iofollow table"), "{e}");
    dm.assert_original();
}

#[test]
fn a_failed_suspend_at_start_changes_nothing() {
    let dm = FakeDm::new(&[COPYING]);
    dm.st.borrow_mut().fail = Some("suspend");
    let p = planned(&dm);
    assert!(control::run(&dm, &p, &mut Quiet::default(), &dm.stop, &opts()).is_err());
    dm.assert_original();
}

#[test]
fn a_copy_that_keeps_failing_is_retried_then_undone() {
    let dm = FakeDm::new(&[COPYING, ERROR]);
    let p = planned(&dm);
    let mut obs = Quiet::default();
    let e = control::run(&dm, &p, &mut obs, &dm.stop, &opts())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the copy failed 3 times") && e.contains("original table is back"),
        "{e}"
    );
    let resumes = dm
        .st
        .borrow()
        .log
        .iter()
        .filter(|l| *l == "message vg-lv resume")
        .count();
    assert_eq!(resumes, 2);
    dm.assert_original();
}

#[test]
fn a_copy_error_that_clears_goes_on_to_switch() {
    let dm = FakeDm::new(&[COPYING, ERROR, ERROR, ERROR, COPYING, SYNCED, SYNCED]);
    let p = planned(&dm);
    assert_eq!(
        control::run(&dm, &p, &mut Quiet::default(), &dm.stop, &opts()).unwrap(),
        Outcome::Switched
    );
}

#[test]
fn a_verify_failure_puts_the_original_table_back() {
    let dm = FakeDm::new(&[SYNCED]);
    let p = planned(&dm);
    let fail = |_: &Plan| Err(Error::new("differ at sector 7"));
    let o = RunOptions {
        verify: Some(&fail),
        ..opts()
    };
    let e = control::run(&dm, &p, &mut Quiet::default(), &dm.stop, &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("differ at sector 7") && e.contains("original table is back"),
        "{e}"
    );
    dm.assert_original();
}

#[test]
fn abort_from_another_process_restores_the_original() {
    let dm = FakeDm::new(&[COPYING]);
    let p = planned(&dm);
    control::start(&dm, &p, &mut Quiet::default()).unwrap();
    assert_eq!(dm.dev("vg-lv").active[0].target, "iofollow");
    assert_eq!(control::status(&dm, "vg-lv").unwrap().migrated_blocks, 10);
    assert_eq!(control::status_and_block(&dm, "vg-lv").unwrap().1, 65536);
    control::abort(&dm, "vg-lv", &mut Quiet::default()).unwrap();
    dm.assert_original();
    let e = control::abort(&dm, "vg-lv", &mut Quiet::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nothing to abort"), "{e}");
    assert!(control::status(&dm, "vg-lv")
        .unwrap_err()
        .to_string()
        .contains("not being migrated"));
}

/// `resume`: the plan read back from the tables a run that has gone left
/// is the plan that run had, and carrying on switches over as `run` does.
#[test]
fn resume_reads_the_plan_back_and_carries_on_to_the_switch_over() {
    let dm = FakeDm::new(&[COPYING, COPYING, SYNCED]);
    let p = planned(&dm);
    control::start(&dm, &p, &mut Quiet::default()).unwrap();
    // The run is killed here: the iofollow table copies on alone.
    let r = crate::plan::resumed(&dm, &FakeBlocks, "vg-lv", false).unwrap();
    assert_eq!(r.original, p.original);
    assert_eq!((r.live.as_str(), r.len, r.dest), ("vg-lv", LEN, DEST));
    assert_eq!(r.helper, p.helper);
    assert_eq!(r.switch_table(), p.switch_table());
    assert_eq!(r.dest_path, "/dev/fake-8:16");
    assert_eq!(r.block_bytes(), p.block_bytes());
    assert_eq!(
        (r.place.disk, r.place.offset),
        (p.place.disk, p.place.offset)
    );
    assert!(!r.lvm_raw);
    let mut obs = Quiet::default();
    assert_eq!(
        control::carry_on(&dm, &r, &mut obs, &dm.stop, &opts()).unwrap(),
        Outcome::Switched
    );
    let lv = dm.dev("vg-lv");
    assert_eq!(lv.active, vec![p.switch_table()]);
    assert!(!lv.suspended && lv.inactive.is_none());
    assert_eq!(dm.st.borrow().devs.len(), 1, "helper removed");
    // Nothing is left to resume.
    let e = crate::plan::resumed(&dm, &FakeBlocks, "vg-lv", false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not being migrated: nothing to resume"), "{e}");
}

#[test]
fn an_interrupted_resume_puts_the_original_table_back() {
    let dm = FakeDm::new(&[COPYING]);
    control::start(&dm, &planned(&dm), &mut Quiet::default()).unwrap();
    let r = crate::plan::resumed(&dm, &FakeBlocks, "vg-lv", false).unwrap();
    let reads = dm.st.borrow().reads;
    dm.st.borrow_mut().stop_after = Some(reads + 2);
    assert_eq!(
        control::carry_on(&dm, &r, &mut Quiet::default(), &dm.stop, &opts()).unwrap(),
        Outcome::Restored
    );
    dm.assert_original();
}

#[test]
fn resume_refuses_what_is_not_a_migration_of_the_tool() {
    let resumed = |dm: &FakeDm| {
        crate::plan::resumed(dm, &FakeBlocks, "vg-lv", false)
            .unwrap_err()
            .to_string()
    };
    let dm = FakeDm::new(&[COPYING]);
    assert!(resumed(&dm).contains("nothing to resume"));
    // A helper left before the iofollow table took: abort removes it.
    dm.create("iofollow-src-vg-lv", "u", &[Segment::linear(LEN, PV, 2048)])
        .unwrap();
    let e = resumed(&dm);
    assert!(
        e.contains("its table is 'linear'") && e.contains("abort vg-lv"),
        "{e}"
    );
    // An iofollow table set up by hand, without a helper.
    let by_hand = FakeDm::new(&[COPYING]);
    by_hand
        .st
        .borrow_mut()
        .devs
        .get_mut("vg-lv")
        .unwrap()
        .active = vec![Segment::new(0, LEN, "iofollow", "7:1 8:16 2048 0")];
    assert!(resumed(&by_hand).contains("did not set up"));
    // One that copies from something else than the helper.
    dm.st.borrow_mut().devs.get_mut("vg-lv").unwrap().active =
        vec![Segment::new(0, LEN, "iofollow", "7:1 8:16 2048 0")];
    assert!(resumed(&dm).contains("not from iofollow-src-vg-lv"));
    // Another tool at work.
    let busy = FakeDm::new(&[COPYING]);
    control::start(&busy, &planned(&busy), &mut Quiet::default()).unwrap();
    busy.st.borrow_mut().devs.get_mut("vg-lv").unwrap().inactive = Some(vec![]);
    assert!(resumed(&busy).contains("inactive table"));
    // Suspended, with the switch table loaded by a run killed in its
    // switch-over: refused, not resumed (abort settles it).
    let switching = FakeDm::new(&[COPYING]);
    let p = planned(&switching);
    control::start(&switching, &p, &mut Quiet::default()).unwrap();
    {
        let mut st = switching.st.borrow_mut();
        let lv = st.devs.get_mut("vg-lv").unwrap();
        lv.suspended = true;
        lv.inactive = Some(vec![p.switch_table()]);
    }
    let ops = switching.st.borrow().log.len();
    let e = resumed(&switching);
    assert!(
        e.contains("is suspended") && e.contains("abort vg-lv"),
        "{e}"
    );
    // None of the refusals changed anything.
    assert_eq!(switching.st.borrow().log.len(), ops, "a refusal acted");
    let lv = switching.dev("vg-lv");
    assert!(lv.suspended && lv.inactive == Some(vec![p.switch_table()]));
    assert!(
        !dm.st.borrow().log.iter().any(|l| l != "create"),
        "{:?}",
        dm.st.borrow().log
    );
}

#[test]
fn abort_removes_a_helper_left_before_the_table_took() {
    let dm = FakeDm::new(&[COPYING]);
    dm.create("iofollow-src-vg-lv", "u", &[Segment::linear(LEN, PV, 2048)])
        .unwrap();
    control::abort(&dm, "vg-lv", &mut Quiet::default()).unwrap();
    dm.assert_original();
}

#[test]
fn the_disk_is_found_through_stacked_linear_devices() {
    let dm = FakeDm::new(&[]);
    let mpath = DiskId {
        major: 253,
        minor: 9,
    };
    dm.st.borrow_mut().devs.insert(
        "mpath".into(),
        FakeDev {
            dev: mpath,
            // Two segments: the LV's range lies in the second.
            active: vec![
                Segment::new(0, 1000, "linear", "7:1 0"),
                Segment::new(1000, 4 * LEN, "linear", "7:1 5000"),
            ],
            inactive: None,
            suspended: false,
            lvm: false,
        },
    );
    dm.st.borrow_mut().devs.get_mut("vg-lv").unwrap().active =
        vec![Segment::linear(LEN, mpath, 3000)];
    let p = planned(&dm);
    // 3000 on mpath is 2000 into its second segment: 7000 on 7:1, 9048 on 7:0.
    assert_eq!((p.place.disk, p.place.offset), (DISK, 9048));
    // A device of another type below ends the walk: it is the disk.
    dm.st.borrow_mut().devs.get_mut("mpath").unwrap().active =
        vec![Segment::new(0, 8 * LEN, "crypt", "aes 0 7:1 0")];
    let p = planned(&dm);
    assert_eq!((p.place.disk, p.place.offset), (mpath, 3000));
}

/// Issue 22, finding 12: an LVM volume is not moved to a raw destination
/// unless the operator says so, and the plan remembers to warn at the end.
#[test]
fn an_lvm_volume_needs_raw_destination() {
    let dm = FakeDm::new(&[]);
    dm.st.borrow_mut().devs.get_mut("vg-lv").unwrap().lvm = true;
    let e = refusal(&dm, &FakeBlocks);
    assert!(e.contains("is an LVM logical volume"), "{e}");
    assert!(e.contains("--raw-destination"), "{e}");
    assert!(dm.st.borrow().log.is_empty(), "a refusal changed something");
    let allow = Allow {
        raw_destination: true,
        ..Allow::default()
    };
    let p = plan_for(&dm, &FakeBlocks, allow).unwrap();
    assert!(p.lvm_raw);
    // The twin the tool allocated on a PV of the group: no warning, and
    // the switch-over maps what the twin maps (a plain device: itself).
    let twin = Allow {
        lvm_twin: true,
        ..Allow::default()
    };
    let p = plan_for(&dm, &FakeBlocks, twin).unwrap();
    assert!(!p.lvm_raw);
    assert_eq!(p.switch_table(), Segment::linear(LEN, DEST, 0));
    assert!(!planned(&FakeDm::new(&[])).lvm_raw);
}

#[test]
fn blkid_probe_output_names_what_would_be_overwritten() {
    use crate::blockdev::parse_blkid_export;
    let fs = parse_blkid_export("UUID=1\nVERSION=1.0\nTYPE=ext4\nUSAGE=filesystem\n");
    assert_eq!(fs.found, ["a file system (ext4)"]);
    let pv = parse_blkid_export("UUID=x\nVERSION=LVM2 001\nTYPE=LVM2_member\nUSAGE=raid\n");
    assert_eq!(pv.found, ["an LVM physical volume"]);
    let pt = parse_blkid_export("PTUUID=abcd\nPTTYPE=gpt\n");
    assert_eq!(pt.found, ["a gpt partition table"]);
    let md = parse_blkid_export("TYPE=linux_raid_member\nUSAGE=raid\n");
    assert_eq!(md.found, ["an md RAID member"]);
    assert!(parse_blkid_export("").found.is_empty());
}

#[test]
fn a_destination_carried_on_may_hold_only_what_the_source_holds() {
    use crate::blockdev::{foreign_data, Probe};
    let ext4 = |uuid: &str, dev: &str| {
        let out =
            format!("DEVNAME={dev}\nUUID={uuid}\nBLOCK_SIZE=1024\nTYPE=ext4\nUSAGE=filesystem\n");
        Probe::new(0, &out)
    };
    let blank = Probe::new(2, "");
    // Nothing copied yet, or a block without a signature.
    assert_eq!(foreign_data(&blank, &ext4("a", "/dev/mapper/vm")), None);
    assert_eq!(foreign_data(&blank, &blank), None);
    // The source's file system, copied with its first block: the device
    // names differ, nothing else does.
    assert_eq!(
        foreign_data(&ext4("a", "/dev/sdc"), &ext4("a", "/dev/mapper/vm")),
        None
    );
    // Formatted since: another file system, or one on a blank source.
    let other = Some("a file system (ext4)".to_string());
    assert_eq!(
        foreign_data(&ext4("b", "/dev/sdc"), &ext4("a", "/dev/mapper/vm")),
        other
    );
    assert_eq!(foreign_data(&ext4("b", "/dev/sdc"), &blank), other);
    let gpt = Probe::new(0, "PTUUID=1\nPTTYPE=gpt\n");
    assert_eq!(
        foreign_data(&gpt, &ext4("a", "/dev/mapper/vm")).as_deref(),
        Some("a gpt partition table")
    );
    // Two signatures blkid cannot tell apart are the source's only if the
    // source shows the same.
    let ambivalent = Probe::new(8, "");
    assert_eq!(foreign_data(&ambivalent, &ambivalent), None);
    assert_eq!(
        foreign_data(&ambivalent, &blank).as_deref(),
        Some("signatures blkid cannot tell apart (blkid exit 8)")
    );
}

#[test]
fn set_sends_its_messages_to_a_running_migration_only() {
    use iofollow_policy::message::Message;
    use iofollow_policy::ratio::Ratio;
    let dm = FakeDm::new(&[COPYING]);
    let changes = [
        Message::Ratio(Ratio::new(8, 1).unwrap()),
        Message::Deadline(0),
        Message::Cache(16),
    ];
    // Not migrating yet: refused, nothing sent.
    let e = control::set(&dm, "vg-lv", &changes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not being migrated"), "{e}");
    assert!(!dm.st.borrow().log.iter().any(|l| l.starts_with("message")));
    let p = planned(&dm);
    control::start(&dm, &p, &mut Quiet::default()).unwrap();
    control::set(&dm, "vg-lv", &changes).unwrap();
    let sent: Vec<String> = dm
        .st
        .borrow()
        .log
        .iter()
        .filter(|l| l.starts_with("message"))
        .cloned()
        .collect();
    assert_eq!(
        sent,
        [
            "message vg-lv ratio 8:1",
            "message vg-lv deadline 0",
            "message vg-lv cache 16"
        ]
    );
}

#[test]
fn migrations_lists_the_iofollow_devices_only() {
    let dm = FakeDm::new(&[COPYING]);
    assert!(control::migrations(&dm).unwrap().is_empty());
    let p = planned(&dm);
    control::start(&dm, &p, &mut Quiet::default()).unwrap();
    // The helper keeps the original (linear) mapping: not a migration.
    assert_eq!(control::migrations(&dm).unwrap(), ["vg-lv"]);
}

/// LVM metadata that logs each call (with whether the live device was
/// suspended and which table it had then), keeps the side it names, and
/// fails as told.
struct FakeMeta<'a> {
    dm: &'a FakeDm,
    side: std::cell::Cell<Side>,
    /// A commit to this side fails; `apply_anyway`: after writing it.
    fail: Option<Side>,
    apply_anyway: bool,
    /// The switch-over table is refused after the commit.
    refuse_switch: bool,
}

impl<'a> FakeMeta<'a> {
    fn new(dm: &'a FakeDm) -> Self {
        Self {
            dm,
            side: std::cell::Cell::new(Side::Source),
            fail: None,
            apply_anyway: false,
            refuse_switch: false,
        }
    }
}

impl control::Metadata for FakeMeta<'_> {
    fn lock(&self) -> Result<Box<dyn control::LockedMetadata + '_>> {
        let lv = self.dm.dev("vg-lv");
        self.dm
            .st
            .borrow_mut()
            .log
            .push(format!("lock suspended={}", lv.suspended));
        Ok(Box::new(self))
    }
}

impl control::LockedMetadata for &FakeMeta<'_> {
    fn commit(&self, side: Side) -> Result<()> {
        let lv = self.dm.dev("vg-lv");
        let entry = format!(
            "commit {side:?} suspended={} {}",
            lv.suspended, lv.active[0].target
        );
        self.dm.st.borrow_mut().log.push(entry);
        if self.fail == Some(side) {
            if self.apply_anyway {
                self.side.set(side);
            }
            return Err(Error::new("vgcfgrestore failed"));
        }
        self.side.set(side);
        if side == Side::Destination && self.refuse_switch {
            self.dm.st.borrow_mut().fail = Some("load");
        }
        Ok(())
    }
    fn side(&self) -> Result<Side> {
        Ok(self.side.get())
    }
}

fn commits(dm: &FakeDm) -> Vec<String> {
    let st = dm.st.borrow();
    st.log
        .iter()
        .filter(|l| l.starts_with("commit") || l.starts_with("load") || l.starts_with("lock"))
        .cloned()
        .collect()
}

/// A run with `meta`; the switch-over table it was planned with.
fn run_with(dm: &FakeDm, meta: &FakeMeta<'_>) -> (Result<Outcome>, Segment) {
    let p = planned(dm);
    let o = RunOptions {
        commit: Some(meta),
        ..opts()
    };
    (
        control::run(dm, &p, &mut Quiet::default(), &dm.stop, &o),
        p.switch_table(),
    )
}

#[test]
fn lvm_metadata_is_committed_suspended_and_synced_before_the_switch_table() {
    let dm = FakeDm::new(&[COPYING, SYNCED, SYNCED]);
    let meta = FakeMeta::new(&dm);
    let (outcome, switch) = run_with(&dm, &meta);
    assert_eq!(outcome.unwrap(), Outcome::Switched);
    // The group's lock is taken before the suspend.
    assert_eq!(
        commits(&dm),
        vec![
            "load",
            "lock suspended=false",
            "commit Destination suspended=true iofollow",
            "load"
        ]
    );
    assert_eq!(dm.dev("vg-lv").active, vec![switch]);
    assert_eq!(meta.side.get(), Side::Destination);
}

#[test]
fn a_refused_switch_table_names_the_source_again_and_puts_the_original_back() {
    let dm = FakeDm::new(&[COPYING, SYNCED, SYNCED]);
    let meta = FakeMeta {
        refuse_switch: true,
        ..FakeMeta::new(&dm)
    };
    let e = run_with(&dm, &meta).0.unwrap_err().to_string();
    assert!(
        e.contains("names the source again") && e.contains("original table is back"),
        "{e}"
    );
    assert_eq!(
        commits(&dm),
        vec![
            "load",
            "lock suspended=false",
            "commit Destination suspended=true iofollow",
            "commit Source suspended=true iofollow",
            "load"
        ]
    );
    assert_eq!(meta.side.get(), Side::Source);
    dm.assert_original();
}

#[test]
fn a_failed_commit_that_left_the_source_puts_the_original_back() {
    let dm = FakeDm::new(&[COPYING, SYNCED, SYNCED]);
    let meta = FakeMeta {
        fail: Some(Side::Destination),
        ..FakeMeta::new(&dm)
    };
    let e = run_with(&dm, &meta).0.unwrap_err().to_string();
    assert!(
        e.contains("vgcfgrestore failed") && e.contains("still names the source"),
        "{e}"
    );
    assert_eq!(meta.side.get(), Side::Source);
    dm.assert_original();
}

#[test]
fn a_commit_that_failed_after_writing_still_switches() {
    let dm = FakeDm::new(&[COPYING, SYNCED, SYNCED]);
    let meta = FakeMeta {
        fail: Some(Side::Destination),
        apply_anyway: true,
        ..FakeMeta::new(&dm)
    };
    let (outcome, switch) = run_with(&dm, &meta);
    assert_eq!(outcome.unwrap(), Outcome::Switched);
    assert_eq!(meta.side.get(), Side::Destination);
    assert_eq!(dm.dev("vg-lv").active, vec![switch]);
}

#[test]
fn a_device_counts_as_written_by_its_writes_discards_and_ios_in_flight() {
    use crate::blockdev::written_in_stat;
    let idle = "     120        0     4800      33        0        0        0        0        0       40       33        0        0        0        0        0        0";
    assert_eq!(written_in_stat(idle), None);
    let wrote = idle.replacen(
        "       0        0        0        0        0       40",
        "       2        0        0        0        0       40",
        1,
    );
    assert_eq!(written_in_stat(&wrote), Some(2));
    let fields = |at: usize| {
        let mut f = vec!["0"; 17];
        f[at] = "3";
        f.join(" ")
    };
    assert_eq!(written_in_stat(&fields(4)), Some(3), "writes");
    assert_eq!(written_in_stat(&fields(8)), Some(3), "in flight");
    assert_eq!(written_in_stat(&fields(11)), Some(3), "discards");
    assert_eq!(written_in_stat(&fields(0)), None, "reads");
    assert_eq!(written_in_stat("0 0 0"), Some(u64::MAX), "unreadable");
    assert!(written_in_stat(&fields(4).replace('3', "x")).is_some());
}

#[test]
fn a_checkpoint_is_checked_while_the_device_is_suspended_and_loaded_with_its_metadata() {
    let dm = FakeDm::new(&[]);
    let p = Plan {
        metadata: Some(DiskId { major: 7, minor: 9 }),
        ..planned(&dm)
    };
    let mut obs = Quiet::default();
    let mut check = || -> Result<String> {
        assert!(
            dm.dev("vg-lv").suspended,
            "checked while the device takes writes"
        );
        assert!(
            dm.dev("vg-lv").inactive.is_none(),
            "checked after the table read the metadata"
        );
        Ok("checked".into())
    };
    control::start_at_checkpoint(&dm, &p, &mut obs, &mut check).unwrap();
    let live = dm.dev("vg-lv");
    assert!(!live.suspended);
    assert_eq!(live.active.len(), 1);
    assert!(
        live.active[0].params.ends_with(" metadata 7:9"),
        "{}",
        live.active[0].params
    );
    assert!(obs.notes.iter().any(|n| n == "checked"), "{:?}", obs.notes);

    // A failed check changes nothing, and the device takes IO again.
    let dm = FakeDm::new(&[]);
    let mut refuse = || -> Result<String> { Err(Error::new("cannot withdraw")) };
    let e = control::start_at_checkpoint(&dm, &p, &mut obs, &mut refuse).unwrap_err();
    assert!(e.to_string().contains("cannot withdraw"));
    let live = dm.dev("vg-lv");
    assert!(!live.suspended);
    assert_eq!(live.active, vec![Segment::linear(LEN, PV, 2048)]);
    assert!(dm.st.borrow().devs.get("iofollow-src-vg-lv").is_none());
}
