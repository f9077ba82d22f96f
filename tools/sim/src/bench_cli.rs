// SPDX-License-Identifier: GPL-2.0

//! The simulator's side of `make bench`.
//!
//! * `iofollow-sim emit` writes the request stream a guest run replays
//!   (`t_ns lba sectors R|W`, image-relative), from the Table 2 generators
//!   or an SPC trace scaled onto the image, so the kernel and the simulator
//!   see the same requests.
//! * `iofollow-sim single` simulates one configuration of the guest run on
//!   such a file and prints its figures as one JSON object.

use crate::kernel_like::{run_workloads, ClosedLoop, Workload};
use crate::sim::{self, Mode, Queueing, RunConfig};
use crate::trace::{self, Req, SynthGen};
use iofollow_hddmodel::DiskParams;
use iofollow_policy::anticipation::AnticipationParams;
use iofollow_policy::piggyback::PiggybackRule;
use iofollow_policy::readroute::ReadsMode;
use iofollow_policy::select::FollowParams;
use std::io::Write;

fn die(msg: &str) -> ! {
    eprintln!("iofollow-sim: {msg}");
    std::process::exit(2)
}

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        Some(
            self.0
                .get(i + 1)
                .map(String::as_str)
                .unwrap_or_else(|| die(&format!("{name} needs a value"))),
        )
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> T {
        match self.get(name) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(&format!("{name}: bad value {v}"))),
            None => default.unwrap_or_else(|| die(&format!("missing {name}"))),
        }
    }
}

/// `emit --workload NAME|spc:FILE --image-sectors N --duration-s S
/// [--seed X] [--load-scale F] [--spc-start-s T]`
pub fn emit(argv: Vec<String>) {
    let a = Args(argv);
    let workload = a
        .get("--workload")
        .unwrap_or_else(|| die("missing --workload"));
    let image: u64 = a.num("--image-sectors", None);
    let duration_ns = a.num::<u64>("--duration-s", None) * 1_000_000_000;
    let seed: u64 = a.num("--seed", Some(20180101));
    let scale: f64 = a.num("--load-scale", Some(1.0));
    let reqs: Vec<Req> = if let Some(path) = workload.strip_prefix("spc:") {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| die(&format!("cannot read {path}: {e}")));
        let t = trace::parse_spc(&text).unwrap_or_else(|e| die(&format!("{path}: {e}")));
        let start_ns = a.num::<u64>("--spc-start-s", Some(crate::CP_START_S)) * 1_000_000_000;
        // Scaled onto the image: distances shrink, order and locality stay.
        t.reqs
            .into_iter()
            .filter(|r| r.t_ns >= start_ns && r.t_ns - start_ns < duration_ns)
            .map(|r| {
                let sectors = r.sectors.min(image);
                let mut lba =
                    ((r.lba as u128 * image as u128) / t.span_sectors.max(1) as u128) as u64;
                if sectors >= 8 {
                    lba &= !7;
                }
                Req {
                    t_ns: r.t_ns - start_ns,
                    lba: lba.min(image - sectors),
                    sectors,
                    write: r.write,
                }
            })
            .collect()
    } else {
        let spec = trace::paper_specs()
            .into_iter()
            .find(|s| s.name.eq_ignore_ascii_case(workload))
            .unwrap_or_else(|| die(&format!("unknown workload {workload}")));
        SynthGen::new(spec, image, seed, scale)
            .take_while(|r| r.t_ns < duration_ns)
            .collect()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in reqs {
        let rw = if r.write { 'W' } else { 'R' };
        if writeln!(out, "{} {} {} {rw}", r.t_ns, r.lba, r.sectors).is_err() {
            die("cannot write the trace");
        }
    }
}

fn read_trace(path: &str) -> Vec<Req> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| die(&format!("cannot read {path}: {e}")));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let p = |s: &str| {
                s.parse::<u64>()
                    .unwrap_or_else(|_| die(&format!("{path}: {l}")))
            };
            if f.len() != 4 {
                die(&format!("{path}: {l}"));
            }
            Req {
                t_ns: p(f[0]),
                lba: p(f[1]),
                sectors: p(f[2]),
                write: f[3] == "W",
            }
        })
        .collect()
}

/// `single --trace FILE --image-sectors N --mode follow|sequential|normal
/// [--chunk C] [--block B] [--read-at-head on|off] [--depth N] [--queue-aware on|off] [--ratio V:M] [--queue fifo|ncq] [--dispatch kernel|host]
/// [--reads source|destination|auto] [--dest-read-us U] [--flush-interval-ms M] [--idle-run SECTORS] [--islands avoid|allow]`:
/// the kernel's configuration as the simulator models it (piggybacking as
/// the engine does for both policies, no cache, VM latency over the whole
/// trace; the defaults are the table's), scheduled as the kernel does (`kernel_like`, the default) or as
/// `make sim` does (`host`: strict V:M alternation on the host).
pub fn single(argv: Vec<String>) {
    let a = Args(argv);
    let image: u64 = a.num("--image-sectors", None);
    // `--closed DEPTH:THINK_US:SECONDS`: dependent random 4 KiB reads
    // instead of a trace.
    let closed = a.get("--closed").map(|c| {
        let f: Vec<u64> = c
            .split(':')
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| die(&format!("bad --closed {c}")))
            })
            .collect();
        if f.len() != 3 || f[0] == 0 {
            die("--closed wants DEPTH:THINK_US:SECONDS");
        }
        ClosedLoop {
            depth: u32::try_from(f[0]).unwrap_or(1),
            think_ns: f[1] * 1000,
            sectors: 8,
            until_ns: f[2] * 1_000_000_000,
            seed: 1,
        }
    });
    let reqs = match closed {
        Some(_) => Vec::new(),
        None => read_trace(a.get("--trace").unwrap_or_else(|| die("missing --trace"))),
    };
    let anticipation = AnticipationParams {
        enabled: match a.get("--anticipation").unwrap_or("on") {
            "on" => true,
            "off" => false,
            v => die(&format!("--anticipation on|off, not {v}")),
        },
        ..AnticipationParams::default()
    };
    let chunk: u64 = a.num("--chunk", Some(2048));
    let block: u64 = a.num("--block", Some(128));
    let queue_aware = match a.get("--queue-aware").unwrap_or("off") {
        "on" => true,
        "off" => false,
        v => die(&format!("--queue-aware on|off, not {v}")),
    };
    let depth: u32 = a.num("--depth", Some(iofollow_policy::table::DEPTH_DEFAULT));
    let read_at_head = match a.get("--read-at-head").unwrap_or("on") {
        "on" => true,
        "off" => false,
        v => die(&format!("--read-at-head on|off, not {v}")),
    };
    let ratio = a.get("--ratio").unwrap_or("2:1");
    let ratio = ratio
        .split_once(':')
        .and_then(|(v, m)| Some((v.parse().ok()?, m.parse().ok()?)))
        .unwrap_or_else(|| die(&format!("bad ratio {ratio}")));
    let mode = match a.get("--mode").unwrap_or("follow") {
        "follow" => Mode::Follow(FollowParams::default()),
        "sequential" => Mode::Sequential,
        "normal" => Mode::Normal,
        m => die(&format!("unknown mode {m}")),
    };
    let queueing = match a.get("--queue").unwrap_or("fifo") {
        "fifo" => Queueing::Fifo,
        "ncq" => Queueing::Ncq,
        q => die(&format!("unknown queueing {q}")),
    };
    let on_off = |name: &str, default: &str| match a.get(name).unwrap_or(default) {
        "on" | "avoid" => true,
        "off" | "allow" => false,
        v => die(&format!("{name}: {v}?")),
    };
    let avoid_islands = on_off("--islands", "avoid");
    let reads = ReadsMode::from_name(a.get("--reads").unwrap_or("auto"))
        .unwrap_or_else(|| die("--reads source|destination|auto"));
    let idle_run: u64 = a.num(
        "--idle-run",
        Some(u64::from(iofollow_policy::table::IDLE_RUN_SECTORS_DEFAULT)),
    );
    let block = block.min(chunk);
    let idle_run_blocks = if idle_run == 0 {
        0
    } else {
        u32::try_from((idle_run / block).max(1)).unwrap_or(u32::MAX)
    };
    let cfg = RunConfig {
        mode,
        chunk_sectors: chunk,
        block_sectors: block,
        read_at_head,
        depth,
        ratio,
        cache_blocks: 0,
        cache_eviction: Default::default(),
        piggyback: PiggybackRule {
            queue_aware,
            avoid_islands,
            ..PiggybackRule::default()
        },
        queueing,
        disk: DiskParams::ST31000524AS,
        image_sectors: image,
        image_stride: image,
        normal_window_ns: u64::MAX,
        record_head: false,
        load_scale: 1.0,
        full_window: true,
        idle_run_blocks,
        reads,
        dest_read_ns: a.num::<u64>("--dest-read-us", Some(100)) * 1000,
        flush_interval_ns: a.num::<u64>(
            "--flush-interval-ms",
            Some(u64::from(
                iofollow_policy::unflushed::FLUSH_INTERVAL_MS_DEFAULT,
            )),
        ) * 1_000_000,
    };
    let r = match (a.get("--dispatch").unwrap_or("kernel"), closed) {
        ("kernel", Some(c)) => run_workloads(&cfg, vec![Workload::Closed(c)], anticipation),
        ("kernel", None) => run_workloads(
            &cfg,
            vec![Workload::Open(Box::new(reqs.into_iter()))],
            anticipation,
        ),
        ("host", None) => sim::run(&cfg, vec![Box::new(reqs.into_iter())]),
        ("host", Some(_)) => die("the host schedule has no closed loop"),
        (d, _) => die(&format!("unknown dispatch {d}")),
    };
    let mut vm = r.vm_lat_ns.clone();
    vm.sort_unstable();
    let pct = |v: &[u64], p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1] as f64 / 1e6
    };
    let mean = |v: &[u64]| -> f64 {
        if v.is_empty() {
            0.0
        } else {
            v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1e6
        }
    };
    println!(
        "{{\"vm_copy_mean_ms\":{:.3},\"copy_ios\":{},\"dest_reads\":{},\"copies_per_vm_io\":{:.3},\"vm_requests\":{},\"vm_mean_ms\":{:.3},\"vm_p50_ms\":{:.3},\"vm_p99_ms\":{:.3},\"mig_io_mean_ms\":{:.3},\"migration_s\":{:.3},\"seeks\":{},\"travel_sectors\":{},\"busy_s\":{:.3},\"piggybacked\":{}}}",
        copy_window_mean_ms(&r),
        r.copy_ios,
        r.vm_dest_reads,
        r.chunks_copied_while_vm_active as f64 / r.vm_done_during_migration.max(1) as f64,
        vm.len(),
        mean(&vm),
        pct(&vm, 50.0),
        pct(&vm, 99.0),
        mean(&r.mig_lat_ns),
        r.mig_done_ns.map_or(-1.0, |t| t as f64 / 1e9),
        r.seeks,
        r.travel_sectors,
        r.busy_ns as f64 / 1e9,
        r.vm_piggybacked
    );
}

/// The VM's mean latency (ms) over the requests that arrived before the
/// copy ended (the copy window; all of them if it did not end).
fn copy_window_mean_ms(r: &sim::RunResult) -> f64 {
    let end = r.mig_done_ns.unwrap_or(u64::MAX);
    let (sum, n) = r
        .vm_lat_ns
        .iter()
        .zip(&r.vm_arrival_ns)
        .filter(|(_, &a)| a < end)
        .fold((0u64, 0u64), |(s, n), (&l, _)| (s + l, n + 1));
    if n == 0 {
        0.0
    } else {
        sum as f64 / n as f64 / 1e6
    }
}
