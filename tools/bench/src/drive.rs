// SPDX-License-Identifier: GPL-2.0

//! The emulated drive's request scheduling: one actuator, a queue of
//! requests, and the shared disk model deciding how long each takes.
//!
//! Time is the emulator's clock in ns. A request starts when the actuator is
//! free (the *planned* end of the previous one, not the moment its timer
//! happened to fire) or when it arrives, whichever is later, so timer slack
//! of the host does not accumulate into the model.

use iofollow_hddmodel::{Disk, Service};
use std::collections::VecDeque;

/// How the drive picks the next queued request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queueing {
    /// Arrival order (no NCQ).
    Fifo,
    /// Shortest estimated access time among the first `NCQ_DEPTH` queued
    /// requests, as a SATA drive's NCQ does; a request that waited
    /// `NCQ_AGE_LIMIT_NS` is served first.
    Ncq,
}

/// SATA NCQ queue depth.
pub const NCQ_DEPTH: usize = 32;
/// Starvation limit of the NCQ reordering.
pub const NCQ_AGE_LIMIT_NS: u64 = 500_000_000;

/// One request as the drive sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Opaque id (the ublk tag).
    pub id: u16,
    pub arrival_ns: u64,
    pub lba: u64,
    pub sectors: u64,
    pub write: bool,
}

/// A request the actuator has started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Started {
    pub req: Request,
    pub start_ns: u64,
    pub done_ns: u64,
    pub service: Service,
}

/// The drive: model, queue and actuator.
pub struct Drive {
    disk: Disk,
    queueing: Queueing,
    queue: VecDeque<Request>,
    /// Planned end of the request in service (or of the last one).
    free_at_ns: u64,
    busy: bool,
}

impl Drive {
    pub fn new(disk: Disk, queueing: Queueing) -> Self {
        Self {
            disk,
            queueing,
            queue: VecDeque::new(),
            free_at_ns: 0,
            busy: false,
        }
    }

    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn is_busy(&self) -> bool {
        self.busy
    }

    pub fn submit(&mut self, req: Request) {
        self.queue.push_back(req);
    }

    /// The request in service has ended.
    pub fn complete(&mut self) {
        self.busy = false;
    }

    /// Start the next request if the actuator is free.
    pub fn start_next(&mut self) -> Option<Started> {
        if self.busy || self.queue.is_empty() {
            return None;
        }
        let first_arrival = self.queue.iter().map(|r| r.arrival_ns).min()?;
        let start_ns = self.free_at_ns.max(first_arrival);
        let pick = match self.queueing {
            Queueing::Fifo => 0,
            Queueing::Ncq => self.ncq_pick(start_ns),
        };
        let req = self.queue.remove(pick)?;
        let service = self.disk.access(start_ns, req.lba, req.sectors, req.write);
        let done_ns = start_ns + service.total_ns();
        self.free_at_ns = done_ns;
        self.busy = true;
        Some(Started {
            req,
            start_ns,
            done_ns,
            service,
        })
    }

    /// Index of the queued request with the shortest access time at
    /// `now_ns`, among those that had arrived by then.
    fn ncq_pick(&self, now_ns: u64) -> usize {
        let mut best = (u64::MAX, 0usize);
        for (i, r) in self.queue.iter().enumerate().take(NCQ_DEPTH) {
            if r.arrival_ns > now_ns {
                continue;
            }
            if now_ns - r.arrival_ns >= NCQ_AGE_LIMIT_NS {
                return i;
            }
            let s = self.disk.estimate(now_ns, r.lba, r.sectors, r.write);
            if s.positioning_ns() < best.0 {
                best = (s.positioning_ns(), i);
            }
        }
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iofollow_hddmodel::DiskParams;

    fn req(id: u16, arrival_ns: u64, lba: u64) -> Request {
        Request {
            id,
            arrival_ns,
            lba,
            sectors: 8,
            write: false,
        }
    }

    #[test]
    fn fifo_serves_in_arrival_order_back_to_back() {
        let mut d = Drive::new(Disk::new(DiskParams::ST31000524AS), Queueing::Fifo);
        d.submit(req(1, 0, 1 << 30));
        d.submit(req(2, 10, 0));
        let a = d.start_next().expect("first");
        assert_eq!(a.req.id, 1);
        assert!(d.start_next().is_none(), "one actuator");
        d.complete();
        let b = d.start_next().expect("second");
        assert_eq!(b.req.id, 2);
        assert_eq!(b.start_ns, a.done_ns, "starts at the planned end");
    }

    #[test]
    fn idle_drive_starts_at_arrival() {
        let mut d = Drive::new(Disk::new(DiskParams::ST31000524AS), Queueing::Fifo);
        d.submit(req(1, 0, 0));
        let a = d.start_next().expect("first");
        d.complete();
        d.submit(req(2, a.done_ns + 5_000_000, 8));
        let b = d.start_next().expect("second");
        assert_eq!(b.start_ns, a.done_ns + 5_000_000);
    }

    #[test]
    fn ncq_prefers_the_nearby_request() {
        let mut d = Drive::new(Disk::new(DiskParams::ST31000524AS), Queueing::Ncq);
        d.submit(req(1, 0, 0));
        let a = d.start_next().expect("first");
        // Far request queued first, near one second.
        d.submit(req(2, 1, 1_900_000_000));
        d.submit(req(3, 2, 8));
        d.complete();
        let b = d.start_next().expect("second");
        assert_eq!(b.req.id, 3, "NCQ picks the short access");
        assert!(b.start_ns >= a.done_ns);
        let mut f = Drive::new(Disk::new(DiskParams::ST31000524AS), Queueing::Fifo);
        f.submit(req(2, 1, 1_900_000_000));
        f.submit(req(3, 2, 8));
        assert_eq!(f.start_next().expect("fifo").req.id, 2);
    }

    #[test]
    fn ncq_does_not_starve() {
        let mut d = Drive::new(Disk::new(DiskParams::ST31000524AS), Queueing::Ncq);
        d.submit(req(1, 0, 1_900_000_000));
        d.submit(req(2, NCQ_AGE_LIMIT_NS, 0));
        // At the time the drive is free, request 1 is too old to pass over.
        d.free_at_ns = NCQ_AGE_LIMIT_NS;
        assert_eq!(d.start_next().expect("old").req.id, 1);
    }
}
