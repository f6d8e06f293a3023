//! Counters and timing histograms for every task the pool runs, per task kind.
//! Production users need to see the pool (how much waits, how long things
//! take, how busy it is) without paying for it: every figure is an atomic
//! bumped on the pool thread, with no allocation and no lock; readers take a
//! `snapshot()` and compute percentiles from the buckets.
//!
//! Histograms have fixed log-spaced buckets: 8 per decade (each bound is
//! 10^(1/8), about 1.33, times the previous) from 10 µs to 100 s, plus one
//! bucket for longer. A percentile read from them is the upper bound of the
//! bucket it falls in (capped by the exact maximum), so it is at most a third
//! above the true value; the maximum and the sum are exact.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

use crate::error::{Code, Result};
use crate::tasks::Task;

/// The task kinds the pool counts, in the order of `Kind as usize`.
pub const KINDS: [&str; 3] = ["resize", "metadata", "hash"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
  Resize = 0,
  Metadata = 1,
  Hash = 2,
}

impl Kind {
  pub fn of(task: &Task) -> Kind {
    match task {
      Task::Resize(_) => Kind::Resize,
      Task::Metadata => Kind::Metadata,
      Task::Hash(_) => Kind::Hash,
    }
  }
}

/// How a task ended. A task stopped by its cancel flag is `Cancelled`, not `Failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
  Completed,
  Failed,
  Cancelled,
}

impl Outcome {
  pub fn of<T>(result: &Result<T>) -> Outcome {
    match result {
      Ok(_) => Outcome::Completed,
      Err(e) if e.code == Code::Aborted => Outcome::Cancelled,
      Err(_) => Outcome::Failed,
    }
  }
}

pub const BUCKETS_PER_DECADE: u32 = 8;
/// The first bucket's upper bound, in nanoseconds (10 µs).
pub const FIRST_BOUND_NS: f64 = 10_000.0;
/// Finite bounds: 10 µs .. 100 s (7 decades, both ends included).
pub const BOUNDS: usize = 7 * BUCKETS_PER_DECADE as usize + 1;
/// Bucket counts: one per finite bound, plus one for anything longer.
pub const BUCKETS: usize = BOUNDS + 1;

/// The upper bound of bucket `i` in nanoseconds (`i < BOUNDS`).
pub fn bound_ns(i: usize) -> f64 {
  FIRST_BOUND_NS * 10f64.powf(i as f64 / f64::from(BUCKETS_PER_DECADE))
}

fn bucket(ns: u64) -> usize {
  let ns = ns as f64;
  if ns <= FIRST_BOUND_NS {
    return 0;
  }
  let i = (f64::from(BUCKETS_PER_DECADE) * (ns / FIRST_BOUND_NS).log10()).ceil() as usize;
  // Rounding may put a value equal to a bound one bucket high; step back.
  let i = if i > 0 && i < BOUNDS && ns <= bound_ns(i - 1) { i - 1 } else { i };
  i.min(BUCKETS - 1)
}

pub struct Histogram {
  counts: [AtomicU64; BUCKETS],
  sum_ns: AtomicU64,
  max_ns: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistogramSnapshot {
  pub counts: Vec<u64>,
  pub sum_ns: u64,
  pub max_ns: u64,
}

impl HistogramSnapshot {
  pub fn count(&self) -> u64 {
    self.counts.iter().sum()
  }
}

impl Default for Histogram {
  fn default() -> Self {
    Histogram::new()
  }
}

impl Histogram {
  pub const fn new() -> Self {
    Histogram { counts: [const { AtomicU64::new(0) }; BUCKETS], sum_ns: AtomicU64::new(0), max_ns: AtomicU64::new(0) }
  }
  pub fn record(&self, ns: u64) {
    self.counts[bucket(ns)].fetch_add(1, Relaxed);
    self.sum_ns.fetch_add(ns, Relaxed);
    self.max_ns.fetch_max(ns, Relaxed);
  }
  pub fn snapshot(&self) -> HistogramSnapshot {
    HistogramSnapshot {
      counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
      sum_ns: self.sum_ns.load(Relaxed),
      max_ns: self.max_ns.load(Relaxed),
    }
  }
}

struct KindMetrics {
  queued: AtomicI64,
  running: AtomicI64,
  completed: AtomicU64,
  failed: AtomicU64,
  cancelled: AtomicU64,
  run: Histogram,
  wait: Histogram,
}

impl KindMetrics {
  const fn new() -> Self {
    KindMetrics {
      queued: AtomicI64::new(0),
      running: AtomicI64::new(0),
      completed: AtomicU64::new(0),
      failed: AtomicU64::new(0),
      cancelled: AtomicU64::new(0),
      run: Histogram::new(),
      wait: Histogram::new(),
    }
  }
}

struct Metrics {
  kinds: [KindMetrics; KINDS.len()],
  /// Nanoseconds of task time of tasks that have finished.
  busy_done_ns: AtomicU64,
  /// Sum of the start times of running tasks: with the running count it
  /// gives the running tasks' time so far without tracking each one.
  running_starts_ns: AtomicU64,
  running: AtomicU64,
  /// Tasks ever started (tells the idle trimmer whether work came and went).
  started: AtomicU64,
}

static METRICS: Metrics = Metrics {
  kinds: [const { KindMetrics::new() }; KINDS.len()],
  busy_done_ns: AtomicU64::new(0),
  running_starts_ns: AtomicU64::new(0),
  running: AtomicU64::new(0),
  started: AtomicU64::new(0),
};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first call (the metrics' clock).
pub fn now_ns() -> u64 {
  EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// A task was handed to the pool; returns the time to pass to `started`.
pub fn queued(kind: Kind) -> u64 {
  METRICS.kinds[kind as usize].queued.fetch_add(1, Relaxed);
  now_ns()
}

/// A queued task starts running; returns the time to pass to `finished`.
pub fn started(kind: Kind, queued_at: u64) -> u64 {
  let now = now_ns();
  let k = &METRICS.kinds[kind as usize];
  k.queued.fetch_sub(1, Relaxed);
  k.running.fetch_add(1, Relaxed);
  k.wait.record(now.saturating_sub(queued_at));
  METRICS.running_starts_ns.fetch_add(now, Relaxed);
  METRICS.running.fetch_add(1, Relaxed);
  METRICS.started.fetch_add(1, Relaxed);
  now
}

/// A running task ended.
pub fn finished(kind: Kind, started_at: u64, outcome: Outcome) {
  let now = now_ns();
  let k = &METRICS.kinds[kind as usize];
  let ran = now.saturating_sub(started_at);
  k.run.record(ran);
  match outcome {
    Outcome::Completed => &k.completed,
    Outcome::Failed => &k.failed,
    Outcome::Cancelled => &k.cancelled,
  }
  .fetch_add(1, Relaxed);
  k.running.fetch_sub(1, Relaxed);
  METRICS.busy_done_ns.fetch_add(ran, Relaxed);
  METRICS.running_starts_ns.fetch_sub(started_at, Relaxed);
  if METRICS.running.fetch_sub(1, Relaxed) == 1 {
    crate::pool::went_idle();
  }
}

/// Tasks running now, over all kinds.
pub fn running() -> u64 {
  METRICS.running.load(Relaxed)
}

/// Tasks handed to the pool and not started yet, over all kinds.
pub fn queued_total() -> u64 {
  METRICS.kinds.iter().map(|k| k.queued.load(Relaxed)).sum::<i64>().max(0) as u64
}

/// Tasks started since the process began.
pub fn started_total() -> u64 {
  METRICS.started.load(Relaxed)
}

/// A task that ran on the calling thread (no queue): counted with no wait.
pub fn run_now<T>(kind: Kind, f: impl FnOnce() -> Result<T>) -> Result<T> {
  let started_at = started(kind, queued(kind));
  let result = f();
  finished(kind, started_at, Outcome::of(&result));
  result
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KindSnapshot {
  pub queued: u64,
  pub running: u64,
  pub completed: u64,
  pub failed: u64,
  pub cancelled: u64,
  pub run: HistogramSnapshot,
  pub wait: HistogramSnapshot,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
  /// When it was taken, on the metrics' clock (ns).
  pub at_ns: u64,
  /// Task time of all tasks so far, running ones included (ns).
  pub busy_ns: u64,
  /// In the order of `KINDS`.
  pub kinds: Vec<KindSnapshot>,
}

pub fn snapshot() -> Snapshot {
  let at_ns = now_ns();
  // Read the running side first: a task ending between the reads is then
  // counted at most once too little, never twice.
  let running = METRICS.running.load(Relaxed);
  let starts = METRICS.running_starts_ns.load(Relaxed);
  let done = METRICS.busy_done_ns.load(Relaxed);
  let busy_ns = done.saturating_add((running.saturating_mul(at_ns)).saturating_sub(starts));
  let kinds = METRICS
    .kinds
    .iter()
    .map(|k| KindSnapshot {
      queued: k.queued.load(Relaxed).max(0) as u64,
      running: k.running.load(Relaxed).max(0) as u64,
      completed: k.completed.load(Relaxed),
      failed: k.failed.load(Relaxed),
      cancelled: k.cancelled.load(Relaxed),
      run: k.run.snapshot(),
      wait: k.wait.snapshot(),
    })
    .collect();
  Snapshot { at_ns, busy_ns, kinds }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn buckets_are_log_spaced_and_bounds_inclusive() {
    assert_eq!(bucket(0), 0);
    assert_eq!(bucket(10_000), 0);
    assert_eq!(bucket(10_001), 1);
    assert_eq!(bucket(100_000), 8);
    assert_eq!(bucket(100_001), 9);
    assert_eq!(bucket(1_000_000_000), 5 * 8);
    assert_eq!(bucket(100_000_000_000), BOUNDS - 1);
    assert_eq!(bucket(100_000_000_001), BUCKETS - 1);
    assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    for i in 1..BOUNDS {
      let b = bound_ns(i);
      assert_eq!(bucket(b.floor() as u64), i, "bound {i}");
      assert_eq!(bucket(b.ceil() as u64 + 1), i + 1, "past bound {i}");
    }
  }

  #[test]
  fn histogram_keeps_exact_max_and_sum() {
    let h = Histogram::new();
    for ns in [5_000, 20_000, 20_000, 3_000_000] {
      h.record(ns);
    }
    let s = h.snapshot();
    assert_eq!(s.count(), 4);
    assert_eq!(s.sum_ns, 3_045_000);
    assert_eq!(s.max_ns, 3_000_000);
    assert_eq!(s.counts[0], 1);
    assert_eq!(s.counts[bucket(20_000)], 2);
  }

  #[test]
  fn outcomes_are_told_apart() {
    assert_eq!(Outcome::of(&Ok::<_, crate::Error>(())), Outcome::Completed);
    assert_eq!(Outcome::of::<()>(&Err(crate::Error::aborted())), Outcome::Cancelled);
    assert_eq!(Outcome::of::<()>(&Err(crate::Error::invalid("x"))), Outcome::Failed);
  }
}
