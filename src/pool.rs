//! The pool's settings and readings: `configure`, `poolInfo`, `poolStats`,
//! the memory budget and what this binary was built with.

use napi_derive::napi;
use rusque_core::{budget, metrics, pool};

use crate::error::{self, to_napi};
use crate::ms;

#[napi(object)]
pub struct PoolInfo {
  pub threads: u32,
  pub nice: i32,
}

/// Resizes the shared CPU pool. Queued jobs finish on the old threads. The
/// core checks the ranges (pool::MAX_THREADS): ERR_INVALID_ARG; no thread
/// could start: ERR_INTERNAL.
#[napi]
pub fn configure(threads: Option<u32>, nice: Option<i32>) -> error::Result<PoolInfo> {
  let c = pool::configure(threads.map(|t| t as usize), nice).map_err(to_napi)?;
  Ok(PoolInfo { threads: c.threads as u32, nice: c.nice })
}

#[napi]
pub fn pool_info() -> PoolInfo {
  let c = pool::config();
  PoolInfo { threads: c.threads as u32, nice: c.nice }
}

#[napi(object)]
pub struct JsHistogram {
  /// Per bucket, in the order of `PoolStats::bounds` plus one overflow bucket.
  pub counts: Vec<f64>,
  pub sum_ms: f64,
  pub max_ms: f64,
}

impl From<metrics::HistogramSnapshot> for JsHistogram {
  fn from(h: metrics::HistogramSnapshot) -> Self {
    JsHistogram { counts: h.counts.into_iter().map(|c| c as f64).collect(), sum_ms: ms(h.sum_ns), max_ms: ms(h.max_ns) }
  }
}

#[napi(object)]
pub struct JsTaskStats {
  pub task: String,
  pub queued: f64,
  pub running: f64,
  pub completed: f64,
  pub failed: f64,
  pub cancelled: f64,
  pub run: JsHistogram,
  pub wait: JsHistogram,
}

#[napi(object)]
pub struct JsMemoryStats {
  pub budget: f64,
  pub reserved: f64,
  pub waiting: f64,
  pub peak_shared: f64,
}

/// One reading of the pool's counters (rusque_core::metrics and ::budget);
/// lib/metrics.js builds poolInfo() and prometheus() from it.
#[napi(object)]
pub struct PoolStats {
  pub threads: u32,
  pub nice: i32,
  pub at_ms: f64,
  pub busy_ms: f64,
  /// Histogram bucket upper bounds in ms.
  pub bounds: Vec<f64>,
  pub tasks: Vec<JsTaskStats>,
  pub memory: JsMemoryStats,
}

#[napi]
pub fn pool_stats() -> PoolStats {
  let c = pool::config();
  let s = metrics::snapshot();
  let m = budget::snapshot();
  PoolStats {
    threads: c.threads as u32,
    nice: c.nice,
    at_ms: ms(s.at_ns),
    busy_ms: ms(s.busy_ns),
    bounds: (0..metrics::BOUNDS).map(|i| metrics::bound_ns(i) / 1e6).collect(),
    tasks: s
      .kinds
      .into_iter()
      .zip(metrics::KINDS)
      .map(|(k, name)| JsTaskStats {
        task: name.to_string(),
        queued: k.queued as f64,
        running: k.running as f64,
        completed: k.completed as f64,
        failed: k.failed as f64,
        cancelled: k.cancelled as f64,
        run: k.run.into(),
        wait: k.wait.into(),
      })
      .collect(),
    memory: JsMemoryStats {
      budget: m.budget as f64,
      reserved: m.reserved as f64,
      waiting: m.waiting as f64,
      peak_shared: m.peak_shared as f64,
    },
  }
}

/// Sets the pool's memory budget in bytes (0: none). JS checks the type.
#[napi]
pub fn set_memory_budget(bytes: f64) {
  budget::set_budget(if bytes.is_finite() && bytes > 0.0 { bytes as u64 } else { 0 });
}

#[napi(object)]
pub struct SimdInfo {
  pub jpeg: bool,
}

#[napi(object)]
pub struct BuildInfo {
  pub target: String,
  pub simd: SimdInfo,
}

/// What this binary was built for and whether its JPEG codec runs SIMD code
/// here (asked of libjpeg-turbo at run time; see crates/core/src/build_info.rs).
#[napi]
pub fn build_info() -> BuildInfo {
  use rusque_core::build_info as b;
  BuildInfo { target: b::TARGET.to_string(), simd: SimdInfo { jpeg: b::jpeg_simd() } }
}
