//! The memory budget: admission control in front of the pool. Sixteen threads
//! each decoding a 4000x4000 PNG hold over a gigabyte at once; the budget
//! bounds the sum of the running tasks' working memory instead.
//!
//! Each task's cost is estimated from its header before anything is
//! allocated (`estimate`). A task starts when the running tasks' estimates
//! plus its own fit in the budget; otherwise it waits here, not on a pool
//! thread, so small tasks keep flowing past a waiting large one. A task
//! larger than the whole budget starts alone once nothing reserved is
//! running, so nothing waits forever. Tasks with no estimate (hashes,
//! metadata, inputs that are not images) never wait.
//!
//! So that a stream of small tasks cannot starve a large one, the oldest
//! waiting task may be passed at most `BYPASS_PER_THREAD` times the pool's
//! threads; after that nothing new starts until it fits.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::pool;
use crate::tasks::image::{self, decode, header, Format};
use crate::tasks::Task;

/// How many times per pool thread the oldest waiting task may be passed.
pub const BYPASS_PER_THREAD: usize = 4;

pub type Job = Box<dyn FnOnce(Permit) + Send + 'static>;

struct Waiter {
  cost: u64,
  job: Job,
}

struct Gate {
  /// Bytes; 0 means no budget.
  budget: u64,
  reserved: u64,
  holders: usize,
  waiting: VecDeque<Waiter>,
  /// How many tasks started while the oldest waiting one waited.
  bypassed: usize,
  /// The highest `reserved` seen while two or more tasks held reservations.
  peak_shared: u64,
}

static GATE: OnceLock<Mutex<Gate>> = OnceLock::new();

/// The default budget: a quarter of the memory this process may use (the
/// smaller of physical memory and a cgroup v2 limit); `RUSQUE_MEMORY_BUDGET`
/// (bytes, 0 for none) overrides it. 0 when the memory size is unknown.
pub fn default_budget() -> u64 {
  if let Some(v) = std::env::var("RUSQUE_MEMORY_BUDGET").ok().and_then(|v| v.trim().parse::<u64>().ok()) {
    return v;
  }
  usable_memory().map_or(0, |m| m / 4)
}

fn usable_memory() -> Option<u64> {
  #[cfg(unix)]
  let physical = {
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (pages > 0 && size > 0).then(|| pages as u64 * size as u64)
  };
  #[cfg(not(unix))]
  let physical: Option<u64> = None;
  let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| s.trim().parse::<u64>().ok());
  match (physical, cgroup) {
    (Some(p), Some(c)) => Some(p.min(c)),
    (p, c) => p.or(c),
  }
}

fn gate() -> MutexGuard<'static, Gate> {
  GATE
    .get_or_init(|| {
      Mutex::new(Gate { budget: default_budget(), reserved: 0, holders: 0, waiting: VecDeque::new(), bypassed: 0, peak_shared: 0 })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

impl Gate {
  fn fits(&self, cost: u64) -> bool {
    self.holders == 0 || self.reserved.saturating_add(cost) <= self.budget
  }
  fn reserve(&mut self, cost: u64) {
    self.reserved = self.reserved.saturating_add(cost);
    self.holders += 1;
    if self.holders >= 2 {
      self.peak_shared = self.peak_shared.max(self.reserved);
    }
  }
  fn bypass_limit() -> usize {
    pool::config().threads * BYPASS_PER_THREAD
  }
  /// Starts every waiting task that fits now, oldest first; returns them.
  fn admit_waiting(&mut self) -> Vec<Waiter> {
    let mut admitted = Vec::new();
    let limit = Gate::bypass_limit();
    let mut i = 0;
    while i < self.waiting.len() {
      let cost = self.waiting[i].cost;
      if i > 0 && self.bypassed >= limit {
        break;
      }
      if self.fits(cost) {
        self.reserve(cost);
        if i == 0 {
          self.bypassed = 0;
        } else {
          self.bypassed += 1;
        }
        if let Some(w) = self.waiting.remove(i) {
          admitted.push(w);
        }
      } else {
        i += 1;
      }
    }
    admitted
  }
}

/// A task's reservation: given back when dropped (the job drops it once its
/// working memory is freed, or it drops with the job, even by a panic).
pub struct Permit(u64);

impl Drop for Permit {
  fn drop(&mut self) {
    if self.0 == 0 {
      return;
    }
    let admitted = {
      let mut g = gate();
      g.reserved = g.reserved.saturating_sub(self.0);
      g.holders = g.holders.saturating_sub(1);
      g.admit_waiting()
    };
    for w in admitted {
      start(w);
    }
  }
}

fn start(w: Waiter) {
  let Waiter { cost, job } = w;
  pool::spawn(move || job(Permit(cost)));
}

/// Reserves `cost` now if it fits (returning the permit), or queues the job
/// `park()` makes, which gets its permit once the budget has room (on a pool
/// thread). One decision under one lock, so a release cannot slip between the
/// check and the queueing. A cost of 0, or no budget, always fits.
pub fn reserve_or_park(cost: u64, park: impl FnOnce() -> Job) -> Option<Permit> {
  if cost == 0 {
    return Some(Permit(0));
  }
  let mut g = gate();
  if g.budget == 0 {
    return Some(Permit(0));
  }
  let starved = !g.waiting.is_empty() && g.bypassed >= Gate::bypass_limit();
  if !starved && g.fits(cost) {
    g.reserve(cost);
    if !g.waiting.is_empty() {
      g.bypassed += 1;
    }
    Some(Permit(cost))
  } else {
    g.waiting.push_back(Waiter { cost, job: park() });
    None
  }
}

/// Runs `job` on the pool now if `cost` fits in the budget, else once it
/// does. The job gets its `Permit` and drops it when its memory is freed.
pub fn admit(cost: u64, job: impl FnOnce(Permit) + Send + 'static) {
  let mut job = Some(job);
  let park = || -> Job {
    let job = job.take();
    Box::new(move |permit| {
      if let Some(job) = job {
        job(permit)
      }
    })
  };
  if let Some(permit) = reserve_or_park(cost, park) {
    if let Some(job) = job.take() {
      pool::spawn(move || job(permit));
    }
  }
}

/// Sets the budget in bytes (0: none). Waiting tasks that now fit start.
pub fn set_budget(bytes: u64) {
  let admitted = {
    let mut g = gate();
    g.budget = bytes;
    if bytes == 0 {
      // No budget: everything waiting starts, unreserved.
      let all: Vec<Waiter> = g.waiting.drain(..).collect();
      g.bypassed = 0;
      drop(g);
      for w in all {
        let job = w.job;
        pool::spawn(move || job(Permit(0)));
      }
      return;
    }
    g.admit_waiting()
  };
  for w in admitted {
    start(w);
  }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetSnapshot {
  pub budget: u64,
  /// Estimated bytes of the tasks running now.
  pub reserved: u64,
  /// Tasks waiting for room in the budget.
  pub waiting: u64,
  /// The highest `reserved` while two or more tasks ran together.
  pub peak_shared: u64,
}

/// The budget in bytes (0: none).
pub fn limit() -> u64 {
  gate().budget
}

pub fn snapshot() -> BudgetSnapshot {
  let g = gate();
  BudgetSnapshot { budget: g.budget, reserved: g.reserved, waiting: g.waiting.len() as u64, peak_shared: g.peak_shared }
}

/// The working memory `task` will need on `input`, in bytes, estimated from
/// the header alone; 0 when there is nothing to hold back (hash, metadata, an
/// input that will fail at its header).
pub fn estimate(task: &Task, input: &[u8]) -> u64 {
  match task {
    Task::Resize(o) => resize_cost(input, o).unwrap_or(0),
    Task::Metadata | Task::Hash(_) => 0,
  }
}

/// Decoded pixels (after a JPEG's DCT shrink), a rotated copy when the EXIF
/// orientation turns it, the resampler's intermediate (output width by
/// decoded height) and its output, and the canvas and encoded output.
fn resize_cost(data: &[u8], o: &image::ResizeOptions) -> Option<u64> {
  let h = header::read(data).ok()?;
  // A plan the limits refuse fails before any allocation: nothing to reserve.
  let p = image::prepare(&h, o).ok()?;
  let (dw, dh) = if h.format == Format::Jpeg {
    let num = u64::from(decode::jpeg_scale_numerator(h.width, h.height, Some(p.need)));
    ((u64::from(h.width) * num).div_ceil(8), (u64::from(h.height) * num).div_ceil(8))
  } else {
    (u64::from(h.width), u64::from(h.height))
  };
  let ch = if h.has_alpha { 4 } else { 3 };
  let decoded = dw * dh * ch;
  let rotated = if p.orientation > 1 { decoded } else { 0 };
  // Steps before the resize: the extracted region and the rotated canvas
  // (scaled as the decode is), each a new buffer.
  let steps = if o.steps.has_geometry() {
    let scale = (dw * dh) as f64 / (f64::from(p.upright.0) * f64::from(p.upright.1)).max(1.0);
    ((f64::from(p.source.0) * f64::from(p.source.1) * scale) as u64 + dw * dh) * 4
  } else {
    0
  };
  let (sw, sh) = (u64::from(p.plan.scaled.0), u64::from(p.plan.scaled.1));
  let (cw, chh) = (u64::from(p.plan.canvas.0), u64::from(p.plan.canvas.1));
  let intermediate = sw * dw.max(dh) * ch;
  // Filters (blur, sharpen) hold float copies of the output.
  let filters = if o.steps.blur.is_some() || o.steps.sharpen.is_some() { 3 * cw * chh * 4 * 4 } else { 0 };
  let output = sw * sh * ch + 2 * cw * chh * 4;
  // One decoded overlay at a time, and its upright copy.
  let overlays = p.overlay_pixels * 4 * 2;
  // An animation, frame by frame: the decoder's canvas beside the frame it
  // hands over (RGBA), and the encoder's previous canvas.
  let animation = if p.animation { (dw * dh + cw * chh) * 4 } else { 0 };
  Some(decoded + rotated + steps + intermediate + filters + output + overlays + animation)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn gate_with(budget: u64, costs: &[u64]) -> Gate {
    let mut g = Gate { budget, reserved: 0, holders: 0, waiting: VecDeque::new(), bypassed: 0, peak_shared: 0 };
    for &cost in costs {
      g.waiting.push_back(Waiter { cost, job: Box::new(|_| {}) });
    }
    g
  }

  #[test]
  fn small_tasks_pass_a_waiting_large_one() {
    let mut g = gate_with(100, &[80, 30, 10]);
    g.reserve(50);
    let admitted: Vec<u64> = g.admit_waiting().iter().map(|w| w.cost).collect();
    assert_eq!(admitted, vec![30, 10]);
    assert_eq!((g.reserved, g.holders, g.waiting.len()), (90, 3, 1));
    assert_eq!(g.peak_shared, 90);
  }

  #[test]
  fn a_task_over_the_budget_runs_alone() {
    let mut g = gate_with(100, &[500, 10]);
    let admitted: Vec<u64> = g.admit_waiting().iter().map(|w| w.cost).collect();
    // Nothing held: the large one starts, and nothing reserved joins it.
    assert_eq!(admitted, vec![500]);
    assert_eq!(g.waiting.len(), 1);
    assert_eq!(g.peak_shared, 0);
  }

  #[test]
  fn passing_the_oldest_is_bounded() {
    let limit = Gate::bypass_limit();
    let mut g = gate_with(100, &[80]);
    g.reserve(50);
    g.bypassed = limit;
    for _ in 0..3 {
      g.waiting.push_back(Waiter { cost: 1, job: Box::new(|_| {}) });
    }
    assert!(g.admit_waiting().is_empty(), "nothing passes a starved head");
  }

  #[test]
  fn estimates_follow_the_header() {
    let png = {
      let img = ::image::RgbImage::new(400, 300);
      let mut out = Vec::new();
      img.write_to(&mut std::io::Cursor::new(&mut out), ::image::ImageFormat::Png).unwrap();
      out
    };
    let o = image::ResizeOptions { width: Some(40), ..Default::default() };
    let cost = estimate(&Task::Resize(o), &png);
    // At least the decoded 400x300 RGB pixels, and not wildly more.
    assert!(cost >= 400 * 300 * 3, "{cost}");
    assert!(cost < 400 * 300 * 3 * 3, "{cost}");
    assert_eq!(estimate(&Task::Metadata, &png), 0);
    assert_eq!(estimate(&Task::Resize(image::ResizeOptions::default()), b"not an image"), 0);
  }
}
