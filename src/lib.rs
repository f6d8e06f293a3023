//! Node.js glue: argument conversion and completion delivery only. Every
//! task lives in `rusque-core`; nothing here runs task logic.
//!
//! One `Runtime` per JS environment owns a threadsafe function. Pool threads
//! push completions into the runtime's queue and wake the JS thread only when
//! the queue goes from empty to non-empty, so completions arrive in batches
//! when the pool is busy.

use std::collections::HashMap;
use std::ptr;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use rusque_core::tasks::hash::Algorithm;
use rusque_core::tasks::image::{Fit, Format, Kernel, Metadata, ResizeOptions};
use rusque_core::{budget, metrics, pool, Cancel, Output, Task};

mod jobs;

struct Completion {
  id: u32,
  result: rusque_core::Result<Output>,
  /// Not a result: the memory budget admitted this parked job (JS now sends
  /// its input with `runAdmitted`). Delivered as `[id, ADMITTED, null]`.
  admitted: bool,
}

/// The code of an admission in a batch (lib/native.js reads it).
const ADMITTED: &str = "RUSQUE_ADMITTED";

/// A batch of completions, handed to JS as a flat array of
/// `[id, errorCode | null, value | errorMessage, ...]`.
struct Batch(Vec<Completion>);

#[napi(object)]
pub struct JsMetadata {
  pub format: String,
  pub width: u32,
  pub height: u32,
  pub channels: u32,
  pub has_alpha: bool,
  pub orientation: u32,
  pub size: f64,
}

impl From<Metadata> for JsMetadata {
  fn from(m: Metadata) -> Self {
    JsMetadata {
      format: m.format.name().to_string(),
      width: m.width,
      height: m.height,
      channels: u32::from(m.channels),
      has_alpha: m.has_alpha,
      orientation: u32::from(m.orientation),
      size: m.size as f64,
    }
  }
}

unsafe fn set_element(env: sys::napi_env, arr: sys::napi_value, index: u32, value: sys::napi_value) -> Result<()> {
  check_status!(sys::napi_set_element(env, arr, index, value))
}

impl ToNapiValue for Batch {
  unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
    let mut arr = ptr::null_mut();
    check_status!(sys::napi_create_array_with_length(env, val.0.len() * 3, &mut arr))?;
    for (i, c) in val.0.into_iter().enumerate() {
      let base = (i * 3) as u32;
      set_element(env, arr, base, u32::to_napi_value(env, c.id)?)?;
      if c.admitted {
        set_element(env, arr, base + 1, <&str>::to_napi_value(env, ADMITTED)?)?;
        set_element(env, arr, base + 2, Null::to_napi_value(env, Null)?)?;
        continue;
      }
      match c.result {
        Ok(out) => {
          set_element(env, arr, base + 1, Null::to_napi_value(env, Null)?)?;
          let value = match out {
            Output::Bytes(bytes) => Buffer::to_napi_value(env, Buffer::from(bytes))?,
            Output::Text(text) => String::to_napi_value(env, text)?,
            Output::Metadata(m) => JsMetadata::to_napi_value(env, JsMetadata::from(m))?,
          };
          set_element(env, arr, base + 2, value)?;
        }
        Err(e) => {
          set_element(env, arr, base + 1, <&str>::to_napi_value(env, e.code.as_str())?)?;
          set_element(env, arr, base + 2, String::to_napi_value(env, e.message)?)?;
        }
      }
    }
    Ok(arr)
  }
}

/// Appends `items` to a completion queue and wakes the JS thread through
/// `wake` only when the queue goes from empty to non-empty, so completions
/// arrive in batches while the pool is busy. Shared by every completion queue.
fn enqueue_and_wake<T>(queue: &Mutex<Vec<T>>, items: impl IntoIterator<Item = T>, wake: impl FnOnce()) {
  let was_empty = {
    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
    let was_empty = q.is_empty();
    q.extend(items);
    was_empty
  };
  if was_empty {
    wake();
  }
}

/// Refs (keeps the event loop alive) or unrefs a threadsafe function.
fn keep_alive(env: &Env, tsfn: sys::napi_threadsafe_function, active: bool) -> Result<()> {
  check_status!(unsafe {
    if active {
      sys::napi_ref_threadsafe_function(env.raw(), tsfn)
    } else {
      sys::napi_unref_threadsafe_function(env.raw(), tsfn)
    }
  })
}

type CompletionFn = ThreadsafeFunction<(), Unknown<'static>, Batch, Status, false>;

struct Shared {
  queue: Arc<Mutex<Vec<Completion>>>,
  cancels: Mutex<HashMap<u32, Cancel>>,
  /// Admitted jobs whose input JS has not sent yet: their permit and queue time.
  parked: Mutex<HashMap<u32, (budget::Permit, u64)>>,
  tsfn: CompletionFn,
}

impl Shared {
  fn complete(&self, id: u32, result: rusque_core::Result<Output>, cancellable: bool) {
    if cancellable {
      self.cancels.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
    self.deliver(std::iter::once(Completion { id, result, admitted: false }));
  }

  /// The budget admitted parked job `id`: keep its permit until JS sends the input.
  fn admitted(&self, id: u32, permit: budget::Permit, queued_at: u64) {
    if self.tsfn.aborted() {
      // The JS environment is gone (a worker thread ended): nobody will send
      // the input, so give the budget back now (counted as cancelled).
      drop(permit);
      metrics::finished(metrics::Kind::Resize, metrics::started(metrics::Kind::Resize, queued_at), metrics::Outcome::Cancelled);
      return;
    }
    self.parked.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (permit, queued_at));
    self.deliver(std::iter::once(Completion { id, result: Ok(Output::Text(String::new())), admitted: true }));
  }

  fn deliver(&self, completions: impl Iterator<Item = Completion>) {
    // The call fails only while the environment shuts down; nobody is left to tell then.
    enqueue_and_wake(&self.queue, completions, || {
      let _ = self.tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
    });
  }
}

/// Per-environment handle: submits jobs to the shared CPU pool and delivers
/// their completions to the callback given at construction.
#[napi]
pub struct Runtime {
  shared: Arc<Shared>,
}

#[napi(object)]
pub struct NativeResizeOptions {
  pub width: Option<u32>,
  pub height: Option<u32>,
  pub fit: String,
  pub position_x: f64,
  pub position_y: f64,
  pub background: Vec<u32>,
  pub without_enlargement: bool,
  pub kernel: String,
  pub format: Option<String>,
  pub quality: u32,
  pub auto_orient: bool,
  pub limit_input_pixels: f64,
  /// Absent: follow limitInputPixels.
  pub limit_output_pixels: Option<f64>,
}

fn invalid(message: String) -> Error {
  Error::new(Status::InvalidArg, message)
}

fn convert_resize_options(o: NativeResizeOptions) -> Result<ResizeOptions> {
  let fit = match o.fit.as_str() {
    "cover" => Fit::Cover,
    "contain" => Fit::Contain,
    "fill" => Fit::Fill,
    "inside" => Fit::Inside,
    "outside" => Fit::Outside,
    other => return Err(invalid(format!("unknown fit {other:?}"))),
  };
  let kernel = match o.kernel.as_str() {
    "nearest" => Kernel::Nearest,
    "linear" => Kernel::Linear,
    "cubic" => Kernel::Cubic,
    "mitchell" => Kernel::Mitchell,
    "lanczos3" => Kernel::Lanczos3,
    other => return Err(invalid(format!("unknown kernel {other:?}"))),
  };
  let format = match o.format.as_deref() {
    None => None,
    Some(f) => Some(Format::parse(f).filter(|f| *f != Format::Gif).ok_or_else(|| invalid(format!("unknown output format {f:?}")))?),
  };
  let bg = |i: usize| o.background.get(i).copied().unwrap_or(255).min(255) as u8;
  Ok(ResizeOptions {
    width: o.width,
    height: o.height,
    fit,
    position: (o.position_x, o.position_y),
    background: [bg(0), bg(1), bg(2), bg(3)],
    without_enlargement: o.without_enlargement,
    kernel,
    format,
    quality: o.quality.min(255) as u8,
    auto_orient: o.auto_orient,
    limit_input_pixels: if o.limit_input_pixels.is_finite() && o.limit_input_pixels > 0.0 { o.limit_input_pixels as u64 } else { 0 },
    // lib/options.js has checked it is a non-negative integer; `as` saturates past u64.
    limit_output_pixels: o.limit_output_pixels.map(|l| if l > 0.0 { l as u64 } else { 0 }),
  })
}

#[napi]
impl Runtime {
  #[napi(constructor)]
  pub fn new(env: Env, callback: Function<'static>) -> Result<Self> {
    let queue: Arc<Mutex<Vec<Completion>>> = Arc::new(Mutex::new(Vec::new()));
    let drain = Arc::clone(&queue);
    let tsfn: CompletionFn = callback
      .build_threadsafe_function::<()>()
      .callee_handled::<false>()
      .build_callback(move |_ctx| Ok(Batch(std::mem::take(&mut *drain.lock().unwrap_or_else(|p| p.into_inner())))))?;
    // Idle runtimes must not keep the process alive; JS refs it while jobs are pending.
    check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) })?;
    Ok(Runtime { shared: Arc::new(Shared { queue, cancels: Mutex::new(HashMap::new()), parked: Mutex::new(HashMap::new()), tsfn }) })
  }

  /// Keeps the event loop alive (true) while jobs are pending, or lets it exit (false).
  #[napi]
  pub fn set_active(&self, env: Env, active: bool) -> Result<()> {
    keep_alive(&env, self.shared.tsfn.raw(), active)
  }

  /// Sends a task to the pool, or, when the memory budget has no room for
  /// it, parks it without copying its input and returns false: the runtime
  /// then delivers an admission and JS calls `run_admitted` with the input.
  fn spawn(&self, id: u32, task: Task, input: &[u8], cancellable: bool) -> bool {
    let cost = pool::cost(&task, input);
    let queued_at = metrics::queued(metrics::Kind::of(&task));
    let shared = Arc::clone(&self.shared);
    let park = move || -> budget::Job { Box::new(move |permit| shared.admitted(id, permit, queued_at)) };
    match budget::reserve_or_park(cost, park) {
      Some(permit) => {
        self.run(id, permit, queued_at, task, input.to_vec(), cancellable);
        true
      }
      None => false,
    }
  }

  fn run(&self, id: u32, permit: budget::Permit, queued_at: u64, task: Task, input: Vec<u8>, cancellable: bool) {
    let cancel = if cancellable {
      let c = Cancel::new();
      self.shared.cancels.lock().unwrap_or_else(|p| p.into_inner()).insert(id, c.clone());
      c
    } else {
      Cancel::never()
    };
    let shared = Arc::clone(&self.shared);
    pool::spawn(move || {
      pool::run_admitted(permit, queued_at, task, input, cancel, move |result| shared.complete(id, result, cancellable))
    });
  }

  /// Returns false when the job was parked by the memory budget (see `spawn`).
  #[napi]
  pub fn submit_resize(&self, id: u32, input: &[u8], options: NativeResizeOptions, cancellable: bool) -> Result<bool> {
    let opts = convert_resize_options(options)?;
    Ok(self.spawn(id, Task::Resize(opts), input, cancellable))
  }

  /// Runs a parked resize the budget has admitted, with its input.
  #[napi]
  pub fn run_admitted(&self, id: u32, input: &[u8], options: NativeResizeOptions, cancellable: bool) -> Result<()> {
    let parked = self.shared.parked.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    let (permit, queued_at) = parked.ok_or_else(|| invalid(format!("job {id} was not admitted")))?;
    let opts = convert_resize_options(options).inspect_err(|_| {
      let started_at = metrics::started(metrics::Kind::Resize, queued_at);
      metrics::finished(metrics::Kind::Resize, started_at, metrics::Outcome::Failed);
    })?;
    self.run(id, permit, queued_at, Task::Resize(opts), input.to_vec(), cancellable);
    Ok(())
  }

  /// Gives back an admitted job's permit when it will not run (cancelled or
  /// its input became unreadable while parked); counted as such.
  #[napi]
  pub fn drop_admitted(&self, id: u32, cancelled: bool) {
    let parked = self.shared.parked.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    if let Some((permit, queued_at)) = parked {
      drop(permit);
      let started_at = metrics::started(metrics::Kind::Resize, queued_at);
      let outcome = if cancelled { metrics::Outcome::Cancelled } else { metrics::Outcome::Failed };
      metrics::finished(metrics::Kind::Resize, started_at, outcome);
    }
  }

  #[napi]
  pub fn submit_metadata(&self, id: u32, input: &[u8], cancellable: bool) {
    self.spawn(id, Task::Metadata, input, cancellable);
  }

  #[napi]
  pub fn submit_hash(&self, id: u32, input: &[u8], algorithm: String, cancellable: bool) -> Result<()> {
    let alg = Algorithm::parse(&algorithm).map_err(|e| invalid(e.message))?;
    self.spawn(id, Task::Hash(alg), input, cancellable);
    Ok(())
  }

  /// Many hash jobs in one call: ids[i] hashes inputs[i].
  #[napi]
  pub fn submit_hash_many(&self, ids: Vec<u32>, inputs: Vec<&[u8]>, algorithm: String) -> Result<()> {
    let alg = Algorithm::parse(&algorithm).map_err(|e| invalid(e.message))?;
    if ids.len() != inputs.len() {
      return Err(invalid("ids and inputs differ in length".into()));
    }
    // Tiny jobs are grouped into a few pool jobs per thread: one wake-up and
    // one completion push per group instead of per job.
    let groups = pool::config().threads * 4;
    let per_group = ids.len().div_ceil(groups).max(1);
    let mut jobs: Vec<(u32, Vec<u8>)> = ids.into_iter().zip(inputs.into_iter().map(<[u8]>::to_vec)).collect();
    while !jobs.is_empty() {
      let rest = jobs.split_off(per_group.min(jobs.len()));
      let group = std::mem::replace(&mut jobs, rest);
      let shared = Arc::clone(&self.shared);
      // Each hash is counted on its own (metrics), its wait being the group's.
      let queued_at: Vec<u64> = group.iter().map(|_| metrics::queued(metrics::Kind::Hash)).collect();
      pool::spawn(move || {
        let task = Task::Hash(alg);
        let never = Cancel::never();
        let done: Vec<Completion> = group
          .into_iter()
          .zip(queued_at)
          .map(|((id, input), queued_at)| {
            let started_at = metrics::started(metrics::Kind::Hash, queued_at);
            let result = pool::run_guarded(|| task.run(&input, &never));
            metrics::finished(metrics::Kind::Hash, started_at, metrics::Outcome::of(&result));
            Completion { id, result, admitted: false }
          })
          .collect();
        shared.deliver(done.into_iter());
      });
    }
    Ok(())
  }

  /// Asks a running or queued job to stop at its next checkpoint.
  #[napi]
  pub fn cancel(&self, id: u32) {
    if let Some(c) = self.shared.cancels.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
      c.cancel();
    }
  }

  /// Test hook: a job that panics, to prove panics become ERR_INTERNAL.
  #[napi(js_name = "_submitPanic")]
  pub fn submit_panic(&self, id: u32) {
    let shared = Arc::clone(&self.shared);
    pool::spawn(move || {
      let result = pool::run_guarded::<Output>(|| panic!("deliberate panic from the test hook"));
      shared.complete(id, result, false);
    });
  }
}

#[napi(object)]
pub struct PoolInfo {
  pub threads: u32,
  pub nice: i32,
}

/// Resizes the shared CPU pool. Queued jobs finish on the old threads.
#[napi]
pub fn configure(threads: Option<u32>, nice: Option<i32>) -> Result<PoolInfo> {
  // The core checks the ranges (pool::MAX_THREADS); JS turns InvalidArg into
  // ERR_INVALID_ARG and anything else (no thread could start) into ERR_INTERNAL.
  let c = pool::configure(threads.map(|t| t as usize), nice).map_err(|e| {
    let status = if e.code == rusque_core::Code::InvalidArg { Status::InvalidArg } else { Status::GenericFailure };
    Error::new(status, e.message)
  })?;
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

fn ms(ns: u64) -> f64 {
  ns as f64 / 1e6
}

#[napi]
pub fn pool_stats() -> PoolStats {
  let c = pool::config();
  let s = metrics::snapshot();
  let m = budget::snapshot();
  let hist = |h: metrics::HistogramSnapshot| JsHistogram {
    counts: h.counts.into_iter().map(|c| c as f64).collect(),
    sum_ms: ms(h.sum_ns),
    max_ms: ms(h.max_ns),
  };
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
        run: hist(k.run),
        wait: hist(k.wait),
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

// ---------------------------------------------------------------------------
// The Rust resque loop for native jobs. Its events reach JS in batches, as a
// JSON array string, through one threadsafe function.

type EventFn = ThreadsafeFunction<String, Unknown<'static>, String, Status, false>;

/// One event as a JSON array, `[kind, slot, ...]` (kinds in
/// lib/resque/native-loop.js): arrays parse faster than objects, and JS parses
/// thousands a second. A payload that is valid JSON goes in as is, so JS
/// parses each entry once, with the batch; any other payload goes in as a string.
fn event_json(e: rusque_resque::worker::Event) -> String {
  use rusque_resque::worker::Event as E;
  use serde_json::{json, Value};
  // A success's payload parsed as a job, so it is JSON; others are checked.
  let payload_json = |payload: String, known_json: bool| {
    if known_json || serde_json::from_str::<serde::de::IgnoredAny>(&payload).is_ok() {
      payload
    } else {
      Value::String(payload).to_string()
    }
  };
  // `rest` is a JSON array; the payload is spliced in as its 4th element.
  let with_payload = |kind: u8, slot: usize, queue: String, payload: String, known_json: bool, rest: Value| {
    let rest = rest.to_string();
    let tail = &rest[1..rest.len() - 1];
    let sep = if tail.is_empty() { "" } else { "," };
    format!("[{kind},{slot},{},{}{sep}{tail}]", Value::String(queue), payload_json(payload, known_json))
  };
  match e {
    E::Start { slot } => json!([0, slot]).to_string(),
    E::Job { slot, queue, payload } => with_payload(1, slot, queue, payload, false, json!([])),
    E::Success { slot, queue, payload, result, duration_ms } => with_payload(2, slot, queue, payload, true, json!([result, duration_ms])),
    E::Failure { slot, queue, payload, exception, error, duration_ms } => {
      with_payload(3, slot, queue, payload, false, json!([error.code.as_str(), error.message, duration_ms, exception]))
    }
    E::End { slot } => json!([4, slot]).to_string(),
    E::Pause { slot } => json!([5, slot]).to_string(),
    E::Error { slot, message } => json!([6, slot, message]).to_string(),
    E::Ready { slot } => json!([7, slot]).to_string(),
  }
}

fn worker_config(json: &str) -> Result<rusque_resque::worker::Config> {
  use rusque_resque::job::{Kind, NativeJob};
  use serde_json::Value;
  let v: Value = serde_json::from_str(json).map_err(|e| invalid(format!("worker config: {e}")))?;
  let strings = |k: &str| -> Result<Vec<String>> {
    v.get(k)
      .and_then(Value::as_array)
      .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
      .ok_or_else(|| invalid(format!("worker config: {k} must be an array of strings")))
  };
  let ms = |k: &str, d: u64| std::time::Duration::from_millis(v.get(k).and_then(Value::as_u64).unwrap_or(d));
  let namespace = v.get("namespace").and_then(Value::as_str).unwrap_or("resque").to_string();
  let mut jobs = HashMap::new();
  if let Some(map) = v.get("jobs").and_then(Value::as_object) {
    for (class, def) in map {
      let kind = Kind::parse(def.get("task").and_then(Value::as_str).unwrap_or("")).map_err(|e| invalid(e.message))?;
      let defaults = def.get("defaults").and_then(Value::as_object).cloned().unwrap_or_default();
      // The Worker's keys option rides on each job (lib/resque/worker.js).
      let keys = jobs::key_policy(&namespace, def.get("keys"))?;
      jobs.insert(class.clone(), NativeJob::new(kind, defaults).with_keys(keys));
    }
  }
  Ok(rusque_resque::worker::Config {
    url: v.get("url").and_then(Value::as_str).ok_or_else(|| invalid("worker config: url".into()))?.to_string(),
    namespace,
    queues: strings("queues")?,
    slots: strings("slots")?,
    poll: ms("pollMs", 5000),
    ping: ms("pingMs", 5000),
    roots: Arc::new(jobs::open_roots(&strings("roots").unwrap_or_default(), jobs::follow_symlinks(&v)?)?),
    jobs,
    events: Arc::new(std::sync::atomic::AtomicU8::new(v.get("events").and_then(Value::as_u64).map_or(u8::MAX, |m| m as u8))),
  })
}

/// Per-slot counts of the Rust loop's jobs, for `Worker#stats()`.
#[derive(Default)]
struct SlotStats {
  completed: std::sync::atomic::AtomicU64,
  failed: std::sync::atomic::AtomicU64,
  run: metrics::Histogram,
}

#[napi(object)]
pub struct JsSlotStats {
  pub completed: f64,
  pub failed: f64,
  pub run: JsHistogram,
}

/// A running set of Rust resque worker slots (see rusque_resque::worker).
#[napi]
pub struct NativeWorker {
  config: Option<rusque_resque::worker::Config>,
  /// The core's event mask: JS's, plus `success` always (counted in `stats`).
  emit: Arc<std::sync::atomic::AtomicU8>,
  /// The per-job events JS listens for (`set_events`).
  js_events: Arc<std::sync::atomic::AtomicU8>,
  stats: Arc<Vec<SlotStats>>,
  handle: Option<rusque_resque::worker::Handle>,
  /// The pending batch as a JSON array under construction (`[e1,e2`), built by the slot threads.
  events: Arc<Mutex<String>>,
  tsfn: Arc<EventFn>,
}

#[napi]
impl NativeWorker {
  #[napi(constructor)]
  pub fn new(env: Env, config_json: String, callback: Function<'static>) -> Result<Self> {
    let config = worker_config(&config_json)?;
    let events: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    // The batch arrives complete: the JS thread never takes the slots' lock.
    let tsfn: EventFn =
      callback.build_threadsafe_function::<String>().callee_handled::<false>().build_callback(|ctx| Ok(ctx.value))?;
    check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) })?;
    let emit = Arc::clone(&config.events);
    // The core always reports successes so that every slot's count is
    // exact; the sink passes them to JS only while JS listens.
    let js = emit.load(std::sync::atomic::Ordering::Relaxed);
    emit.store(js | rusque_resque::worker::EMIT_SUCCESS, std::sync::atomic::Ordering::Relaxed);
    let js_events = Arc::new(std::sync::atomic::AtomicU8::new(js));
    let stats = Arc::new((0..config.slots.len()).map(|_| SlotStats::default()).collect());
    Ok(NativeWorker { config: Some(config), emit, js_events, stats, handle: None, events, tsfn: Arc::new(tsfn) })
  }

  #[napi]
  pub fn start(&mut self) -> Result<()> {
    let config = self.config.take().ok_or_else(|| invalid("this native worker was started already".into()))?;
    let events = Arc::clone(&self.events);
    let pushed = Arc::clone(&self.events);
    let tsfn = Arc::clone(&self.tsfn);
    // Events are delivered in batches, at most one every 10 ms: the first event
    // into an empty queue wakes the pump, which lets the slots add more for a
    // moment and then hands JS the whole batch in one call. At thousands of
    // jobs a second this keeps the JS thread's share small.
    let (wake, woken) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
      .name("rusque-resque-events".into())
      .spawn(move || {
        // Ends when the last slot thread drops the sink (and with it `wake`).
        // This thread, not the JS thread, takes the batch from the slots: a
        // slot thread (at the pool's nice level) preempted while holding the
        // lock then delays this thread only.
        while woken.recv().is_ok() {
          std::thread::sleep(std::time::Duration::from_millis(10));
          while woken.try_recv().is_ok() {}
          let mut batch = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
          if batch.is_empty() {
            continue;
          }
          batch.push(']');
          let _ = tsfn.call(batch, ThreadsafeFunctionCallMode::NonBlocking);
        }
      })
      .map_err(|e| invalid(format!("could not start the event thread: {e}")))?;
    let stats = Arc::clone(&self.stats);
    let js_events = Arc::clone(&self.js_events);
    let sink: rusque_resque::worker::Sink = Arc::new(move |e| {
      use rusque_resque::worker::{Event as E, EMIT_SUCCESS};
      use std::sync::atomic::Ordering::Relaxed;
      match &e {
        E::Success { slot, duration_ms, .. } | E::Failure { slot, duration_ms, .. } => {
          if let Some(s) = stats.get(*slot) {
            if matches!(e, E::Success { .. }) { &s.completed } else { &s.failed }.fetch_add(1, Relaxed);
            s.run.record(duration_ms.saturating_mul(1_000_000));
          }
          if matches!(e, E::Success { .. }) && js_events.load(Relaxed) & EMIT_SUCCESS == 0 {
            return;
          }
        }
        _ => {}
      }
      let json = event_json(e);
      let was_empty = {
        let mut q = pushed.lock().unwrap_or_else(|p| p.into_inner());
        let was_empty = q.is_empty();
        q.push(if was_empty { '[' } else { ',' });
        q.push_str(&json);
        was_empty
      };
      if was_empty {
        let _ = wake.send(());
      }
    });
    self.handle = Some(rusque_resque::worker::start(config, sink));
    Ok(())
  }

  /// Which per-job events are sent: bit 1 `job`, bit 2 `success` (JS sets the
  /// bits of the events it has listeners for).
  #[napi]
  pub fn set_events(&self, mask: u32) {
    self.js_events.store(mask as u8, std::sync::atomic::Ordering::Relaxed);
    self.emit.store(mask as u8 | rusque_resque::worker::EMIT_SUCCESS, std::sync::atomic::Ordering::Relaxed);
  }

  /// Jobs each slot finished (acked) and their run times, in slot order.
  #[napi]
  pub fn stats(&self) -> Vec<JsSlotStats> {
    use std::sync::atomic::Ordering::Relaxed;
    self
      .stats
      .iter()
      .map(|s| {
        let h = s.run.snapshot();
        JsSlotStats {
          completed: s.completed.load(Relaxed) as f64,
          failed: s.failed.load(Relaxed) as f64,
          run: JsHistogram { counts: h.counts.into_iter().map(|c| c as f64).collect(), sum_ms: ms(h.sum_ns), max_ms: ms(h.max_ns) },
        }
      })
      .collect()
  }

  /// Each slot stops after its current job; `end` events follow.
  #[napi]
  pub fn stop(&self) {
    if let Some(h) = &self.handle {
      h.stop();
    }
  }

  /// Lets the slots go on past their first poll (they wait there after the
  /// `ready` event, so that JS's start() returns before the first job's events).
  #[napi]
  pub fn release(&self) {
    if let Some(h) = &self.handle {
      h.release();
    }
  }

  #[napi]
  pub fn set_active(&self, env: Env, active: bool) -> Result<()> {
    keep_alive(&env, self.tsfn.raw(), active)
  }
}
