// SPDX-License-Identifier: GPL-2.0

//! `iofollow-replay`: the benchmark's VM. Plays a trace against a block
//! device with O_DIRECT and records every request's latency.
//!
//! ```text
//! iofollow-replay open   --dev DEV --trace FILE --out FILE [--workers N]
//! iofollow-replay closed --dev DEV --span-sectors N --duration-s S --out FILE
//!                        [--depth D] [--think-us T] [--sectors K] [--seed X]
//! iofollow-replay calibrate --dev DEV [--e2e FILE]
//! iofollow-replay calibrate --log DISK_LOG [--e2e FILE]
//! ```
//!
//! *Open loop*: each trace line `t_ns lba sectors R|W` is issued at its time
//! by a pool of worker threads, whatever happened to earlier requests (a
//! request finding every worker busy waits, and its latency counts from its
//! scheduled time; the summary reports how late dispatch ran). *Closed
//! loop*: `depth` threads each issue dependent random reads, with an
//! optional think time between them, as most guests do.
//!
//! `--out` gets one line per request: `sched_ns latency_ns lba sectors R|W`.
//! The last line on stdout is a JSON summary.

use iofollow_bench::stats::{Latencies, Rng};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufWriter, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
struct Op {
    t_ns: u64,
    lba: u64,
    sectors: u64,
    write: bool,
}

#[derive(Clone, Copy, Debug)]
struct Done {
    op: Op,
    lat_ns: u64,
    lag_ns: u64,
    ok: bool,
}

fn die(msg: &str) -> ! {
    eprintln!("iofollow-replay: {msg}");
    std::process::exit(1)
}

/// A 4 KiB-aligned buffer for O_DIRECT, in safe Rust: an over-allocated
/// vector and the aligned window inside it.
struct AlignedBuf {
    raw: Vec<u8>,
    off: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let raw = vec![0x5au8; len + 4096];
        let off = (4096 - raw.as_ptr() as usize % 4096) % 4096;
        Self { raw, off }
    }

    fn get(&mut self, len: usize) -> &mut [u8] {
        &mut self.raw[self.off..self.off + len]
    }
}

fn open_dev(path: &str) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .unwrap_or_else(|e| die(&format!("cannot open {path}: {e}")))
}

fn issue(dev: &File, buf: &mut AlignedBuf, op: &Op) -> bool {
    let len = (op.sectors << 9) as usize;
    let b = buf.get(len);
    let r = if op.write {
        dev.write_at(b, op.lba << 9)
    } else {
        dev.read_at(b, op.lba << 9)
    };
    matches!(r, Ok(n) if n == len)
}

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }

    fn req(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| die(&format!("missing {name}")))
    }

    fn num(&self, name: &str, default: Option<u64>) -> u64 {
        match self.get(name) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| die(&format!("{name}: not a number: {v}"))),
            None => default.unwrap_or_else(|| die(&format!("missing {name}"))),
        }
    }
}

fn read_trace(path: &str) -> Vec<Op> {
    let f = File::open(path).unwrap_or_else(|e| die(&format!("cannot open {path}: {e}")));
    let mut ops = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.unwrap_or_else(|e| die(&format!("{path}: {e}")));
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0].starts_with('#') {
            continue;
        }
        let bad = || -> ! { die(&format!("{path}:{}: want 't_ns lba sectors R|W'", n + 1)) };
        if f.len() != 4 {
            bad();
        }
        let p = |s: &str| s.parse::<u64>().unwrap_or_else(|_| bad());
        ops.push(Op {
            t_ns: p(f[0]),
            lba: p(f[1]),
            sectors: p(f[2]),
            write: match f[3] {
                "R" => false,
                "W" => true,
                _ => bad(),
            },
        });
    }
    ops
}

fn open_loop(args: &Args) -> Vec<Done> {
    let ops = read_trace(args.req("--trace"));
    let workers = args.num("--workers", Some(64)) as usize;
    let dev = Arc::new(open_dev(args.req("--dev")));
    let max_sectors = ops.iter().map(|o| o.sectors).max().unwrap_or(8);
    let (job_tx, job_rx) = mpsc::channel::<Op>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    // The clock starts once every worker is up (spawning 64 threads under
    // TCG takes long enough to make the first requests late).
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let (start_tx, start_rx) = mpsc::channel::<Instant>();
    let start_rx = Arc::new(Mutex::new(start_rx));
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (dev, rx, tx) = (Arc::clone(&dev), Arc::clone(&job_rx), done_tx.clone());
        let (ready_tx, start_rx) = (ready_tx.clone(), Arc::clone(&start_rx));
        handles.push(std::thread::spawn(move || {
            let mut buf = AlignedBuf::new((max_sectors << 9) as usize);
            let _ = ready_tx.send(());
            let Some(start) = start_rx.lock().ok().and_then(|rx| rx.recv().ok()) else {
                return;
            };
            loop {
                let op = match rx.lock() {
                    Ok(rx) => match rx.recv() {
                        Ok(op) => op,
                        Err(_) => break,
                    },
                    Err(_) => break,
                };
                let began = start.elapsed().as_nanos() as u64;
                let ok = issue(&dev, &mut buf, &op);
                let end = start.elapsed().as_nanos() as u64;
                let _ = tx.send(Done {
                    op,
                    lat_ns: end.saturating_sub(op.t_ns),
                    lag_ns: began.saturating_sub(op.t_ns),
                    ok,
                });
            }
        }));
    }
    drop(done_tx);
    drop(ready_tx);
    for _ in 0..workers {
        if ready_rx.recv().is_err() {
            die("a worker died");
        }
    }
    let start = Instant::now();
    for _ in 0..workers {
        let _ = start_tx.send(start);
    }
    for op in &ops {
        let now = start.elapsed();
        let due = Duration::from_nanos(op.t_ns);
        if due > now {
            std::thread::sleep(due - now);
        }
        if job_tx.send(*op).is_err() {
            die("the workers died");
        }
    }
    drop(job_tx);
    for h in handles {
        let _ = h.join();
    }
    done_rx.into_iter().collect()
}

fn closed_loop(args: &Args) -> Vec<Done> {
    let span = args.num("--span-sectors", None);
    let sectors = args.num("--sectors", Some(8));
    let depth = args.num("--depth", Some(1));
    let think = Duration::from_micros(args.num("--think-us", Some(0)));
    let duration = Duration::from_secs(args.num("--duration-s", None));
    let seed = args.num("--seed", Some(1));
    let offset = args.num("--offset-sectors", Some(0));
    if span < sectors {
        die("--span-sectors is smaller than one request");
    }
    let dev = Arc::new(open_dev(args.req("--dev")));
    let start = Instant::now();
    let (tx, rx) = mpsc::channel::<Done>();
    let threads: Vec<_> = (0..depth)
        .map(|i| {
            let (dev, tx) = (Arc::clone(&dev), tx.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed.wrapping_add(i * 7919));
                let mut buf = AlignedBuf::new((sectors << 9) as usize);
                while start.elapsed() < duration {
                    // 4 KiB aligned, as a file system would ask.
                    let lba = offset + (rng.below(span - sectors + 1) & !7);
                    let t_ns = start.elapsed().as_nanos() as u64;
                    let op = Op {
                        t_ns,
                        lba,
                        sectors,
                        write: false,
                    };
                    let ok = issue(&dev, &mut buf, &op);
                    let lat_ns = (start.elapsed().as_nanos() as u64).saturating_sub(t_ns);
                    let _ = tx.send(Done {
                        op,
                        lat_ns,
                        lag_ns: 0,
                        ok,
                    });
                    if !think.is_zero() {
                        std::thread::sleep(think);
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for t in threads {
        let _ = t.join();
    }
    rx.into_iter().collect()
}

/// One §3.5 calibration check: `count` QD1 reads of `sectors` over the first
/// `span` sectors of the disk, random or sequential, and what the drive must
/// show for them.
struct Check {
    what: &'static str,
    span: u64,
    sectors: u64,
    sequential: bool,
    count: usize,
    expected_ms: f64,
}

/// §3.5 of the performance anchors, for the ST31000524AS.
const CHECKS: [Check; 5] = [
    Check {
        what: "random 4 KiB over the full 1 TB (seek+rot+xfer)",
        span: 1_953_525_168,
        sectors: 8,
        sequential: false,
        count: 400,
        expected_ms: 12.70,
    },
    Check {
        what: "random 4 KiB inside 34 GB at the OD",
        span: 34_000_000_000 / 512,
        sectors: 8,
        sequential: false,
        count: 400,
        expected_ms: 6.13,
    },
    Check {
        what: "random 4 KiB inside 100 GB at the OD",
        span: 100_000_000_000 / 512,
        sectors: 8,
        sequential: false,
        count: 400,
        expected_ms: 6.90,
    },
    Check {
        what: "random 4 KiB inside 500 GB at the OD",
        span: 500_000_000_000 / 512,
        sectors: 8,
        sequential: false,
        count: 400,
        expected_ms: 9.63,
    },
    Check {
        what: "1 MiB transfer at the OD (125 MB/s)",
        span: 1 << 21,
        sectors: 2048,
        sequential: true,
        count: 100,
        expected_ms: 8.39,
    },
];

/// Tolerance of the drive-level calibration.
const CALIBRATION_TOLERANCE_PCT: f64 = 5.0;

/// Issue the calibration reads (QD1) and print what a reader in the guest
/// sees: the drive's time plus the host's per-request cost (under TCG,
/// milliseconds), which is outside the drive model. Returns the mean
/// end-to-end ms per check.
fn calibrate_io(args: &Args) -> Vec<f64> {
    let dev = open_dev(args.req("--dev"));
    let mut buf = AlignedBuf::new(1 << 20);
    let mut rng = Rng::new(42);
    let mut means = Vec::new();
    for c in &CHECKS {
        let mut total = Duration::ZERO;
        let mut lba = 0;
        for _ in 0..c.count {
            if !c.sequential {
                lba = rng.below(c.span - c.sectors) & !7;
            }
            let op = Op {
                t_ns: 0,
                lba,
                sectors: c.sectors,
                write: false,
            };
            let t = Instant::now();
            if !issue(&dev, &mut buf, &op) {
                die(&format!("read at {lba} failed"));
            }
            total += t.elapsed();
            lba += c.sectors;
        }
        let ms = total.as_secs_f64() * 1e3 / c.count as f64;
        println!("calibrate: end to end: {}: {ms:.2} ms per IO", c.what);
        means.push(ms);
    }
    means
}

/// Check the drive's own log of the calibration reads (`calibrate --log`
/// after the emulator has exited): the model's service times against §3.5.
/// For the sequential check only the transfer counts: at QD1 the host's
/// gap between two reads lets the platter turn on, and the drive (which
/// models no read-ahead cache) waits for it, as a cacheless drive would.
fn calibrate_log(path: &str, e2e: Option<&[f64]>) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let rows: Vec<Vec<u64>> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter(|f| *f != "R" && *f != "W")
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .collect();
    let want: usize = CHECKS.iter().map(|c| c.count).sum();
    if rows.len() < want {
        die(&format!(
            "{path}: {} requests, calibration needs {want}",
            rows.len()
        ));
    }
    // The calibration's reads are the log's last `want` requests.
    let mut rows = &rows[rows.len() - want..];
    let mut ok = true;
    for (i, c) in CHECKS.iter().enumerate() {
        let (these, rest) = rows.split_at(c.count);
        rows = rest;
        // Fields without R|W: arrival start done lba sectors seek rot xfer ...
        let ns: u64 = these
            .iter()
            .map(|r| {
                if c.sequential {
                    r[7]
                } else {
                    r[5] + r[6] + r[7]
                }
            })
            .sum();
        let got = ns as f64 / 1e6 / c.count as f64;
        let dev_pct = (got / c.expected_ms - 1.0) * 100.0;
        let pass = dev_pct.abs() <= CALIBRATION_TOLERANCE_PCT;
        ok &= pass;
        let host = e2e
            .and_then(|m| m.get(i))
            .map(|m| format!("; end to end {m:.2} ms, so the host adds {:.2} ms", m - got))
            .unwrap_or_default();
        println!(
            "calibrate: drive: {}: {got:.2} ms, expected {:.2} ({dev_pct:+.1} %) {}{host}",
            c.what,
            c.expected_ms,
            if pass { "ok" } else { "OUT OF TOLERANCE" }
        );
    }
    ok
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = argv.first().cloned() else {
        die("usage: iofollow-replay open|closed|calibrate ... (see the source header)")
    };
    let args = Args(argv);
    let done = match mode.as_str() {
        "open" => open_loop(&args),
        "closed" => closed_loop(&args),
        "calibrate" => {
            // `calibrate --dev DEV [--e2e FILE]` issues the reads and saves
            // the end-to-end means; `calibrate --log FILE [--e2e FILE]`
            // checks the drive's log of them.
            if let Some(log) = args.get("--log") {
                let e2e: Option<Vec<f64>> = args.get("--e2e").and_then(|f| {
                    let t = std::fs::read_to_string(f).ok()?;
                    t.split_whitespace().map(|v| v.parse().ok()).collect()
                });
                std::process::exit(if calibrate_log(log, e2e.as_deref()) {
                    0
                } else {
                    1
                })
            }
            let means = calibrate_io(&args);
            if let Some(f) = args.get("--e2e") {
                let line: Vec<String> = means.iter().map(|m| format!("{m:.4}")).collect();
                if std::fs::write(f, line.join(" ")).is_err() {
                    die(&format!("cannot write {f}"));
                }
            }
            std::process::exit(0)
        }
        other => die(&format!("unknown mode {other}")),
    };
    let out = args.req("--out");
    let f = File::create(out).unwrap_or_else(|e| die(&format!("cannot create {out}: {e}")));
    let mut w = BufWriter::new(f);
    let mut lat = Latencies::default();
    let (mut errors, mut max_lag, mut late) = (0u64, 0u64, 0u64);
    for d in &done {
        let _ = writeln!(
            w,
            "{} {} {} {} {}",
            d.op.t_ns,
            d.lat_ns,
            d.op.lba,
            d.op.sectors,
            if d.op.write { 'W' } else { 'R' }
        );
        lat.push(d.lat_ns);
        errors += u64::from(!d.ok);
        max_lag = max_lag.max(d.lag_ns);
        late += u64::from(d.lag_ns > 1_000_000);
    }
    if w.flush().is_err() {
        die(&format!("cannot write {out}"));
    }
    println!(
        "{{\"requests\":{},\"errors\":{errors},\"mean_ms\":{:.3},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_dispatch_lag_ms\":{:.3},\"dispatched_late_over_1ms\":{late}}}",
        lat.len(),
        lat.mean_ms(),
        lat.percentile_ms(50.0),
        lat.percentile_ms(99.0),
        max_lag as f64 / 1e6
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
