// SPDX-License-Identifier: GPL-2.0

//! Deterministic service-time model of a single-actuator hard disk drive,
//! with the parameters of the disk of the IOFollow paper (Seagate Barracuda
//! 7200.12 ST31000524AS, 1 TB, 7200 rpm).
//!
//! The model (see `Documentation/simulator.rst`):
//!
//! * **Geometry.** The LBA space is one spiral of tracks from the outer
//!   diameter (OD, LBA 0) to the inner diameter (ID). Sectors per track fall
//!   linearly with the stroke position `s` in `[0, 1]` from the OD value to
//!   `id_od_ratio` of it (zoned bit recording, taken as continuous). Hence
//!   the LBA fraction at stroke `s` is `f = (s - k s^2 / 2) / (1 - k / 2)`
//!   with `k = 1 - id_od_ratio`, and the fractional track number of an LBA
//!   is `s * total_tracks`.
//! * **Transfer** of a request takes the time the platter needs to turn
//!   under it: (track number of its end - of its start) revolutions; this is
//!   125 MB/s at the OD and half that at the ID.
//! * **Seek.** A move of at least one track costs
//!   `seek(x) = t + A x + B sqrt(x)` (x = fraction of the full stroke), with
//!   `A`, `B` fitted so that the track-to-track time is `t`, the full stroke
//!   `full`, and the manufacturers' average (over the triangular distance
//!   distribution of two uniformly random positions) `avg`. Moves within a
//!   track cost no arm motion.
//! * **Rotation.** [`Rotation::Angular`] (default): the platter angle is
//!   `t / rev` modulo 1 on the simulation clock, a sector's angle is the
//!   fractional part of its track number, and the head waits until the start
//!   sector comes around after the seek. [`Rotation::Mean`]: half a
//!   revolution for every non-sequential request.
//! * Writes add `write_settle`. The drive's cache and read-ahead are not modelled.
//!
//! Every computation is a pure function of the inputs (no randomness), so
//! runs are bit-for-bit repeatable.

#![forbid(unsafe_code)]

/// How rotational latency is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Track the platter angle on the clock (deterministic, position dependent).
    Angular,
    /// Half a revolution for every request that does not continue the previous one.
    Mean,
}

/// Parameters of a drive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskParams {
    /// Model name.
    pub name: &'static str,
    /// Capacity in 512-byte sectors.
    pub capacity_sectors: u64,
    /// Spindle speed.
    pub rpm: f64,
    /// Track-to-track seek, ms.
    pub track_to_track_ms: f64,
    /// Average seek (manufacturers' definition), ms.
    pub avg_seek_ms: f64,
    /// Full-stroke seek, ms.
    pub full_stroke_ms: f64,
    /// Media rate at the outer diameter, MB/s (10^6 bytes).
    pub od_rate_mb_s: f64,
    /// Media rate at the inner diameter divided by the OD rate.
    pub id_od_ratio: f64,
    /// Extra settle time of a write after a seek, ms.
    pub write_settle_ms: f64,
    /// Rotational latency model.
    pub rotation: Rotation,
}

impl DiskParams {
    /// Seagate Barracuda 7200.12 ST31000524AS (the paper's disk): 1 TB,
    /// 7200 rpm, 1.0 / 8.5 / 17 ms seeks, 125 MB/s at the OD, 0.5 ID/OD.
    pub const ST31000524AS: DiskParams = DiskParams {
        name: "Seagate ST31000524AS",
        capacity_sectors: 1_953_525_168,
        rpm: 7200.0,
        track_to_track_ms: 1.0,
        avg_seek_ms: 8.5,
        full_stroke_ms: 17.0,
        od_rate_mb_s: 125.0,
        id_od_ratio: 0.5,
        write_settle_ms: 0.5,
        rotation: Rotation::Angular,
    };
}

impl Default for DiskParams {
    fn default() -> Self {
        Self::ST31000524AS
    }
}

/// Time components of one access, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Service {
    /// Arm motion (plus write settle).
    pub seek_ns: u64,
    /// Rotational wait.
    pub rot_ns: u64,
    /// Media transfer.
    pub xfer_ns: u64,
    /// Head distance in sectors from the previous request's end.
    pub distance: u64,
}

impl Service {
    /// Total service time.
    pub fn total_ns(&self) -> u64 {
        self.seek_ns + self.rot_ns + self.xfer_ns
    }

    /// Positioning time (seek + rotation).
    pub fn positioning_ns(&self) -> u64 {
        self.seek_ns + self.rot_ns
    }
}

/// Cumulative counters of a disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Requests served.
    pub requests: u64,
    /// Requests that needed arm motion.
    pub seeks: u64,
    /// Sum of head distances in sectors.
    pub travel_sectors: u64,
    /// Sum of seek times.
    pub seek_ns: u64,
    /// Sum of rotational waits.
    pub rot_ns: u64,
    /// Sum of transfer times.
    pub xfer_ns: u64,
}

/// A drive: parameters, derived constants and the head position.
#[derive(Clone, Debug)]
pub struct Disk {
    p: DiskParams,
    k: f64,
    total_tracks: f64,
    rev_ns: f64,
    seek_a: f64,
    seek_b: f64,
    head: u64,
    stats: DiskStats,
}

impl Disk {
    /// A drive with its head at LBA 0.
    pub fn new(p: DiskParams) -> Self {
        let k = 1.0 - p.id_od_ratio;
        let rev_s = 60.0 / p.rpm;
        let spt_od = p.od_rate_mb_s * 1e6 * rev_s / 512.0;
        let total_tracks = p.capacity_sectors as f64 / (spt_od * (1.0 - k / 2.0));
        // Triangular weighting: E[x] = 1/3, E[sqrt x] = 8/15.
        let t = p.track_to_track_ms;
        let b = (15.0 * p.avg_seek_ms - 10.0 * t - 5.0 * p.full_stroke_ms) / 3.0;
        let a = p.full_stroke_ms - t - b;
        Self {
            p,
            k,
            total_tracks,
            rev_ns: rev_s * 1e9,
            seek_a: a,
            seek_b: b,
            head: 0,
            stats: DiskStats::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &DiskParams {
        &self.p
    }

    /// Seek-curve coefficients `(t, A, B)` in ms.
    pub fn seek_coefficients(&self) -> (f64, f64, f64) {
        (self.p.track_to_track_ms, self.seek_a, self.seek_b)
    }

    /// One revolution in ns.
    pub fn rev_ns(&self) -> f64 {
        self.rev_ns
    }

    /// Number of tracks of the (single-spiral) LBA space.
    pub fn total_tracks(&self) -> f64 {
        self.total_tracks
    }

    /// Head position: end LBA of the last request.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Put the head at `lba` without a request.
    pub fn set_head(&mut self, lba: u64) {
        self.head = lba;
    }

    /// Counters so far.
    pub fn stats(&self) -> DiskStats {
        self.stats
    }

    /// Stroke position in `[0, 1]` of an LBA.
    pub fn stroke(&self, lba: u64) -> f64 {
        let f = (lba as f64 / self.p.capacity_sectors as f64).clamp(0.0, 1.0);
        if self.k.abs() < 1e-12 {
            return f;
        }
        let disc = (1.0 - 2.0 * self.k * f * (1.0 - self.k / 2.0)).max(0.0);
        ((1.0 - disc.sqrt()) / self.k).clamp(0.0, 1.0)
    }

    /// Fractional track number of an LBA.
    pub fn track(&self, lba: u64) -> f64 {
        self.stroke(lba) * self.total_tracks
    }

    /// Media rate in MB/s at an LBA.
    pub fn rate_mb_s(&self, lba: u64) -> f64 {
        self.p.od_rate_mb_s * (1.0 - self.k * self.stroke(lba))
    }

    /// Seek time in ms for a move of fraction `x` of the full stroke
    /// (`x` at least one track; 0 for no move).
    pub fn seek_ms(&self, x: f64) -> f64 {
        if x <= 0.0 {
            0.0
        } else {
            self.p.track_to_track_ms + self.seek_a * x + self.seek_b * x.sqrt()
        }
    }

    /// Service of a request of `sectors` sectors at `lba` started at
    /// `now_ns` from the current head position, without changing any state.
    pub fn estimate(&self, now_ns: u64, lba: u64, sectors: u64, write: bool) -> Service {
        let distance = self.head.abs_diff(lba);
        let t_head = self.track(self.head);
        let t_start = self.track(lba);
        let t_end = self.track(lba.saturating_add(sectors));
        let dtracks = (t_start - t_head).abs();
        let mut seek_ms = 0.0;
        if dtracks >= 1.0 {
            seek_ms = self.seek_ms(dtracks / self.total_tracks);
            if write {
                seek_ms += self.p.write_settle_ms;
            }
        }
        let seek_ns = (seek_ms * 1e6).round();
        let rot_ns = match self.p.rotation {
            Rotation::Mean => {
                if distance == 0 {
                    0.0
                } else {
                    (self.rev_ns / 2.0).round()
                }
            }
            Rotation::Angular => {
                let arrive = now_ns as f64 + seek_ns;
                let angle_now = (arrive / self.rev_ns).fract();
                let mut wait = (t_start.fract() - angle_now).rem_euclid(1.0);
                // A request that continues the previous one and finds its
                // first sector just passed by less than 1 % of a revolution
                // is a back-to-back continuation whose clock drifted by the
                // ns rounding of earlier transfers: no wait.
                let tolerance = if distance == 0 { 1e-2 } else { 1e-9 };
                if wait > 1.0 - tolerance {
                    wait = 0.0;
                }
                (wait * self.rev_ns).round()
            }
        };
        let xfer_ns = ((t_end - t_start).max(0.0) * self.rev_ns).round();
        Service {
            seek_ns: seek_ns as u64,
            rot_ns: rot_ns as u64,
            xfer_ns: xfer_ns as u64,
            distance,
        }
    }

    /// Serve a request started at `now_ns`: returns its service and moves
    /// the head to its end.
    pub fn access(&mut self, now_ns: u64, lba: u64, sectors: u64, write: bool) -> Service {
        let s = self.estimate(now_ns, lba, sectors, write);
        self.head = lba.saturating_add(sectors);
        self.stats.requests += 1;
        if s.seek_ns > 0 {
            self.stats.seeks += 1;
        }
        self.stats.travel_sectors += s.distance;
        self.stats.seek_ns += s.seek_ns;
        self.stats.rot_ns += s.rot_ns;
        self.stats.xfer_ns += s.xfer_ns;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic test randomness.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    fn within(got: f64, want: f64, pct: f64) {
        let err = (got - want).abs() / want * 100.0;
        assert!(
            err <= pct,
            "got {got:.4}, want {want:.4} (+-{pct} %), off by {err:.2} %"
        );
    }

    /// Mean QD1 service time (ms) of random reads of `sectors` inside the
    /// first `span` sectors, back to back.
    fn random_qd1(disk: &mut Disk, span: u64, sectors: u64, n: u32) -> f64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut now = 0u64;
        let mut sum = 0u64;
        for _ in 0..n {
            let lba = (rng.next() % (span / 8 - 1)) * 8;
            let s = disk.access(now, lba, sectors, false);
            now += s.total_ns();
            sum += s.total_ns();
        }
        sum as f64 / n as f64 / 1e6
    }

    #[test]
    fn seek_curve_matches_datasheet() {
        let d = Disk::new(DiskParams::ST31000524AS);
        let (t, a, b) = d.seek_coefficients();
        within(a, 5.167, 0.1);
        within(b, 10.833, 0.1);
        within(d.seek_ms(1.0), 17.0, 0.01);
        within(d.seek_ms(1e-9), t, 0.1);
        // Manufacturers' average: triangular density 2(1-x) on [0, 1].
        let n = 200_000;
        let mut avg = 0.0;
        for i in 0..n {
            let x = (i as f64 + 0.5) / n as f64;
            avg += d.seek_ms(x) * 2.0 * (1.0 - x) / n as f64;
        }
        within(avg, 8.5, 0.1);
        // Table of section 3.2 of the performance anchors.
        for (x, want) in [
            (0.001, 1.35),
            (0.01, 2.14),
            (0.05, 3.68),
            (0.1, 4.94),
            (0.5, 11.24),
        ] {
            within(d.seek_ms(x), want, 1.0);
        }
    }

    #[test]
    fn random_4k_full_disk() {
        let mut d = Disk::new(DiskParams::ST31000524AS);
        let cap = d.params().capacity_sectors;
        let ms = random_qd1(&mut d, cap, 8, 40_000);
        // 8.5 + 4.17 + 0.03 = 12.70 ms (~79 IOPS)
        within(ms, 12.70, 5.0);
    }

    #[test]
    fn random_4k_in_images_at_od() {
        for (bytes, want) in [(34e9, 6.13), (100e9, 6.90), (500e9, 9.63)] {
            let mut d = Disk::new(DiskParams::ST31000524AS);
            let ms = random_qd1(&mut d, (bytes / 512.0) as u64, 8, 40_000);
            within(ms, want, 5.0);
        }
    }

    #[test]
    fn sequential_1mib_at_od() {
        let mut d = Disk::new(DiskParams::ST31000524AS);
        let mut now = 0u64;
        let n = 1000u64;
        for i in 0..n {
            let s = d.access(now, i * 2048, 2048, false);
            if i > 0 {
                assert!(s.positioning_ns() < 1000, "request {i}: {s:?}");
            }
            now += s.total_ns();
        }
        let per_io_ms = now as f64 / n as f64 / 1e6;
        within(per_io_ms, 8.39, 1.0);
        let mb_s = (n * 1024 * 1024) as f64 / (now as f64 / 1e9) / 1e6;
        within(mb_s, 125.0, 1.0);
    }

    #[test]
    fn whole_disk_sequential() {
        let d = Disk::new(DiskParams::ST31000524AS);
        let cap = d.params().capacity_sectors;
        let secs = d.track(cap) * d.rev_ns() / 1e9;
        within(secs, 10_669.0, 0.5);
        within(d.rate_mb_s(cap), 62.5, 0.5);
        let flat = cap as f64 * 512.0 / 125e6;
        within(flat, 8_002.0, 0.1);
    }

    #[test]
    fn mean_rotation_mode() {
        let mut p = DiskParams::ST31000524AS;
        p.rotation = Rotation::Mean;
        let mut d = Disk::new(p);
        let cap = d.params().capacity_sectors;
        within(random_qd1(&mut d, cap, 8, 40_000), 12.70, 5.0);
        let s = d.estimate(0, d.head(), 8, false);
        assert_eq!(s.positioning_ns(), 0);
    }

    /// Prints the calibration table (`cargo test -p iofollow-hddmodel -- --nocapture`).
    #[test]
    fn calibration_report() {
        let mut d = Disk::new(DiskParams::ST31000524AS);
        let cap = d.params().capacity_sectors;
        println!(
            "random 4 KiB full disk: {:.2} ms",
            random_qd1(&mut d, cap, 8, 40_000)
        );
        for gb in [34.0, 100.0, 500.0] {
            let mut d = Disk::new(DiskParams::ST31000524AS);
            println!(
                "random 4 KiB in {gb} GB at OD: {:.2} ms",
                random_qd1(&mut d, (gb * 1e9 / 512.0) as u64, 8, 40_000)
            );
        }
    }

    #[test]
    fn deterministic() {
        let mut a = Disk::new(DiskParams::ST31000524AS);
        let mut b = Disk::new(DiskParams::ST31000524AS);
        let cap = a.params().capacity_sectors;
        assert_eq!(
            random_qd1(&mut a, cap, 8, 1000),
            random_qd1(&mut b, cap, 8, 1000)
        );
        assert_eq!(a.stats(), b.stats());
    }
}
