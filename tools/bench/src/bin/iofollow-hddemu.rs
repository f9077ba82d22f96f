// SPDX-License-Identifier: GPL-2.0

//! `iofollow-hddemu`: an emulated 7200 rpm hard disk for the benchmark, as
//! a ublk block device whose every request takes the time the shared disk
//! model (`tools/hddmodel`, the simulator's) says it takes.
//!
//! ```text
//! iofollow-hddemu [--queue fifo|ncq] [--data] [--size-gib N] [--log FILE]
//!                 [--ready FILE]
//! ```
//!
//! It runs in the foreground until SIGTERM or SIGINT, then removes its
//! device. `--ready FILE` receives the device path once the disk serves IO.
//! `--log FILE` receives one line per request:
//! `arrival_ns start_ns done_ns lba sectors R|W seek_ns rot_ns xfer_ns distance
//! completed_ns` (the clock starts when the device does; `done_ns` is the
//! model's end, `completed_ns` when the host's timer actually completed it).
//!
//! One hardware queue, one actuator: requests queue in the emulator, the
//! model picks the next (FIFO or NCQ-like), and an io_uring timeout
//! completes it when the model's service time has passed.

use io_uring::{opcode, types};
use iofollow_bench::drive::{Drive, Queueing, Request, Started};
use iofollow_bench::store::Store;
use iofollow_hddmodel::{Disk, DiskParams};
use libublk::ctrl::UblkCtrlBuilder;
use libublk::io::{BufDescList, UblkDev, UblkIOCtx, UblkQueue};
use libublk::{sys, BufDesc, UblkFlags, UblkIORes};
use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request: 1 MiB, so a 1 MiB chunk is one disk access.
const MAX_IO_BYTES: u32 = 1 << 20;
/// Requests the host may queue: the NCQ depth.
const DEPTH: u16 = 32;

struct Options {
    queueing: Queueing,
    data: bool,
    size_sectors: u64,
    log: Option<String>,
    ready: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: iofollow-hddemu [--queue fifo|ncq] [--data] [--size-gib N] [--log FILE] [--ready FILE]"
    );
    std::process::exit(2)
}

fn parse_options() -> Options {
    let mut o = Options {
        queueing: Queueing::Fifo,
        data: false,
        size_sectors: DiskParams::ST31000524AS.capacity_sectors,
        log: None,
        ready: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--queue" => {
                o.queueing = match args.next().as_deref() {
                    Some("fifo") => Queueing::Fifo,
                    Some("ncq") => Queueing::Ncq,
                    _ => usage(),
                }
            }
            "--data" => o.data = true,
            "--size-gib" => {
                let gib: u64 = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage());
                o.size_sectors = (gib << 21).min(o.size_sectors);
            }
            "--log" => o.log = Some(args.next().unwrap_or_else(|| usage())),
            "--ready" => o.ready = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    o
}

/// Everything the queue thread owns.
struct Server {
    drive: Drive,
    store: Store,
    bufs: Vec<libublk::helpers::IoBuf<u8>>,
    /// Whether a write's data sits in the tag's buffer.
    written: Vec<bool>,
    /// Timeouts must stay in place until the ring has read them.
    timeouts: Vec<types::Timespec>,
    clock: Instant,
    /// The request the actuator serves (logged when it completes).
    in_service: Option<Started>,
    log: Option<std::io::BufWriter<std::fs::File>>,
}

impl Server {
    fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// A command from the block layer.
    fn new_command(&mut self, q: &UblkQueue, tag: u16) {
        let iod = q.get_iod(tag);
        let (lba, sectors, op) = (
            iod.start_sector,
            u64::from(iod.nr_sectors),
            iod.op_flags & 0xff,
        );
        let bytes = (sectors << 9) as usize;
        match op {
            sys::UBLK_IO_OP_READ | sys::UBLK_IO_OP_WRITE => {
                let write = op == sys::UBLK_IO_OP_WRITE;
                if write {
                    let buf = &self.bufs[tag as usize];
                    self.store.write(lba, &buf[..bytes.min(buf.len())]);
                    self.written[tag as usize] = true;
                }
                let arrival_ns = self.now_ns();
                self.drive.submit(Request {
                    id: tag,
                    arrival_ns,
                    lba,
                    sectors,
                    write,
                });
                self.start_next(q);
            }
            // No volatile cache: a flush has nothing to do.
            sys::UBLK_IO_OP_FLUSH => self.complete(q, tag, 0),
            sys::UBLK_IO_OP_DISCARD | sys::UBLK_IO_OP_WRITE_ZEROES => {
                self.store.zero(lba, sectors);
                self.complete(q, tag, 0);
            }
            _ => self.complete(q, tag, -libc::EINVAL),
        }
    }

    /// The model's service time of the request in service has passed.
    fn timer_expired(&mut self, q: &UblkQueue, tag: u16) {
        let iod = q.get_iod(tag);
        let (lba, bytes) = (iod.start_sector, (iod.nr_sectors as usize) << 9);
        // A data-less read needs a fill only if a write left its data in
        // this tag's buffer.
        let fill = !matches!(self.store, Store::DataLess) || self.written[tag as usize];
        if iod.op_flags & 0xff == sys::UBLK_IO_OP_READ && fill {
            let buf = &mut self.bufs[tag as usize];
            let n = bytes.min(buf.len());
            self.store.read(lba, &mut buf[..n]);
            self.written[tag as usize] = false;
        }
        self.drive.complete();
        self.complete(q, tag, bytes as i32);
        if let Some(s) = self.in_service.take() {
            let fired_ns = self.now_ns();
            self.log_request(&s, fired_ns);
        }
        self.start_next(q);
    }

    fn start_next(&mut self, q: &UblkQueue) {
        let Some(s) = self.drive.start_next() else {
            return;
        };
        self.in_service = Some(s);
        let wait = s.done_ns.saturating_sub(self.now_ns());
        let tag = s.req.id;
        self.timeouts[tag as usize] = types::Timespec::from(Duration::from_nanos(wait));
        let sqe = opcode::Timeout::new(&self.timeouts[tag as usize])
            .build()
            .user_data(UblkIOCtx::build_user_data(tag, 0, 0, true));
        if let Err(e) = q.ublk_submit_sqe_sync(sqe) {
            eprintln!("hddemu: cannot arm the timer of tag {tag}: {e:?}");
            self.drive.complete();
            self.complete(q, tag, -libc::EIO);
        }
    }

    fn complete(&self, q: &UblkQueue, tag: u16, res: i32) {
        let buf = BufDesc::Slice(self.bufs[tag as usize].as_slice());
        if let Err(e) = q.complete_io_cmd_unified(tag, buf, Ok(UblkIORes::Result(res))) {
            eprintln!("hddemu: cannot complete tag {tag}: {e:?}");
        }
    }

    fn log_request(&mut self, s: &Started, completed_ns: u64) {
        let Some(log) = self.log.as_mut() else { return };
        let r = &s.req;
        let _ = writeln!(
            log,
            "{} {} {} {} {} {} {} {} {} {} {}",
            r.arrival_ns,
            s.start_ns,
            s.done_ns,
            r.lba,
            r.sectors,
            if r.write { 'W' } else { 'R' },
            s.service.seek_ns,
            s.service.rot_ns,
            s.service.xfer_ns,
            s.service.distance,
            completed_ns
        );
    }
}

fn serve_queue(qid: u16, dev: &UblkDev, o: &Options) {
    let mut bufs = dev.alloc_queue_io_bufs();
    for b in bufs.iter_mut() {
        b.fill(iofollow_bench::store::DATALESS_BYTE);
    }
    let queue = match UblkQueue::new(qid, dev)
        .and_then(|q| q.submit_fetch_commands_unified(BufDescList::Slices(Some(&bufs))))
    {
        Ok(q) => q,
        Err(e) => {
            eprintln!("hddemu: cannot start queue {qid}: {e:?}");
            return;
        }
    };
    let log = o.log.as_ref().and_then(|p| match std::fs::File::create(p) {
        Ok(f) => Some(std::io::BufWriter::with_capacity(1 << 20, f)),
        Err(e) => {
            eprintln!("hddemu: cannot create {p}: {e}");
            None
        }
    });
    let server = RefCell::new(Server {
        drive: Drive::new(Disk::new(DiskParams::ST31000524AS), o.queueing),
        store: if o.data {
            Store::Sparse(Default::default())
        } else {
            Store::DataLess
        },
        written: vec![false; bufs.len()],
        bufs,
        timeouts: vec![types::Timespec::new(); DEPTH as usize],
        clock: Instant::now(),
        in_service: None,
        log,
    });
    queue.wait_and_handle_io(|q, tag, io| {
        let mut s = server.borrow_mut();
        if io.is_tgt_io() {
            s.timer_expired(q, tag);
        } else {
            s.new_command(q, tag);
        }
    });
    if let Some(mut log) = server.into_inner().log {
        let _ = log.flush();
    }
}

fn main() {
    let o = Arc::new(parse_options());
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("hddemu: cannot handle signal {sig}: {e}");
            std::process::exit(1);
        }
    }
    let ctrl = match UblkCtrlBuilder::default()
        .name("iofollow-hddemu")
        .id(-1)
        .nr_queues(1)
        .depth(DEPTH)
        .io_buf_bytes(MAX_IO_BYTES)
        .dev_flags(UblkFlags::UBLK_DEV_F_ADD_DEV)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hddemu: cannot add a ublk device (is ublk_drv loaded?): {e:?}");
            std::process::exit(1);
        }
    };
    let size_bytes = o.size_sectors << 9;
    let tgt_init = move |dev: &mut UblkDev| {
        dev.set_default_params(size_bytes);
        // A spinning disk without a volatile cache: the block layer sees a
        // rotational device and sends no flushes it would have to model.
        dev.tgt.params.basic.attrs = sys::UBLK_ATTR_ROTATIONAL;
        dev.tgt.params.basic.physical_bs_shift = 9;
        dev.tgt.params.basic.io_min_shift = 9;
        Ok(())
    };
    let qo = Arc::clone(&o);
    let run = ctrl.run_target(
        tgt_init,
        move |qid, dev: &_| serve_queue(qid, dev, &qo),
        move |ctrl| {
            let path = format!("/dev/ublkb{}", ctrl.dev_info().dev_id);
            eprintln!(
                "hddemu: {path} serves ({:?}, {})",
                o.queueing,
                if o.data { "data" } else { "data-less" }
            );
            if let Some(ready) = &o.ready {
                if let Err(e) = std::fs::write(ready, format!("{path}\n")) {
                    eprintln!("hddemu: cannot write {ready}: {e}");
                }
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Err(e) = ctrl.kill_dev() {
                eprintln!("hddemu: cannot stop the device: {e:?}");
            }
        },
    );
    if let Err(e) = run {
        eprintln!("hddemu: {e:?}");
        std::process::exit(1);
    }
}
