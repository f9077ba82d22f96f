// SPDX-License-Identifier: GPL-2.0

//! What the operator sees: an indicatif progress bar on stderr (one line per
//! second when stderr is not a terminal, so logs keep it), and with `--json`
//! JSON lines on stdout for a program as well.

use crate::control::Observer;
use crate::status::{json_event, json_line, json_state_event, State, Status};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the status is read.
pub const POLL: Duration = Duration::from_millis(250);
/// How often a log (stderr not a terminal, or `--json`) gets a progress line.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// A terminal that is a log: every draw is a line of its own.
#[derive(Debug)]
struct LogLines;

impl TermLike for LogLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        // Clearing a line draws blanks: a log wants none of them.
        if s.trim().is_empty() {
            return Ok(());
        }
        writeln!(std::io::stderr(), "{s}")
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write_line(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A row of a [`Group`]: the volume's name (or "total") before the bar.
fn row_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>20} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Several migrations at once (a whole PV): a row per volume and a total
/// row with rate and ETA, in one display.
pub struct Group {
    multi: MultiProgress,
    total: ProgressBar,
    terminal: bool,
    /// Bytes done and in all, by device.
    sizes: Mutex<Sizes>,
}

#[derive(Default)]
struct Sizes {
    by_device: BTreeMap<String, (u64, u64)>,
    /// When a log last got a total line.
    last_line: Option<Instant>,
}

impl Group {
    /// A display for `count` migrations.
    pub fn new(count: usize) -> Arc<Self> {
        let terminal = std::io::stderr().is_terminal();
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            // A log gets its lines from each volume, and a total a second.
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let total = multi.add(ProgressBar::new(0));
        total.set_style(row_style());
        total.set_prefix("total");
        total.set_message(format!("{count} volumes"));
        Arc::new(Self {
            multi,
            total,
            terminal,
            sizes: Mutex::new(Sizes::default()),
        })
    }

    /// A row for one volume, above the total.
    fn row(&self, total: u64) -> ProgressBar {
        if self.terminal {
            self.multi
                .insert_before(&self.total, ProgressBar::new(total))
        } else {
            ProgressBar::with_draw_target(
                Some(total),
                ProgressDrawTarget::term_like(Box::new(LogLines)),
            )
        }
    }

    fn update(&self, device: &str, done: u64, total: u64) {
        let Ok(mut sizes) = self.sizes.lock() else {
            return;
        };
        sizes.by_device.insert(device.to_string(), (done, total));
        let (done, total) = sizes
            .by_device
            .values()
            .fold((0u64, 0u64), |(d, t), (dd, tt)| {
                (d.saturating_add(*dd), t.saturating_add(*tt))
            });
        self.total.set_length(total);
        self.total.set_position(done);
        if !self.terminal && sizes.last_line.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            sizes.last_line = Some(Instant::now());
            eprintln!(
                "total: {} of {} MiB in {} volumes",
                done >> 20,
                total >> 20,
                sizes.by_device.len()
            );
        }
    }
}

/// Progress as a bar on stderr, and as JSON lines on stdout with `--json`.
pub struct Ui {
    /// The display this migration is a row of, when it is one of several.
    group: Option<Arc<Group>>,
    device: String,
    block_bytes: u64,
    bar: Option<ProgressBar>,
    json: bool,
    started: Instant,
    first_migrated: Option<u64>,
    /// Whether each sample is drawn (a terminal), or one a second (a log).
    terminal: bool,
    /// When a log last got a line.
    last_line: Option<Instant>,
    /// The state of the last sample: a change gets an event and a log line.
    last_state: Option<State>,
}

impl Ui {
    /// A UI for migrating `device`, whose status counts `block_bytes` blocks.
    pub fn new(device: &str, block_bytes: u64, json: bool) -> Self {
        Self {
            group: None,
            device: device.to_string(),
            block_bytes,
            bar: None,
            json,
            started: Instant::now(),
            first_migrated: None,
            terminal: std::io::stderr().is_terminal(),
            last_line: None,
            last_state: None,
        }
    }

    /// A UI that is one row of `group`.
    pub fn in_group(device: &str, block_bytes: u64, json: bool, group: Arc<Group>) -> Self {
        Self {
            group: Some(group),
            ..Self::new(device, block_bytes, json)
        }
    }

    fn bar(&mut self, total: u64) -> &ProgressBar {
        if let (None, Some(group)) = (&self.bar, &self.group) {
            let bar = group.row(total);
            bar.set_style(row_style());
            bar.set_prefix(self.device.clone());
            self.bar = Some(bar);
        }
        self.bar.get_or_insert_with(|| {
            let target = if self.terminal {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::term_like(Box::new(LogLines))
            };
            let bar = ProgressBar::with_draw_target(Some(total), target);
            let style = ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        })
    }

    /// Bytes per second since the first sample, when any moved.
    fn rate(&mut self, migrated: u64) -> Option<u64> {
        let first = *self.first_migrated.get_or_insert(migrated);
        let secs = self.started.elapsed().as_secs();
        (secs > 0).then(|| {
            migrated
                .saturating_sub(first)
                .saturating_mul(self.block_bytes)
                / secs
        })
    }

    /// A line in words on stderr, above the bar when there is one.
    fn say(&self, what: &str) {
        match &self.bar {
            Some(bar) => bar.println(what),
            None => eprintln!("{what}"),
        }
    }

    /// The final line: `event` for scripts, `what` in words.
    pub fn done(&mut self, event: &str, what: &str) {
        if self.json {
            println!("{}", json_event(&self.device, event, Some(what)));
        }
        if let Some(bar) = &self.bar {
            bar.finish_with_message(what.to_string());
        } else {
            eprintln!("{what}");
        }
    }
}

impl Observer for Ui {
    fn progress(&mut self, st: &Status) {
        let rate = self.rate(st.migrated_blocks);
        let changed = self.last_state != Some(st.state);
        if changed {
            // Every change of state, for callers that act on one (and the log).
            if self.json {
                println!("{}", json_state_event(&self.device, st, self.last_state));
            }
            if let Some(before) = self.last_state {
                self.say(&format!("{}: {before} -> {}", self.device, st.state));
            }
            self.last_state = Some(st.state);
        }
        if !self.terminal {
            // A log gets a line a second, and one at every change of state.
            let due = changed || self.last_line.is_none_or(|at| at.elapsed() >= LOG_EVERY);
            if !due {
                return;
            }
            self.last_line = Some(Instant::now());
        }
        if self.json {
            println!("{}", json_line(&self.device, st, self.block_bytes, rate));
        }
        let (total, done) = (
            st.total_blocks.saturating_mul(self.block_bytes),
            st.migrated_blocks.saturating_mul(self.block_bytes),
        );
        let msg = format!("{} head {}", st.state, st.head_sector);
        let bar = self.bar(total);
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(msg);
        if let Some(group) = &self.group {
            group.update(&self.device, done, total);
        }
    }

    fn synced(&mut self, st: &Status) {
        if self.json {
            // The sample as read while suspended, with its own event name.
            let line = json_line(&self.device, st, self.block_bytes, None);
            println!("{{\"event\":\"synced\",{}", line.trim_start_matches('{'));
        }
    }

    fn note(&mut self, what: &str) {
        if self.json {
            println!("{}", json_event(&self.device, "note", Some(what)));
        }
        self.say(what);
    }

    fn tick(&mut self) {
        std::thread::sleep(POLL);
    }
}
