// SPDX-License-Identifier: GPL-2.0

//! VM block traces: SPC reader and seeded synthetic generators.

use std::fmt;

/// One VM request, relative to the start of the VM's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Req {
    /// Arrival time, ns from the start of the replay.
    pub t_ns: u64,
    /// First sector inside the image.
    pub lba: u64,
    /// Length in sectors (>= 1).
    pub sectors: u64,
    /// Write (else read).
    pub write: bool,
}

/// SplitMix64: small, fast, deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Parameters of a synthetic workload (pinned; see Documentation/simulator.rst).
#[derive(Clone, Debug)]
pub struct SynthSpec {
    pub name: &'static str,
    /// Mean arrival rate (Poisson).
    pub iops: f64,
    /// Fraction of reads.
    pub read_ratio: f64,
    /// Request sizes in sectors with their probabilities.
    pub sizes: &'static [(u64, f64)],
    /// Probability that a request starts where the previous one ended.
    pub p_seq: f64,
    /// Probability that a (non-sequential) request goes to a hot zone.
    pub p_hot: f64,
    /// Number of hot zones and the fraction of the image each covers.
    pub hot_zones: u32,
    pub hot_zone_frac: f64,
}

/// 8 KiB 45 %, 16 KiB 40 %, 32 KiB 15 %: mean 14.8 KiB = 15.2 KB.
const WEB_SIZES: &[(u64, f64)] = &[(16, 0.45), (32, 0.40), (64, 0.15)];
/// 512 B 35 %, 2 KiB 30 %, 4 KiB 35 %: mean 2.18 KiB = 2.2 KB.
const FIN_SIZES: &[(u64, f64)] = &[(1, 0.35), (4, 0.30), (8, 0.35)];

/// The paper's Table 2 traces as synthetic specifications.
pub fn paper_specs() -> Vec<SynthSpec> {
    let web = |name, iops| SynthSpec {
        name,
        iops,
        read_ratio: 1.0,
        sizes: WEB_SIZES,
        p_seq: 0.10,
        p_hot: 0.50,
        hot_zones: 1,
        hot_zone_frac: 0.10,
    };
    vec![
        web("WebSearch1", 113.0),
        web("WebSearch2", 100.3),
        web("WebSearch3", 63.52),
        SynthSpec {
            name: "Financial2",
            iops: 125.0,
            read_ratio: 0.824,
            sizes: FIN_SIZES,
            p_seq: 0.05,
            p_hot: 0.70,
            hot_zones: 4,
            hot_zone_frac: 0.02,
        },
    ]
}

/// Infinite seeded request stream of a [`SynthSpec`] over an image.
#[derive(Clone, Debug)]
pub struct SynthGen {
    spec: SynthSpec,
    rng: Rng,
    image_sectors: u64,
    t: f64,
    last_end: u64,
    hot_starts: Vec<u64>,
    hot_len: u64,
    /// Scale of the arrival rate (multi-VM runs split the load).
    rate_scale: f64,
}

impl SynthGen {
    pub fn new(spec: SynthSpec, image_sectors: u64, seed: u64, rate_scale: f64) -> Self {
        let mut rng = Rng::new(seed);
        let hot_len = ((image_sectors as f64 * spec.hot_zone_frac) as u64).max(64);
        let hot_starts = (0..spec.hot_zones)
            .map(|_| rng.below(image_sectors.saturating_sub(hot_len).max(1)))
            .collect();
        Self {
            spec,
            rng,
            image_sectors,
            t: 0.0,
            last_end: 0,
            hot_starts,
            hot_len,
            rate_scale,
        }
    }

    #[allow(dead_code)]
    pub fn name(&self) -> &'static str {
        self.spec.name
    }
}

impl Iterator for SynthGen {
    type Item = Req;
    fn next(&mut self) -> Option<Req> {
        let rate = self.spec.iops * self.rate_scale;
        let u = self.rng.f64();
        self.t += -(1.0 - u).ln() / rate;
        let mut x = self.rng.f64();
        let mut sectors = self.spec.sizes.last().map(|s| s.0).unwrap_or(8);
        for &(s, p) in self.spec.sizes {
            if x < p {
                sectors = s;
                break;
            }
            x -= p;
        }
        let write = self.rng.f64() >= self.spec.read_ratio;
        let lba =
            if self.rng.f64() < self.spec.p_seq && self.last_end + sectors <= self.image_sectors {
                self.last_end
            } else if self.rng.f64() < self.spec.p_hot && !self.hot_starts.is_empty() {
                let z = self.rng.below(self.hot_starts.len() as u64) as usize;
                self.hot_starts[z] + self.rng.below(self.hot_len.saturating_sub(sectors).max(1))
            } else {
                self.rng.below(self.image_sectors - sectors)
            };
        // 4 KiB-align requests of 4 KiB and more, as file systems do.
        let lba = if sectors >= 8 { lba & !7 } else { lba };
        let lba = lba.min(self.image_sectors - sectors);
        self.last_end = lba + sectors;
        Some(Req {
            t_ns: (self.t * 1e9) as u64,
            lba,
            sectors,
            write,
        })
    }
}

/// Error of the SPC reader.
#[derive(Debug)]
pub struct SpcError {
    pub line: usize,
    pub what: String,
}

impl fmt::Display for SpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

/// A parsed SPC trace mapped onto one image.
#[derive(Clone, Debug)]
pub struct SpcTrace {
    pub reqs: Vec<Req>,
    /// Sectors spanned after the ASU map (max end).
    pub span_sectors: u64,
    #[allow(dead_code)]
    pub asus: usize,
}

/// Largest end sector of a request in an ASU (512 TiB): 4097 ASUs of it
/// still add up to far less than `u64::MAX`.
const MAX_SPC_SECTORS: u64 = 1 << 40;

/// Parse SPC text (`ASU,LBA,size,opcode,timestamp[,...]`, 512-byte LBAs,
/// size in bytes, timestamp in seconds). ASU k is placed after ASUs < k,
/// each ASU's extent (max LBA + size) rounded up to 1 MiB.
pub fn parse_spc(text: &str) -> Result<SpcTrace, SpcError> {
    struct Raw {
        asu: usize,
        lba: u64,
        sectors: u64,
        write: bool,
        t: f64,
    }
    let mut raw = Vec::new();
    let mut extent: Vec<u64> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let err = |what: &str| SpcError {
            line: i + 1,
            what: what.to_string(),
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 5 {
            return Err(err("fewer than 5 fields"));
        }
        let asu: usize = f[0].parse().map_err(|_| err("bad ASU"))?;
        let lba: u64 = f[1].parse().map_err(|_| err("bad LBA"))?;
        let bytes: u64 = f[2].parse().map_err(|_| err("bad size"))?;
        let write = match f[3] {
            "r" | "R" => false,
            "w" | "W" => true,
            _ => return Err(err("bad opcode")),
        };
        let t: f64 = f[4].parse().map_err(|_| err("bad timestamp"))?;
        if t.is_nan() || t < 0.0 || asu > 4096 {
            return Err(err("bad timestamp or ASU"));
        }
        let sectors = bytes.div_ceil(512).max(1);
        // No real trace comes near 2^63 sectors; an input that does is
        // refused rather than overflowing the layout below.
        let end = lba
            .checked_add(sectors)
            .filter(|&e| e <= MAX_SPC_SECTORS)
            .ok_or_else(|| err("LBA + size beyond 2^40 sectors"))?;
        if extent.len() <= asu {
            extent.resize(asu + 1, 0);
        }
        extent[asu] = extent[asu].max(end);
        raw.push(Raw {
            asu,
            lba,
            sectors,
            write,
            t,
        });
    }
    let mut base = vec![0u64; extent.len()];
    let mut off = 0u64;
    for (k, e) in extent.iter().enumerate() {
        base[k] = off;
        off += e.div_ceil(2048) * 2048;
    }
    let mut reqs: Vec<Req> = raw
        .iter()
        .map(|r| Req {
            t_ns: (r.t * 1e9).round() as u64,
            lba: base[r.asu] + r.lba,
            sectors: r.sectors,
            write: r.write,
        })
        .collect();
    reqs.sort_by_key(|r| r.t_ns); // stable: keeps file order on ties
    Ok(SpcTrace {
        reqs,
        span_sectors: off,
        asus: extent.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spc_asu_map() {
        let t = parse_spc("0,10,4096,r,0.5\n1,0,512,W,0.25\n\n0,2047,1024,w,1\n").unwrap();
        assert_eq!(t.asus, 2);
        assert_eq!(
            t.reqs[0],
            Req {
                t_ns: 250_000_000,
                lba: 4096,
                sectors: 1,
                write: true
            }
        );
        assert_eq!(t.reqs[1].lba, 10);
        assert_eq!(t.reqs[2].sectors, 2);
        assert_eq!(t.span_sectors, 4096 + 2048);
        assert!(parse_spc("0,1,2,x,0").is_err());
        assert!(parse_spc("0,1,2").is_err());
    }

    #[test]
    fn synthetic_matches_table2() {
        for spec in paper_specs() {
            let want_iops = spec.iops;
            let want_read = spec.read_ratio;
            let g = SynthGen::new(spec, 64 << 21, 42, 1.0);
            let reqs: Vec<Req> = g.take(200_000).collect();
            let secs = reqs.last().unwrap().t_ns as f64 / 1e9;
            let iops = reqs.len() as f64 / secs;
            let reads = reqs.iter().filter(|r| !r.write).count() as f64 / reqs.len() as f64;
            assert!((iops / want_iops - 1.0).abs() < 0.02, "{iops}");
            assert!((reads - want_read).abs() < 0.01, "{reads}");
            assert!(reqs.iter().all(|r| r.lba + r.sectors <= 64 << 21));
        }
    }

    #[test]
    fn synthetic_is_deterministic() {
        let s = paper_specs().remove(0);
        let a: Vec<Req> = SynthGen::new(s.clone(), 1 << 26, 7, 1.0)
            .take(1000)
            .collect();
        let b: Vec<Req> = SynthGen::new(s, 1 << 26, 7, 1.0).take(1000).collect();
        assert_eq!(a, b);
    }
}
