//! One `Runtime` per JS environment: submits calls to the shared CPU pool
//! and delivers their completions to the callback given at construction.
//! Pool threads push completions into the runtime's queue and wake the JS
//! thread only when the queue goes from empty to non-empty, so completions
//! arrive in batches when the pool is busy.

use std::collections::HashMap;
use std::ptr;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use rusque_core::tasks::hash::Algorithm;
use rusque_core::tasks::image::{Encoded, Metadata};
use rusque_core::{budget, metrics, pool, Cancel, Output, Task};

use crate::error::{self, invalid, napi_failed, to_napi};
use crate::spec::TaskSpec;
use crate::{enqueue_and_wake, keep_alive};

/// The hash hot path's algorithm: a name, not JSON (the spec's FromStr).
fn algorithm_of(name: Option<String>) -> error::Result<Algorithm> {
  name.map_or(Ok(Algorithm::default()), |n| n.parse().map_err(to_napi))
}

struct Completion {
  id: u32,
  result: rusque_core::Result<Output>,
  /// Not a result: the memory budget admitted this parked job (JS now sends
  /// its input with `runAdmitted`). Delivered as `[id, ADMITTED, null]`.
  admitted: bool,
}

/// The code of an admission in a batch (lib/pool.js reads it).
const ADMITTED: &str = "RUSQUE_ADMITTED";

/// A batch of completions, handed to JS as a flat array of
/// `[id, errorCode | null, value | errorMessage, ...]`.
struct Batch(Vec<Completion>);

/// `metadata()`'s result: sharp's names. An optional field is absent (not
/// undefined) when the format has none: density for WebP and GIF, pages,
/// delay and loop outside animations and GIF, chromaSubsampling outside JPEG.
#[napi(object)]
pub struct JsMetadata {
  pub format: String,
  pub width: u32,
  pub height: u32,
  pub channels: u32,
  pub has_alpha: bool,
  pub orientation: u32,
  pub size: f64,
  pub density: Option<f64>,
  pub chroma_subsampling: Option<String>,
  pub is_progressive: bool,
  pub pages: Option<u32>,
  pub delay: Option<Vec<u32>>,
  #[napi(js_name = "loop")]
  pub loop_count: Option<u32>,
  pub has_profile: bool,
  pub exif: Option<Buffer>,
  pub icc: Option<Buffer>,
  pub xmp: Option<Buffer>,
}

impl From<Metadata> for JsMetadata {
  fn from(m: Metadata) -> Self {
    let has_profile = m.has_profile();
    let d = m.details;
    JsMetadata {
      format: m.format.name().to_string(),
      width: m.width,
      height: m.height,
      channels: u32::from(m.channels),
      has_alpha: m.has_alpha,
      orientation: u32::from(m.orientation),
      size: m.size as f64,
      density: d.density,
      chroma_subsampling: d.chroma_subsampling,
      is_progressive: d.is_progressive,
      pages: d.pages,
      delay: d.delay,
      loop_count: d.loop_count,
      has_profile,
      exif: d.exif.map(Buffer::from),
      icc: d.icc.map(Buffer::from),
      xmp: d.xmp.map(Buffer::from),
    }
  }
}

/// sharp's `info` of a resize's output (`resolveWithObject: true`).
#[napi(object)]
pub struct JsOutputInfo {
  pub format: String,
  pub width: u32,
  pub height: u32,
  pub channels: u32,
  pub size: f64,
  /// An animation's frames (sharp's name); height is then all frames stacked.
  pub pages: Option<u32>,
  /// An animation's frame height (sharp's name).
  pub page_height: Option<u32>,
}

/// A resize with `resolveWithObject: true` resolves to `{ data, info }`.
#[napi(object)]
pub struct JsResizeResult {
  pub data: Buffer,
  pub info: JsOutputInfo,
}

impl From<Encoded> for JsResizeResult {
  fn from(e: Encoded) -> Self {
    let i = e.info;
    let info = JsOutputInfo {
      format: i.format.name().to_string(),
      width: i.width,
      height: i.height,
      channels: u32::from(i.channels),
      size: i.size as f64,
      pages: i.pages.map(|p| p.0),
      page_height: i.pages.map(|p| p.1),
    };
    JsResizeResult { data: Buffer::from(e.bytes), info }
  }
}

/// A task's output as the JS value its call resolves to: the one
/// conversion, for local calls and remote ones (src/remote.rs).
pub(crate) unsafe fn output_value(env: sys::napi_env, out: Output) -> Result<sys::napi_value> {
  match out {
    Output::Bytes(bytes) => Buffer::to_napi_value(env, Buffer::from(bytes)),
    Output::Image(e) => JsResizeResult::to_napi_value(env, JsResizeResult::from(e)),
    Output::Text(text) => String::to_napi_value(env, text),
    Output::Metadata(m) => JsMetadata::to_napi_value(env, JsMetadata::from(m)),
  }
}

pub(crate) unsafe fn set_element(env: sys::napi_env, arr: sys::napi_value, index: u32, value: sys::napi_value) -> Result<()> {
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
          set_element(env, arr, base + 2, output_value(env, out)?)?;
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

#[napi]
impl Runtime {
  #[napi(constructor)]
  pub fn new(env: Env, callback: Function<'static>) -> error::Result<Self> {
    let queue: Arc<Mutex<Vec<Completion>>> = Arc::new(Mutex::new(Vec::new()));
    let drain = Arc::clone(&queue);
    let tsfn: CompletionFn = callback
      .build_threadsafe_function::<()>()
      .callee_handled::<false>()
      .build_callback(move |_ctx| Ok(Batch(std::mem::take(&mut *drain.lock().unwrap_or_else(|p| p.into_inner())))))
      .map_err(napi_failed)?;
    // Idle runtimes must not keep the process alive; JS refs it while jobs are pending.
    check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) }).map_err(napi_failed)?;
    Ok(Runtime { shared: Arc::new(Shared { queue, cancels: Mutex::new(HashMap::new()), parked: Mutex::new(HashMap::new()), tsfn }) })
  }

  /// Keeps the event loop alive (true) while jobs are pending, or lets it exit (false).
  #[napi]
  pub fn set_active(&self, env: Env, active: bool) -> error::Result<()> {
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
  pub fn submit_resize(&self, id: u32, input: &[u8], spec: &TaskSpec, cancellable: bool) -> error::Result<bool> {
    Ok(self.spawn(id, spec.task.clone(), input, cancellable))
  }

  /// Runs a parked resize the budget has admitted, with its input.
  #[napi]
  pub fn run_admitted(&self, id: u32, input: &[u8], spec: &TaskSpec, cancellable: bool) -> error::Result<()> {
    let parked = self.shared.parked.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    let (permit, queued_at) = parked.ok_or_else(|| invalid(format!("job {id} was not admitted")))?;
    self.run(id, permit, queued_at, spec.task.clone(), input.to_vec(), cancellable);
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

  /// `algorithm`: its name (the spec's Algorithm table), absent for the default.
  #[napi]
  pub fn submit_hash(&self, id: u32, input: &[u8], algorithm: Option<String>, cancellable: bool) -> error::Result<()> {
    let alg = algorithm_of(algorithm)?;
    self.spawn(id, Task::Hash(alg), input, cancellable);
    Ok(())
  }

  /// Many hash jobs in one call: ids[i] hashes inputs[i].
  #[napi]
  pub fn submit_hash_many(&self, ids: Vec<u32>, inputs: Vec<&[u8]>, algorithm: Option<String>) -> error::Result<()> {
    let alg = algorithm_of(algorithm)?;
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
