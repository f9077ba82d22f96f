// SPDX-License-Identifier: GPL-2.0

//! `iofollow-sim`: trace-driven replay of the IOFollow paper's experiment
//! against an HDD model, with the very policy code of the kernel module.
//!
//! Usage: `iofollow-sim [--trace FILE] [--out DIR] [--seed N] [--quick]`;
//! `iofollow-sim emit|single ...` for the benchmark (see `bench_cli.rs`).

#![allow(clippy::type_complexity)]

mod bench_cli;
mod kernel_like;
mod report;
mod sim;
mod trace;

use iofollow_hddmodel::{DiskParams, Rotation};
use iofollow_policy::piggyback::PiggybackRule;
use iofollow_policy::readroute::ReadsMode;
use iofollow_policy::select::FollowParams;
use report::{Row, Summary};
use sim::{Mode, Queueing, RunConfig, RunResult};
use std::sync::{Arc, Mutex};
use trace::{Req, SynthGen, SynthSpec};

/// Image size of every VM: 32 GiB (the CloudPhysics excerpt spans 31.3 GiB).
pub const IMAGE_SECTORS: u64 = 32 << 21;
/// Migration starts this far into the real trace (its busy period).
pub const CP_START_S: u64 = 1200;

#[derive(Clone)]
pub enum Workload {
    Synth(SynthSpec),
    Spc {
        name: String,
        reqs: Arc<Vec<Req>>,
        start_ns: u64,
    },
}

impl Workload {
    pub fn name(&self) -> String {
        match self {
            Workload::Synth(s) => s.name.to_string(),
            Workload::Spc { name, .. } => name.clone(),
        }
    }

    fn traces(
        &self,
        nvms: usize,
        seed: u64,
        load_scale: f64,
    ) -> Vec<Box<dyn Iterator<Item = Req> + Send>> {
        (0..nvms)
            .map(|i| -> Box<dyn Iterator<Item = Req> + Send> {
                match self {
                    Workload::Synth(s) => Box::new(SynthGen::new(
                        s.clone(),
                        IMAGE_SECTORS,
                        seed.wrapping_add(i as u64 * 7919),
                        load_scale / nvms as f64,
                    )),
                    Workload::Spc { reqs, start_ns, .. } => {
                        let reqs = Arc::clone(reqs);
                        let start = *start_ns;
                        Box::new(
                            (0..reqs.len())
                                .filter(move |k| k % nvms == i)
                                .map(move |k| reqs[k])
                                .filter(move |r| r.t_ns >= start)
                                .map(move |mut r| {
                                    r.t_ns -= start;
                                    r
                                }),
                        )
                    }
                }
            })
            .collect()
    }
}

/// One run of the matrix.
#[derive(Clone)]
pub struct Job {
    pub group: &'static str,
    pub variant: String,
    pub workload: usize,
    pub nvms: usize,
    pub cfg: RunConfig,
}

/// Block size, read-at-head and queue-aware piggybacking of every run
/// (`--block`, `--no-read-at-head`, `--queue-aware`: the whole matrix with
/// a mechanism switched, for the ablation).
static MECHANISMS: std::sync::OnceLock<(u64, bool, bool)> = std::sync::OnceLock::new();

/// The shipped piggyback rule, queue-aware with `--queue-aware`.
fn piggyback_rule() -> PiggybackRule {
    let (_, _, queue_aware) = *MECHANISMS.get_or_init(|| (128, true, false));
    PiggybackRule {
        queue_aware,
        // Algorithm 2 as in the paper: no island guard.
        avoid_islands: false,
        ..PiggybackRule::default()
    }
}

fn base_cfg(mode: Mode) -> RunConfig {
    let (block_sectors, read_at_head, _) = *MECHANISMS.get_or_init(|| (128, true, false));
    RunConfig {
        mode,
        chunk_sectors: 2048,
        block_sectors,
        read_at_head,
        depth: 1,
        ratio: (2, 1),
        cache_blocks: 0,
        cache_eviction: Default::default(),
        piggyback: PiggybackRule::disabled(),
        queueing: Queueing::Fifo,
        disk: DiskParams::ST31000524AS,
        image_sectors: IMAGE_SECTORS,
        image_stride: IMAGE_SECTORS,
        normal_window_ns: 0,
        record_head: false,
        load_scale: 1.0,
        full_window: false,
        // The paper's mechanisms only: whole-chunk copies, every read from
        // the source (the kernel's later mechanisms are in `make bench`).
        idle_run_blocks: 0,
        reads: ReadsMode::Source,
        dest_read_ns: 100_000,
        flush_interval_ns: 1_000_000_000,
    }
}

/// Cache of 64 MiB (the table default) in blocks.
fn cache_blocks(block_sectors: u64) -> u32 {
    ((64u64 << 11) / block_sectors).max(1) as u32
}

/// The paper's "standard migration": start to end, nothing else.
pub fn sequential(chunk: u64) -> RunConfig {
    let mut c = base_cfg(Mode::Sequential);
    c.chunk_sectors = chunk;
    c.block_sectors = c.block_sectors.min(chunk);
    c
}

/// IOFollow as shipped: biased follow + piggyback + migration-aware cache.
pub fn follow(chunk: u64) -> RunConfig {
    let mut c = base_cfg(Mode::Follow(FollowParams::default()));
    c.chunk_sectors = chunk;
    c.block_sectors = c.block_sectors.min(chunk);
    c.cache_blocks = cache_blocks(c.block_sectors);
    c.piggyback = piggyback_rule();
    c
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("emit") => return bench_cli::emit(std::env::args().skip(2).collect()),
        Some("single") => return bench_cli::single(std::env::args().skip(2).collect()),
        _ => {}
    }
    let mut args = std::env::args().skip(1);
    let mut trace_path = String::from("../shared/traces/cloudphysics-vscsi-sample.spc");
    let mut out = String::from("out/sim");
    let mut seed = 20180101u64;
    let mut quick = false;
    let mut block = 128u64;
    let mut read_at_head = true;
    let mut queue_aware = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--trace" => trace_path = args.next().expect("--trace FILE"),
            "--out" => out = args.next().expect("--out DIR"),
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).expect("--seed N"),
            "--quick" => quick = true,
            "--block" => {
                block = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--block SECTORS")
            }
            "--no-read-at-head" => read_at_head = false,
            "--queue-aware" => queue_aware = true,
            "-h" | "--help" => {
                println!("usage: iofollow-sim [--trace FILE.spc] [--out DIR] [--seed N] [--quick] [--block SECTORS] [--no-read-at-head] [--queue-aware]");
                return;
            }
            other => {
                eprintln!("iofollow-sim: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    MECHANISMS
        .set((block, read_at_head, queue_aware))
        .expect("set once, before any run");
    let t0 = std::time::Instant::now();
    let mut workloads: Vec<Workload> = trace::paper_specs()
        .into_iter()
        .map(Workload::Synth)
        .collect();
    match std::fs::read_to_string(&trace_path) {
        Ok(text) => match trace::parse_spc(&text) {
            Ok(t) => {
                assert!(
                    t.span_sectors <= IMAGE_SECTORS,
                    "trace larger than the image"
                );
                let reqs = Arc::new(t.reqs);
                workloads.push(Workload::Spc {
                    name: format!("CloudPhysics@{CP_START_S}s"),
                    reqs: Arc::clone(&reqs),
                    start_ns: CP_START_S * 1_000_000_000,
                });
                workloads.push(Workload::Spc {
                    name: "CloudPhysics@0s".into(),
                    reqs,
                    start_ns: 0,
                });
            }
            Err(e) => {
                eprintln!("iofollow-sim: {trace_path}: {e}");
                std::process::exit(1);
            }
        },
        Err(e) => {
            eprintln!("iofollow-sim: cannot read {trace_path}: {e}");
            std::process::exit(1);
        }
    }

    let jobs = build_jobs(&workloads, quick);
    // Phase 1: migration runs; phase 2: normal-state runs over the
    // sequential run's window.
    let (mig_jobs, normal_jobs): (Vec<Job>, Vec<Job>) =
        jobs.into_iter().partition(|j| j.cfg.mode != Mode::Normal);
    let mig_results = run_parallel(&workloads, &mig_jobs, seed);
    let mut normal_jobs = normal_jobs;
    for nj in normal_jobs.iter_mut() {
        let w = mig_jobs
            .iter()
            .zip(&mig_results)
            .find(|(j, _)| {
                j.workload == nj.workload
                    && j.nvms == nj.nvms
                    && j.variant == "sequential"
                    && j.cfg.chunk_sectors == nj.cfg.chunk_sectors
                    && j.cfg.ratio == nj.cfg.ratio
                    && j.cfg.queueing == nj.cfg.queueing
                    && j.cfg.disk.rotation == nj.cfg.disk.rotation
                    && j.cfg.load_scale == nj.cfg.load_scale
            })
            .map(|(_, r)| r.window_ns)
            .unwrap_or(600_000_000_000);
        nj.cfg.normal_window_ns = w;
    }
    let normal_results = run_parallel(&workloads, &normal_jobs, seed);

    let rows: Vec<Row> = mig_jobs
        .iter()
        .zip(mig_results.iter())
        .chain(normal_jobs.iter().zip(normal_results.iter()))
        .map(|(j, r)| Row::new(j, &workloads[j.workload].name(), r))
        .collect();
    let summary = Summary::new(
        &workloads.iter().map(Workload::name).collect::<Vec<_>>(),
        rows,
        seed,
    );
    std::fs::create_dir_all(&out).expect("create output directory");
    let text = summary.text();
    std::fs::write(format!("{out}/results.txt"), &text).expect("write results.txt");
    std::fs::write(format!("{out}/results.json"), summary.json()).expect("write results.json");
    // Plots from the runs that recorded head samples.
    let mut plotted = Vec::new();
    for (j, r) in mig_jobs.iter().zip(mig_results.iter()) {
        if j.cfg.record_head {
            plotted.push((workloads[j.workload].name(), j.variant.clone(), r));
        }
    }
    for file in report::head_plots(&plotted, &out) {
        eprintln!("sim: wrote {file}");
    }
    for file in report::cdf_plots(&summary, &out) {
        eprintln!("sim: wrote {file}");
    }
    print!("{text}");
    eprintln!(
        "sim: {} runs in {:.1} s, output in {out}/",
        summary.rows.len(),
        t0.elapsed().as_secs_f64()
    );
    println!("{}", summary.closing_line());
}

fn build_jobs(workloads: &[Workload], quick: bool) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut push = |group: &'static str, variant: &str, w: usize, nvms: usize, cfg: RunConfig| {
        jobs.push(Job {
            group,
            variant: variant.to_string(),
            workload: w,
            nvms,
            cfg,
        });
    };
    for (w, wl) in workloads.iter().enumerate() {
        let is_cp0 = wl.name().ends_with("@0s");
        // Fig. 3/4: one VM, 1 MiB chunks, 2:1.
        let mut seq = sequential(2048);
        seq.record_head = true;
        let mut fol = follow(2048);
        fol.record_head = true;
        push("fig34", "sequential", w, 1, seq);
        push("fig34", "follow", w, 1, fol);
        push("fig34", "normal", w, 1, base_cfg(Mode::Normal));
        if is_cp0 {
            continue;
        }
        // The map's granularity and where copy IOs start (the policy issue).
        let mut c = sequential(2048);
        c.block_sectors = 2048;
        push("mechanism", "sequential chunk-map", w, 1, c);
        let mut c = follow(2048);
        c.block_sectors = 2048;
        c.cache_blocks = cache_blocks(2048);
        push("mechanism", "follow chunk-map", w, 1, c);
        let mut c = follow(2048);
        c.read_at_head = false;
        push("mechanism", "follow aligned", w, 1, c);
        let mut c = follow(2048);
        c.piggyback = PiggybackRule::disabled();
        push("mechanism", "follow no-piggyback", w, 1, c);
        let mut c = follow(2048);
        c.piggyback.queue_aware = true;
        push("mechanism", "follow queue-aware", w, 1, c);
        // The migration-aware cache: off, and evicting by recency alone.
        let mut c = follow(2048);
        c.cache_blocks = 0;
        push("mechanism", "follow no-cache", w, 1, c);
        let mut c = follow(2048);
        c.cache_eviction = iofollow_policy::liveness::Eviction::Lru;
        push("mechanism", "follow lru-cache", w, 1, c.clone());
        // 16 times the default: how the hits grow with the capacity.
        c.cache_blocks *= 16;
        push("mechanism", "follow lru-cache-1g", w, 1, c.clone());
        c.cache_eviction = iofollow_policy::liveness::Eviction::Liveness;
        push("mechanism", "follow cache-1g", w, 1, c);
        if quick {
            continue;
        }
        // Ablation at the Fig. 3/4 configuration.
        let mut c = sequential(2048);
        c.cache_blocks = cache_blocks(c.block_sectors);
        push("ablation", "sequential+cache", w, 1, c);
        // "+piggyback" rows piggyback every read of a pending chunk when no
        // other VM request waits, whatever the extra transfer (to measure
        // the mechanism); the shipped default bounds the extra transfer.
        let always = PiggybackRule {
            max_extra_sectors: u64::MAX,
            ..PiggybackRule::default()
        };
        let mut c = sequential(2048);
        c.cache_blocks = cache_blocks(c.block_sectors);
        c.piggyback = always;
        push("ablation", "sequential+cache+piggyback", w, 1, c);
        let nearest = Mode::Follow(FollowParams::nearest());
        let biased = Mode::Follow(FollowParams::default());
        let mut c = base_cfg(nearest);
        push("ablation", "nearest", w, 1, c.clone());
        c.cache_blocks = cache_blocks(c.block_sectors);
        c.piggyback = always;
        push("ablation", "nearest+cache+piggyback", w, 1, c);
        let c = base_cfg(biased);
        push("ablation", "biased", w, 1, c.clone());
        let mut c2 = c.clone();
        c2.piggyback = always;
        push("ablation", "biased+piggyback", w, 1, c2);
        let mut c4 = c.clone();
        c4.piggyback = always;
        c4.cache_blocks = cache_blocks(c.block_sectors);
        push("ablation", "biased+cache+piggyback", w, 1, c4);
        let mut c3 = c.clone();
        c3.cache_blocks = cache_blocks(c.block_sectors);
        push("ablation", "biased+cache", w, 1, c3);
        // Chunk sizes.
        for chunk in [256u64, 512, 1024, 4096] {
            push("chunk", "sequential", w, 1, sequential(chunk));
            push("chunk", "follow", w, 1, follow(chunk));
        }
        // Ratios.
        for ratio in [(1u32, 1u32), (3, 1), (4, 1)] {
            let mut s = sequential(2048);
            s.ratio = ratio;
            let mut f = follow(2048);
            f.ratio = ratio;
            push("ratio", "sequential", w, 1, s);
            push("ratio", "follow", w, 1, f);
        }
        // Concurrent migrating VMs (total VM load kept equal).
        for nvms in [2usize, 3, 4] {
            push("vms", "sequential", w, nvms, sequential(2048));
            push("vms", "follow", w, nvms, follow(2048));
        }
        // Queueing, rotation and load sensitivity.
        for (group, q, rot, scale) in [
            ("ncq", Queueing::Ncq, Rotation::Angular, 1.0),
            ("meanrot", Queueing::Fifo, Rotation::Mean, 1.0),
            ("halfload", Queueing::Fifo, Rotation::Angular, 0.5),
        ] {
            if scale != 1.0 && !matches!(wl, Workload::Synth(_)) {
                continue;
            }
            for (variant, mut c) in [
                ("sequential", sequential(2048)),
                ("follow", follow(2048)),
                ("normal", base_cfg(Mode::Normal)),
            ] {
                c.queueing = q;
                c.disk.rotation = rot;
                c.load_scale = scale;
                push(group, variant, w, 1, c);
            }
        }
    }
    jobs
}

fn run_parallel(workloads: &[Workload], jobs: &[Job], seed: u64) -> Vec<RunResult> {
    let results: Vec<Mutex<Option<RunResult>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = Mutex::new(0usize);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(2);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let k = {
                    let mut n = next.lock().expect("lock");
                    let k = *n;
                    *n += 1;
                    k
                };
                let Some(job) = jobs.get(k) else { break };
                let traces = workloads[job.workload].traces(job.nvms, seed, job.cfg.load_scale);
                let r = sim::run(&job.cfg, traces);
                *results[k].lock().expect("lock") = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| m.into_inner().expect("lock").expect("result"))
        .collect()
}
