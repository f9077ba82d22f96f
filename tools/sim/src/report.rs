// SPDX-License-Identifier: GPL-2.0

//! Tables, JSON and SVG plots of the simulation results.

use crate::sim::{Mode, Queueing, RunResult};
use crate::{Job, IMAGE_SECTORS};
use iofollow_hddmodel::{Disk, DiskParams, Rotation};
use std::fmt::Write as _;

/// Paper values (Fig. 3/4, section 4.2): migration std, migration IOFollow,
/// VM normal, VM std, VM IOFollow (ms).
const PAPER: &[(&str, [f64; 5])] = &[
    ("WebSearch1", [172.0, 129.0, 35.0, 60.0, 42.0]),
    ("WebSearch2", [166.0, 107.0, 22.0, 52.0, 31.0]),
    ("WebSearch3", [185.0, 99.0, 25.0, 68.0, 45.0]),
    ("Financial2", [169.0, 112.0, 37.0, 62.0, 49.0]),
];

fn paper(name: &str) -> Option<[f64; 5]> {
    PAPER.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// One run, summarised.
#[derive(Clone, Debug)]
pub struct Row {
    pub group: String,
    pub variant: String,
    pub workload: String,
    pub nvms: usize,
    pub chunk_kib: u64,
    pub ratio: (u32, u32),
    pub queueing: &'static str,
    pub rotation: &'static str,
    pub vm_n: usize,
    pub vm_mean_ms: f64,
    pub vm_p99_ms: f64,
    pub cache_hits: u64,
    /// Cache hits per VM read while the cache was on.
    pub hit_ratio: f64,
    /// Mean response time of VM reads.
    pub vm_read_mean_ms: f64,
    pub piggybacked: u64,
    pub mig_n: usize,
    /// Migration IO time per chunk copied: the sum of the migration
    /// requests' response times over the chunks' worth of data they read
    /// (copy IOs are runs of blocks, shorter than a chunk when the map
    /// around them is partly copied, so a mean per request would flatter
    /// short runs).
    pub mig_mean_ms: f64,
    /// Mean response time per migration request, whatever its size.
    pub mig_io_ms: f64,
    /// The VM's (arrival ns, latency ns), to compare policies over one window.
    pub vm_timed: Vec<(u64, u64)>,
    pub mig_time_s: f64,
    pub chunks_copied: u64,
    pub chunks_recopied: u64,
    pub travel_strokes: f64,
    pub travel_gib: f64,
    pub seeks: u64,
    pub busy_frac: f64,
    pub vm_backlog_at_end: u64,
    /// 201 quantiles of the VM response time (ms), for CDF plots.
    pub vm_quantiles: Vec<f64>,
}

fn mean_ms(v: &[u64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1e6
}

impl Row {
    pub fn new(job: &Job, workload: &str, r: &RunResult) -> Self {
        let mut lat = r.vm_lat_ns.clone();
        lat.sort_unstable();
        let q = |p: f64| -> f64 {
            if lat.is_empty() {
                return f64::NAN;
            }
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            lat[i] as f64 / 1e6
        };
        let quantiles = if job.group == "fig34" {
            (0..=200).map(|i| q(i as f64 / 200.0)).collect()
        } else {
            Vec::new()
        };
        Row {
            group: job.group.to_string(),
            variant: job.variant.clone(),
            workload: workload.to_string(),
            nvms: job.nvms,
            chunk_kib: job.cfg.chunk_sectors / 2,
            ratio: job.cfg.ratio,
            queueing: match job.cfg.queueing {
                Queueing::Fifo => "fifo",
                Queueing::Ncq => "ncq",
            },
            rotation: match job.cfg.disk.rotation {
                Rotation::Angular => "angular",
                Rotation::Mean => "mean",
            },
            vm_n: lat.len(),
            vm_mean_ms: mean_ms(&lat),
            vm_p99_ms: q(0.99),
            cache_hits: r.vm_cache_hits,
            hit_ratio: r.vm_cache_hits as f64 / (r.vm_cache_hits + r.vm_cache_misses).max(1) as f64,
            vm_read_mean_ms: {
                let reads: Vec<u64> = r
                    .vm_lat_ns
                    .iter()
                    .zip(&r.vm_is_read)
                    .filter(|(_, &rd)| rd)
                    .map(|(&l, _)| l)
                    .collect();
                mean_ms(&reads)
            },
            piggybacked: r.vm_piggybacked,
            mig_n: r.mig_lat_ns.len(),
            mig_mean_ms: if job.cfg.mode == Mode::Normal || r.mig_sectors == 0 {
                f64::NAN
            } else {
                r.mig_lat_ns.iter().map(|&x| x as f64).sum::<f64>()
                    / (r.mig_sectors as f64 / job.cfg.chunk_sectors as f64)
                    / 1e6
            },
            mig_io_ms: mean_ms(&r.mig_lat_ns),
            vm_timed: if job.group == "fig34" || job.group == "halfload" {
                r.vm_arrival_ns
                    .iter()
                    .copied()
                    .zip(r.vm_lat_ns.iter().copied())
                    .collect()
            } else {
                Vec::new()
            },
            mig_time_s: if job.cfg.mode == Mode::Normal {
                f64::NAN
            } else {
                r.window_ns as f64 / 1e9
            },
            chunks_copied: r.chunks_copied,
            chunks_recopied: r.chunks_recopied,
            travel_strokes: r.travel_strokes,
            travel_gib: r.travel_sectors as f64 * 512.0 / (1u64 << 30) as f64,
            seeks: r.seeks,
            busy_frac: if r.window_ns > 0 {
                r.busy_ns as f64 / r.window_ns as f64
            } else {
                f64::NAN
            },
            vm_backlog_at_end: r.vm_backlog_at_end,
            vm_quantiles: quantiles,
        }
    }
}

/// All rows plus derived comparisons.
pub struct Summary {
    pub workloads: Vec<String>,
    pub rows: Vec<Row>,
    pub seed: u64,
}

impl Summary {
    pub fn new(workloads: &[String], rows: Vec<Row>, seed: u64) -> Self {
        Self {
            workloads: workloads.to_vec(),
            rows,
            seed,
        }
    }

    fn find(
        &self,
        group: &str,
        variant: &str,
        workload: &str,
        pred: impl Fn(&Row) -> bool,
    ) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.group == group && r.variant == variant && r.workload == workload && pred(r))
    }

    fn fig(&self, variant: &str, workload: &str) -> Option<&Row> {
        self.find("fig34", variant, workload, |_| true)
    }

    /// Follow against sequential in one configuration (`group`, workload):
    /// VM mean over the same window for both (requests that arrived before
    /// the earlier of the two migrations ended), migration IO time per chunk,
    /// migration time; `None` when a run is missing or either is saturated.
    pub fn same_window(&self, group: &str, w: &str) -> Option<(f64, f64, f64)> {
        let s = self.find(group, "sequential", w, |_| true)?;
        let f = self.find(group, "follow", w, |_| true)?;
        if s.vm_backlog_at_end > 100 || f.vm_backlog_at_end > 100 {
            return None;
        }
        let window_ns = (s.mig_time_s.min(f.mig_time_s) * 1e9) as u64;
        let vm = |r: &Row| -> f64 {
            let v: Vec<u64> = r
                .vm_timed
                .iter()
                .filter(|(a, _)| *a < window_ns)
                .map(|&(_, l)| l)
                .collect();
            mean_ms(&v)
        };
        Some((
            vm(f) / vm(s),
            f.mig_mean_ms / s.mig_mean_ms,
            f.mig_time_s / s.mig_time_s,
        ))
    }

    /// The headline configurations: the four synthetic paper traces and the
    /// CloudPhysics excerpt at the Fig. 3/4 configuration and (synthetic
    /// only) at half load, each kept only when neither policy saturates.
    pub fn headline(&self) -> Vec<(String, &'static str, (f64, f64, f64))> {
        let mut out = Vec::new();
        for group in ["fig34", "halfload"] {
            for w in &self.workloads {
                if w.ends_with("@0s") {
                    continue;
                }
                if let Some(r) = self.same_window(group, w) {
                    out.push((w.clone(), group, r));
                }
            }
        }
        out
    }

    /// The closing line: the mean of the headline configurations.
    pub fn closing_line(&self) -> String {
        let rs = self.headline();
        let n = rs.len().max(1) as f64;
        let vm = rs.iter().map(|r| r.2 .0).sum::<f64>() / n;
        let mig = rs.iter().map(|r| r.2 .1).sum::<f64>() / n;
        let t = rs.iter().map(|r| r.2 .2).sum::<f64>() / n;
        format!(
            "sim: follow/sequential vm_latency={vm:.3} migration_latency={mig:.3} migration_time={t:.3}"
        )
    }

    /// The report: one table after another.
    pub fn text(&self) -> String {
        let mut o = String::new();
        self.write_header(&mut o);
        self.write_fig34(&mut o);
        self.write_verdict(&mut o);
        self.write_ablation(&mut o);
        self.write_sensitivity(&mut o);
        self.write_model_sensitivity(&mut o);
        self.write_mechanisms(&mut o);
        self.write_cache(&mut o);
        self.write_headline(&mut o);
        let _ = writeln!(o, "{}", self.closing_line());
        o
    }

    /// The run's configuration and the floors.
    fn write_header(&self, o: &mut String) {
        let disk = Disk::new(DiskParams::ST31000524AS);
        let image_gib = IMAGE_SECTORS as f64 * 512.0 / (1u64 << 30) as f64;
        let floor_s = disk.track(IMAGE_SECTORS) * disk.rev_ns() / 1e9;
        let _ = writeln!(o, "IOFollow simulator — disk model {} (1.0/8.5/17 ms seeks, 7200 rpm, 125 MB/s OD, zoned 0.5, angular rotation)", DiskParams::ST31000524AS.name);
        let _ = writeln!(o, "image {image_gib:.0} GiB per VM at the OD (VM i at offset i x 32 GiB); open-loop replay by timestamps; one request in service; host FIFO unless noted; seed {}", self.seed);
        let _ = writeln!(o, "migration: one outstanding chunk read per VM; work-conserving V:M ratio; migration IO response = completion - time the request was ready");
        let _ = writeln!(o, "sequential = standard start-to-end migration (no cache, no piggyback); follow = biased follow (forward_bias 4, idle-forward) + piggyback + 64 MiB migration-aware cache");
        let _ = writeln!(o, "physical floor of the migration time: image / media rate = {floor_s:.0} s; VM floor = normal-state latency R0\n");
    }

    /// Fig. 3/4: one VM, 1 MiB chunks, 2:1.
    fn write_fig34(&self, o: &mut String) {
        let disk = Disk::new(DiskParams::ST31000524AS);
        let floor_s = disk.track(IMAGE_SECTORS) * disk.rev_ns() / 1e9;
        let _ = writeln!(
            o,
            "== Fig. 3/4: one VM, 1 MiB chunks, 2:1 (times in ms, migration time in s) =="
        );
        let _ = writeln!(o, "{:<20} {:>6} {:>5} | {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} | {:>7} {:>7} {:>6} {:>6} | {:>7} {:>7} {:>6} {:>7} | {:>7} {:>7}",
            "workload", "R0", "rho0", "seq VM", "fol VM", "seq p99", "fol p99", "VM f/s", "paper",
            "seq mig", "fol mig", "mig f/s", "paper", "T_seq", "T_fol", "dT %", "T_floor", "trv seq", "trv fol");
        for w in &self.workloads {
            let (Some(s), Some(f), Some(n)) = (
                self.fig("sequential", w),
                self.fig("follow", w),
                self.fig("normal", w),
            ) else {
                continue;
            };
            let p = paper(w);
            let pv = p
                .map(|p| format!("{:.3}", p[4] / p[3]))
                .unwrap_or_else(|| "-".into());
            let pm = p
                .map(|p| format!("{:.3}", p[1] / p[0]))
                .unwrap_or_else(|| "-".into());
            let floor_rho = floor_s / (1.0 - n.busy_frac).max(1e-9);
            let _ = writeln!(o, "{:<20} {:>6.1} {:>5.2} | {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>6.3} {:>6} | {:>7.1} {:>7.1} {:>6.3} {:>6} | {:>7.0} {:>7.0} {:>+6.1} {:>7.0} | {:>7.1} {:>7.1}",
                w, n.vm_mean_ms, n.busy_frac, s.vm_mean_ms, f.vm_mean_ms, s.vm_p99_ms, f.vm_p99_ms,
                f.vm_mean_ms / s.vm_mean_ms, pv, s.mig_mean_ms, f.mig_mean_ms, f.mig_mean_ms / s.mig_mean_ms, pm,
                s.mig_time_s, f.mig_time_s, (f.mig_time_s / s.mig_time_s - 1.0) * 100.0, floor_rho,
                s.travel_strokes, f.travel_strokes);
        }
        let _ = writeln!(o, "(R0 = normal-state VM mean over the sequential run's window; rho0 = disk busy fraction without migration; T_floor = floor/(1-rho0);");
        let _ = writeln!(o, " trv = head travel in full strokes; paper = IOFollow/standard from the paper's Fig. 3/4 values)");
        let _ = writeln!(o, "paper values (ms): WebSearch1 mig 172->129 VM 35/60->42; WebSearch2 166->107, 22/52->31; WebSearch3 185->99, 25/68->45; Financial2 169->112, 37/62->49\n");
    }

    /// The verdict of follow against sequential on Fig. 3/4.
    fn write_verdict(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "== Verdict (follow vs sequential, Fig. 3/4 configuration) =="
        );
        for w in &self.workloads {
            let (Some(s), Some(f)) = (self.fig("sequential", w), self.fig("follow", w)) else {
                continue;
            };
            let vm_ok = f.vm_mean_ms < s.vm_mean_ms;
            let mig_ok = f.mig_mean_ms < s.mig_mean_ms;
            let t_ok = f.mig_time_s <= s.mig_time_s * 1.10;
            let _ = writeln!(o, "{:<20} VM {} ({:.3})  migration IO {} ({:.3})  migration time {} ({:+.1} %)  => {}",
                w, if vm_ok { "better" } else { "WORSE" }, f.vm_mean_ms / s.vm_mean_ms,
                if mig_ok { "better" } else { "WORSE" }, f.mig_mean_ms / s.mig_mean_ms,
                if t_ok { "ok" } else { "WORSE >10%" }, (f.mig_time_s / s.mig_time_s - 1.0) * 100.0,
                if vm_ok && mig_ok && t_ok { "PASS" } else { "FAIL" });
            if s.vm_backlog_at_end > 100 || f.vm_backlog_at_end > 100 {
                let _ = writeln!(o, "{:<20} SATURATED: {} (sequential) / {} (follow) VM requests still queued when the migration ended: the VM load exceeds the VM share of the disk under this ratio, the queue grows for the whole migration and the VM means depend on its length", "", s.vm_backlog_at_end, f.vm_backlog_at_end);
            }
        }
        let _ = writeln!(o);
    }

    /// The ablation of the paper's mechanisms.
    fn write_ablation(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "== Ablation (1 MiB, 2:1, FIFO): ratios to sequential; VM/mig in ms, T in s =="
        );
        let variants = [
            ("sequential", "fig34"),
            ("sequential+cache", "ablation"),
            ("sequential+cache+piggyback", "ablation"),
            ("nearest", "ablation"),
            ("nearest+cache+piggyback", "ablation"),
            ("biased", "ablation"),
            ("biased+piggyback", "ablation"),
            ("biased+cache", "ablation"),
            ("biased+cache+piggyback", "ablation"),
            ("follow", "fig34"),
        ];
        let _ = writeln!(
            o,
            "{:<20} {:<28} {:>8} {:>8} {:>7} {:>7} {:>7} {:>6} {:>6} {:>7} {:>6} {:>6}",
            "workload",
            "variant",
            "VM",
            "mig",
            "T",
            "VM r",
            "mig r",
            "T r",
            "hits",
            "piggy",
            "recopy",
            "trv"
        );
        for w in &self.workloads {
            let Some(base) = self.fig("sequential", w) else {
                continue;
            };
            for (v, g) in variants {
                let Some(r) = self.find(g, v, w, |_| true) else {
                    continue;
                };
                let _ = writeln!(o, "{:<20} {:<28} {:>8.1} {:>8.1} {:>7.0} {:>7.3} {:>7.3} {:>6.3} {:>6} {:>7} {:>6} {:>6.1}",
                    w, v, r.vm_mean_ms, r.mig_mean_ms, r.mig_time_s, r.vm_mean_ms / base.vm_mean_ms,
                    r.mig_mean_ms / base.mig_mean_ms, r.mig_time_s / base.mig_time_s, r.cache_hits, r.piggybacked,
                    r.chunks_recopied, r.travel_strokes);
            }
        }
        let _ = writeln!(o, "(nearest = Algorithm 1 literally; biased = forward bias 4 + forward streaming when idle; +piggyback = every read of a pending chunk");
        let _ = writeln!(o, " when no other VM request waits; follow = biased + cache + default piggyback rule (extra transfer <= 512 KiB: never at 1 MiB chunks))\n");
    }

    /// Sensitivity to the chunk size, the ratio and the number of VMs.
    fn write_sensitivity(&self, o: &mut String) {
        for (group, title, key) in [
            ("chunk", "chunk size (KiB)", 0usize),
            ("ratio", "ratio V:M", 1),
            (
                "vms",
                "concurrent migrating VMs (total VM load constant)",
                2,
            ),
        ] {
            let _ = writeln!(o, "== Sensitivity: {title}; follow/sequential ratios VM / migration IO / migration time ==");
            let keys: Vec<String> = match key {
                0 => vec!["128", "256", "512", "1024", "2048"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                1 => vec!["1:1", "2:1", "3:1", "4:1"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                _ => vec!["1", "2", "3", "4"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            };
            let _ = write!(o, "{:<20}", "workload");
            for k in &keys {
                let _ = write!(o, " {:>22}", k);
            }
            let _ = writeln!(o);
            let mut sums = vec![(0.0, 0.0, 0.0, 0usize); keys.len()];
            for w in &self.workloads {
                if w.ends_with("@0s") {
                    continue;
                }
                let _ = write!(o, "{:<20}", w);
                for (ki, k) in keys.iter().enumerate() {
                    let pick = |variant: &str| -> Option<&Row> {
                        let m = |r: &Row| match key {
                            0 => r.chunk_kib.to_string() == *k && r.ratio == (2, 1) && r.nvms == 1,
                            1 => {
                                format!("{}:{}", r.ratio.0, r.ratio.1) == *k
                                    && r.chunk_kib == 1024
                                    && r.nvms == 1
                            }
                            _ => {
                                r.nvms.to_string() == *k && r.chunk_kib == 1024 && r.ratio == (2, 1)
                            }
                        };
                        self.find(group, variant, w, m)
                            .or_else(|| self.find("fig34", variant, w, m))
                    };
                    match (pick("sequential"), pick("follow")) {
                        (Some(s), Some(f)) => {
                            let (a, b, c) = (
                                f.vm_mean_ms / s.vm_mean_ms,
                                f.mig_mean_ms / s.mig_mean_ms,
                                f.mig_time_s / s.mig_time_s,
                            );
                            sums[ki].0 += a;
                            sums[ki].1 += b;
                            sums[ki].2 += c;
                            sums[ki].3 += 1;
                            let _ = write!(o, " {:>6.3}/{:>6.3}/{:>6.3} ", a, b, c);
                        }
                        _ => {
                            let _ = write!(o, " {:>22}", "-");
                        }
                    }
                }
                let _ = writeln!(o);
            }
            let _ = write!(o, "{:<20}", "mean");
            for s in &sums {
                let n = s.3.max(1) as f64;
                let _ = write!(o, " {:>6.3}/{:>6.3}/{:>6.3} ", s.0 / n, s.1 / n, s.2 / n);
            }
            let _ = writeln!(o, "\n");
        }
        let _ = writeln!(o, "paper, section 4.3 (normalised IOFollow/standard, read from the text): chunk sizes migration 0.45-0.65 (mean 0.574), VM 0.70-0.88 (mean 0.803);");
        let _ = writeln!(o, "ratios: inconsistent in the text, qualitative only; concurrent VMs: migration -55 %, VM -45 %.\n");
    }

    /// Sensitivity to the disk model.
    fn write_model_sensitivity(&self, o: &mut String) {
        for (group, title) in [
            (
                "ncq",
                "NCQ-like queueing (SATF among 32 queued VM requests)",
            ),
            ("meanrot", "mean rotational latency instead of angular"),
            ("halfload", "synthetic traces at half the Table 2 IOPS"),
        ] {
            let _ = writeln!(o, "== Model sensitivity: {title}, 1 MiB, 2:1 ==");
            for w in &self.workloads {
                let (Some(s), Some(f), Some(n)) = (
                    self.find(group, "sequential", w, |_| true),
                    self.find(group, "follow", w, |_| true),
                    self.find(group, "normal", w, |_| true),
                ) else {
                    continue;
                };
                let _ = writeln!(o, "{:<20} R0 {:>6.1} rho0 {:.2} | VM {:>7.1} -> {:>7.1} ({:.3}) | mig {:>6.1} -> {:>6.1} ({:.3}) | T {:>5.0} -> {:>5.0} s ({:+.1} %)",
                    w, n.vm_mean_ms, n.busy_frac, s.vm_mean_ms, f.vm_mean_ms, f.vm_mean_ms / s.vm_mean_ms,
                    s.mig_mean_ms, f.mig_mean_ms, f.mig_mean_ms / s.mig_mean_ms, s.mig_time_s, f.mig_time_s,
                    (f.mig_time_s / s.mig_time_s - 1.0) * 100.0);
            }
            let _ = writeln!(o);
        }
    }

    /// The kernel's copy mechanisms.
    fn write_mechanisms(&self, o: &mut String) {
        let _ = writeln!(o, "== Mechanisms (1 MiB chunks, 2:1, FIFO): ratios to sequential as shipped; VM/mig in ms, T in s ==");
        let _ = writeln!(
            o,
            "{:<20} {:<26} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>6} {:>7} {:>7}",
            "workload",
            "variant",
            "VM",
            "mig/chk",
            "mig/IO",
            "T",
            "VM r",
            "mig r",
            "T r",
            "piggy",
            "recopy"
        );
        for w in &self.workloads {
            let Some(base) = self.fig("sequential", w) else {
                continue;
            };
            for (g, v) in [
                ("mechanism", "sequential chunk-map"),
                ("fig34", "sequential"),
                ("mechanism", "follow chunk-map"),
                ("mechanism", "follow aligned"),
                ("mechanism", "follow no-piggyback"),
                ("mechanism", "follow queue-aware"),
                ("fig34", "follow"),
            ] {
                let Some(r) = self.find(g, v, w, |_| true) else {
                    continue;
                };
                let _ = writeln!(o, "{:<20} {:<26} {:>8.1} {:>8.1} {:>8.1} {:>7.0} {:>7.3} {:>7.3} {:>7.3} {:>6} {:>7}",
                    w, v, r.vm_mean_ms, r.mig_mean_ms, r.mig_io_ms, r.mig_time_s, r.vm_mean_ms / base.vm_mean_ms,
                    r.mig_mean_ms / base.mig_mean_ms, r.mig_time_s / base.mig_time_s, r.piggybacked, r.chunks_recopied);
            }
        }
        let _ = writeln!(o, "(chunk-map = state kept per 1 MiB chunk, the map before blocks; aligned = 64 KiB blocks, copy IOs cut at chunk boundaries");
        let _ = writeln!(o, " (no_read_at_head); follow = 64 KiB blocks, copy IOs start at the head; mig/chk = migration IO time per 1 MiB copied; recopy in blocks;");
        let _ = writeln!(
            o,
            " VM means here are over each run's own migration window)\n"
        );
    }

    /// The migration-aware cache.
    fn write_cache(&self, o: &mut String) {
        let _ = writeln!(o, "== Migration-aware cache: follow without it, with LRU eviction, with liveness eviction (shipped, 64 MiB) ==");
        let _ = writeln!(
            o,
            "{:<20} {:<18} {:>8} {:>7} {:>8} {:>9} {:>7} {:>7}",
            "workload", "variant", "hits", "hit/rd", "VM", "VM read", "VM r", "read r"
        );
        for w in &self.workloads {
            let Some(base) = self.find("mechanism", "follow no-cache", w, |_| true) else {
                continue;
            };
            for (g, v) in [
                ("mechanism", "follow no-cache"),
                ("mechanism", "follow lru-cache"),
                ("fig34", "follow"),
                ("mechanism", "follow lru-cache-1g"),
                ("mechanism", "follow cache-1g"),
            ] {
                let Some(r) = self.find(g, v, w, |_| true) else {
                    continue;
                };
                let _ = writeln!(
                    o,
                    "{:<20} {:<18} {:>8} {:>7.3} {:>8.2} {:>9.2} {:>7.3} {:>7.3}",
                    w,
                    v,
                    r.cache_hits,
                    r.hit_ratio,
                    r.vm_mean_ms,
                    r.vm_read_mean_ms,
                    r.vm_mean_ms / base.vm_mean_ms,
                    r.vm_read_mean_ms / base.vm_read_mean_ms
                );
            }
        }
        let _ = writeln!(o, "(-1g: 1 GiB instead of 64 MiB; hit/rd = hits per VM read during the migration; VM, VM read = mean response time in ms over each run's own");
        let _ = writeln!(o, " migration window, hits count as 0 ms; r = ratio to follow no-cache. A block is cached when its copy completes");
        let _ = writeln!(o, " and dropped by a VM write, as in the kernel)\n");
    }

    /// The headline ratios.
    fn write_headline(&self, o: &mut String) {
        let _ = writeln!(o, "== Headline: follow/sequential, VM over the same window (requests that arrived before the earlier migration ended) ==");
        for (w, group, (vm, mig, t)) in self.headline() {
            let rho0 = self
                .find(group, "normal", &w, |_| true)
                .map_or(f64::NAN, |n| n.busy_frac);
            let _ = writeln!(
                o,
                "{:<20} {:<9} rho0 {:.2}  VM {:.3}  migration IO {:.3}  migration time {:.3}",
                w, group, rho0, vm, mig, t
            );
        }
        let _ = writeln!(o, "(saturated configurations, where VM requests were still queued when a migration ended, are left out)\n");
    }

    /// Every run, for scripts (`results.json`).
    pub fn json(&self) -> String {
        let runs: Vec<RunJson<'_>> = self.rows.iter().map(RunJson::from).collect();
        let doc = serde_json::json!({
            "seed": self.seed,
            "image_sectors": IMAGE_SECTORS,
            "closing_line": self.closing_line(),
            "runs": runs,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
    }
}

/// One run as `results.json` names its fields.
#[derive(serde::Serialize)]
struct RunJson<'a> {
    group: &'a str,
    variant: &'a str,
    workload: &'a str,
    vms: usize,
    chunk_kib: u64,
    ratio: String,
    queueing: &'a str,
    rotation: &'a str,
    vm_requests: usize,
    vm_mean_ms: f64,
    vm_p99_ms: f64,
    cache_hits: u64,
    piggybacked: u64,
    migration_requests: usize,
    migration_mean_ms: f64,
    migration_io_ms: f64,
    migration_time_s: f64,
    chunks_copied: u64,
    chunks_recopied: u64,
    head_travel_strokes: f64,
    head_travel_gib: f64,
    seeks: u64,
    disk_busy: f64,
    vm_backlog_at_end: u64,
}

impl<'a> From<&'a Row> for RunJson<'a> {
    fn from(r: &'a Row) -> Self {
        Self {
            group: &r.group,
            variant: &r.variant,
            workload: &r.workload,
            vms: r.nvms,
            chunk_kib: r.chunk_kib,
            ratio: format!("{}:{}", r.ratio.0, r.ratio.1),
            queueing: r.queueing,
            rotation: r.rotation,
            vm_requests: r.vm_n,
            vm_mean_ms: r.vm_mean_ms,
            vm_p99_ms: r.vm_p99_ms,
            cache_hits: r.cache_hits,
            piggybacked: r.piggybacked,
            migration_requests: r.mig_n,
            migration_mean_ms: r.mig_mean_ms,
            migration_io_ms: r.mig_io_ms,
            migration_time_s: r.mig_time_s,
            chunks_copied: r.chunks_copied,
            chunks_recopied: r.chunks_recopied,
            head_travel_strokes: r.travel_strokes,
            head_travel_gib: r.travel_gib,
            seeks: r.seeks,
            disk_busy: r.busy_frac,
            vm_backlog_at_end: r.vm_backlog_at_end,
        }
    }
}

fn file_name(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Head position over time, sequential above follow, one SVG per workload.
pub fn head_plots(runs: &[(String, String, &RunResult)], out: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut names: Vec<&String> = runs.iter().map(|r| &r.0).collect();
    names.dedup();
    for name in names {
        let panels: Vec<&(String, String, &RunResult)> =
            runs.iter().filter(|r| &r.0 == name).collect();
        let (w, ph) = (900.0, 260.0);
        let h = ph * panels.len() as f64 + 40.0;
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        let tmax = panels
            .iter()
            .map(|p| p.2.window_ns)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        for (k, (_, variant, r)) in panels.iter().enumerate() {
            let y0 = 30.0 + k as f64 * ph;
            let (x0, pw, hh) = (60.0, w - 80.0, ph - 50.0);
            let _ = writeln!(s, "<text x=\"{x0}\" y=\"{}\">{name}: {variant} — head position (GiB into the image) vs time; blue VM IO, orange migration IO; migration {:.0} s</text>", y0 - 8.0, r.window_ns as f64 / 1e9);
            let _ = writeln!(s, "<rect x=\"{x0}\" y=\"{y0}\" width=\"{pw}\" height=\"{hh}\" fill=\"none\" stroke=\"black\"/>");
            let gib = IMAGE_SECTORS as f64;
            let step = (r.head_samples.len() / 12000).max(1);
            for (i, &(t, lba, mig)) in r.head_samples.iter().enumerate() {
                if i % step != 0 {
                    continue;
                }
                let x = x0 + t as f64 / tmax * pw;
                let y = y0 + hh - (lba as f64 / gib).min(1.0) * hh;
                let _ = writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"1.2\" height=\"1.2\" fill=\"{}\"/>",
                    if mig { "#e67e22" } else { "#2e6fd8" }
                );
            }
            for tick in 0..=4 {
                let x = x0 + pw * tick as f64 / 4.0;
                let _ = writeln!(
                    s,
                    "<text x=\"{x:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{:.0} s</text>",
                    y0 + hh + 14.0,
                    tmax / 1e9 * tick as f64 / 4.0
                );
                let y = y0 + hh - hh * tick as f64 / 4.0;
                let _ = writeln!(
                    s,
                    "<text x=\"{:.0}\" y=\"{y:.0}\" text-anchor=\"end\">{:.0}</text>",
                    x0 - 4.0,
                    32.0 * tick as f64 / 4.0
                );
            }
        }
        s.push_str("</svg>\n");
        let f = format!("{out}/head-{}.svg", file_name(name));
        if std::fs::write(&f, s).is_ok() {
            files.push(f);
        }
    }
    files
}

/// VM latency CDFs (normal / sequential / follow) per workload, one SVG.
pub fn cdf_plots(sum: &Summary, out: &str) -> Vec<String> {
    let ws: Vec<&String> = sum.workloads.iter().collect();
    let (pw, ph) = (420.0, 260.0);
    let cols = 2usize;
    let rows = ws.len().div_ceil(cols);
    let (w, h) = (pw * cols as f64 + 20.0, ph * rows as f64 + 20.0);
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let (lo, hi) = (0.1f64.log10(), 10000f64.log10());
    for (k, name) in ws.iter().enumerate() {
        let ox = 10.0 + (k % cols) as f64 * pw + 45.0;
        let oy = 10.0 + (k / cols) as f64 * ph + 20.0;
        let (iw, ih) = (pw - 65.0, ph - 60.0);
        let _ = writeln!(
            s,
            "<text x=\"{ox}\" y=\"{}\">{name}: VM response time CDF (ms, log)</text>",
            oy - 6.0
        );
        let _ = writeln!(s, "<rect x=\"{ox}\" y=\"{oy}\" width=\"{iw}\" height=\"{ih}\" fill=\"none\" stroke=\"black\"/>");
        for d in 0..=5 {
            let v = 10f64.powi(d - 1);
            let x = ox + (v.log10() - lo) / (hi - lo) * iw;
            let _ = writeln!(
                s,
                "<text x=\"{x:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>",
                oy + ih + 13.0,
                v
            );
        }
        for (vi, (variant, color)) in [
            ("normal", "#555555"),
            ("sequential", "#c0392b"),
            ("follow", "#27ae60"),
        ]
        .iter()
        .enumerate()
        {
            let Some(r) = sum.fig(variant, name) else {
                continue;
            };
            let pts: Vec<String> = r
                .vm_quantiles
                .iter()
                .enumerate()
                .map(|(i, &ms)| {
                    let v = ms.clamp(0.1, 10000.0).log10();
                    let x = ox + (v - lo) / (hi - lo) * iw;
                    let y = oy + ih - ih * i as f64 / 200.0;
                    format!("{x:.1},{y:.1}")
                })
                .collect();
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
                pts.join(" ")
            );
            let _ = writeln!(
                s,
                "<text x=\"{:.0}\" y=\"{:.0}\" fill=\"{color}\">{variant} (mean {:.1} ms)</text>",
                ox + 6.0,
                oy + 14.0 + 13.0 * vi as f64,
                r.vm_mean_ms
            );
        }
    }
    s.push_str("</svg>\n");
    let f = format!("{out}/vm-latency-cdf.svg");
    let mut files = Vec::new();
    if std::fs::write(&f, s).is_ok() {
        files.push(f);
    }
    files
}
