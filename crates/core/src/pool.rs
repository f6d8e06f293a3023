//! The CPU pool: a rayon thread pool of our own (never libuv's, never the JS
//! thread). Jobs are plain closures; `run_guarded` turns a panic inside a job
//! into an `ERR_INTERNAL` error so one bad input never takes the process down.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::error::{Code, Error, Result};
use crate::tasks::{Output, Task};
use crate::{budget, metrics};

/// Niceness given to pool threads by default. A positive value lets the
/// kernel run the JS thread first when every core is busy, which keeps the
/// event loop responsive under saturation while idle cores still run jobs.
pub const DEFAULT_NICE: i32 = 10;

/// The most threads the pool may have (`configure`, `RUSQUE_THREADS`). The
/// pool runs CPU-bound tasks, so threads beyond the machine's cores add no
/// throughput, only memory (a stack each) and start-up time: 256 start in
/// about 10 ms on the JS thread, 1024 took about 1.8 s. 256 covers the
/// largest common machines (128 cores with SMT).
pub const MAX_THREADS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
  pub threads: usize,
  pub nice: i32,
}

struct Pool {
  config: PoolConfig,
  pool: Arc<rayon::ThreadPool>,
}

static POOL: OnceLock<RwLock<Pool>> = OnceLock::new();

fn default_config() -> PoolConfig {
  // One thread per core, within the cap configure() enforces (a machine with
  // more cores than MAX_THREADS gets MAX_THREADS).
  let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(MAX_THREADS);
  let threads = std::env::var("RUSQUE_THREADS")
    .ok()
    .and_then(|v| v.trim().parse::<usize>().ok())
    .filter(|&n| (1..=MAX_THREADS).contains(&n))
    .unwrap_or(cores);
  let nice = std::env::var("RUSQUE_NICE")
    .ok()
    .and_then(|v| v.trim().parse::<i32>().ok())
    .filter(|n| (0..=19).contains(n))
    .unwrap_or(DEFAULT_NICE);
  PoolConfig { threads, nice }
}

fn build(config: PoolConfig) -> Result<rayon::ThreadPool> {
  let nice = config.nice;
  rayon::ThreadPoolBuilder::new()
    .num_threads(config.threads)
    .thread_name(|i| format!("rusque-{i}"))
    .start_handler(move |_| lower_priority(nice))
    .build()
    .map_err(|e| Error::internal(format!("could not start the rusque thread pool: {e}")))
}

/// Lowers the calling thread's priority to `nice` (Linux; elsewhere a no-op).
/// The pool's threads run at the pool's nice level, so the JS thread gets a
/// core first when the machine is busy.
#[cfg(target_os = "linux")]
pub fn lower_priority(nice: i32) {
  if nice == 0 {
    return;
  }
  // On Linux, PRIO_PROCESS with a thread id sets that one thread's niceness.
  unsafe {
    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
    libc::setpriority(libc::PRIO_PROCESS, tid, nice);
  }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_priority(_nice: i32) {}

fn pool() -> &'static RwLock<Pool> {
  POOL.get_or_init(|| {
    let config = default_config();
    // A pool that cannot start leaves nothing to run jobs on; retry with one thread.
    let pool = build(config)
      .or_else(|_| build(PoolConfig { threads: 1, ..config }))
      .expect("rusque: no thread could be started for the CPU pool");
    RwLock::new(Pool { config, pool: Arc::new(pool) })
  })
}

/// The pool's current configuration.
pub fn config() -> PoolConfig {
  match pool().read() {
    Ok(p) => p.config,
    Err(poisoned) => poisoned.into_inner().config,
  }
}

/// Replaces the pool. Jobs already queued on the old pool still run there;
/// new jobs go to the new one.
pub fn configure(threads: Option<usize>, nice: Option<i32>) -> Result<PoolConfig> {
  if let Some(t) = threads {
    if !(1..=MAX_THREADS).contains(&t) {
      return Err(Error::invalid(format!(
        "threads must be an integer from 1 to {MAX_THREADS}, got {t}: more threads than cores add no throughput"
      )));
    }
  }
  if let Some(n) = nice {
    if !(0..=19).contains(&n) {
      return Err(Error::invalid(format!("nice must be an integer from 0 to 19, got {n}")));
    }
  }
  let lock = pool();
  let mut guard = lock.write().unwrap_or_else(|p| p.into_inner());
  let config = PoolConfig {
    threads: threads.unwrap_or(guard.config.threads),
    nice: nice.unwrap_or(guard.config.nice),
  };
  if config != guard.config {
    guard.pool = Arc::new(build(config)?);
    guard.config = config;
  }
  Ok(config)
}

/// Queues `job` on the pool (FIFO among jobs submitted from outside it).
pub fn spawn(job: impl FnOnce() + Send + 'static) {
  let pool = {
    let guard = pool().read().unwrap_or_else(|p| p.into_inner());
    Arc::clone(&guard.pool)
  };
  pool.spawn_fifo(job);
}

/// Runs `task` on `input` on the pool, counted in `metrics` and admitted by
/// the memory `budget`; `done` gets the result on the pool thread. Every task
/// the package runs goes through here, `run_admitted` or `run_counted`.
///
/// `input` is anything that reads as bytes (an owned `Vec<u8>`, or a view of
/// memory someone else keeps alive and unchanged until `done` runs). It is
/// dropped before `done`.
pub fn submit<I: AsRef<[u8]> + Send + 'static>(task: Task, input: I, cancel: Cancel, done: impl FnOnce(Result<Output>) + Send + 'static) {
  let cost = cost(&task, input.as_ref());
  let queued_at = metrics::queued(metrics::Kind::of(&task));
  budget::admit(cost, move |permit| run_admitted(permit, queued_at, task, input, cancel, done));
}

/// The budget cost of `task` on `input` (0 while there is no budget).
pub fn cost(task: &Task, input: &[u8]) -> u64 {
  if budget::limit() == 0 {
    0
  } else {
    budget::estimate(task, input)
  }
}

/// Runs an admitted task (its `permit` held, queued at `queued_at` on the
/// metrics clock) on the calling pool thread. `input` is dropped before
/// `done` runs, so whoever keeps its memory alive may free it in `done`.
pub fn run_admitted<I: AsRef<[u8]>>(
  permit: budget::Permit,
  queued_at: u64,
  task: Task,
  input: I,
  cancel: Cancel,
  done: impl FnOnce(Result<Output>),
) {
  let kind = metrics::Kind::of(&task);
  let started_at = metrics::started(kind, queued_at);
  let result = run_guarded(|| task.run(input.as_ref(), &cancel));
  metrics::finished(kind, started_at, metrics::Outcome::of(&result));
  drop(input);
  // Given back before the result is delivered, so whoever sees the result
  // also sees the budget free (the output's bytes are the caller's now).
  drop(permit);
  done(result);
}

/// Runs `task` on the calling thread (work too small to hand over), counted
/// in `metrics` with no wait and outside the budget.
pub fn run_counted(task: &Task, input: &[u8], cancel: &Cancel) -> Result<Output> {
  metrics::run_now(metrics::Kind::of(task), || run_guarded(|| task.run(input, cancel)))
}

/// How long the pool must stay idle before freed memory is given back.
pub const IDLE_TRIM_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

static TRIMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static TRIMMER: OnceLock<Option<std::sync::mpsc::SyncSender<()>>> = OnceLock::new();

/// After a burst, glibc keeps the freed memory of its per-thread arenas:
/// measured (benchmark/idle-rss.js, two runs), 16 threads kept 167-291 MiB
/// over the warmed-up level 10 s after a burst, 101-109 MiB with
/// malloc_trim(0) once idle. So once no task has started for
/// `IDLE_TRIM_AFTER`, a background thread trims (off the JS thread and the
/// pool; never while work runs). `RUSQUE_MALLOC_TRIM=0` turns it off.
pub(crate) fn went_idle() {
  let trimmer = TRIMMER.get_or_init(|| {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || std::env::var("RUSQUE_MALLOC_TRIM").is_ok_and(|v| v.trim() == "0") {
      return None;
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    std::thread::Builder::new()
      .name("rusque-trim".into())
      .spawn(move || {
        while rx.recv().is_ok() {
          let seen = metrics::started_total();
          std::thread::sleep(IDLE_TRIM_AFTER);
          // Work that came and went meanwhile signals again when it ends.
          if metrics::running() == 0 && metrics::started_total() == seen && malloc_trim() {
            TRIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
          }
        }
      })
      .ok()
      .map(|_| tx)
  });
  if let Some(tx) = trimmer {
    let _ = tx.try_send(());
  }
}

/// How many idle trims have run.
pub fn trims() -> u64 {
  TRIMS.load(std::sync::atomic::Ordering::Relaxed)
}

/// glibc's malloc_trim(0): gives freed memory of every malloc arena back to
/// the system. Returns false where there is no glibc.
pub fn malloc_trim() -> bool {
  #[cfg(all(target_os = "linux", target_env = "gnu"))]
  {
    unsafe { libc::malloc_trim(0) };
    true
  }
  #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
  {
    false
  }
}

/// Whether a task on a pool thread may hand part of its work to another
/// pool thread (rayon's `join`): the pool has more threads than tasks
/// running and none waiting, so one would otherwise sit idle. When every
/// thread is busy, splitting a task only takes a core from another.
pub fn spare_thread() -> bool {
  let threads = rayon::current_num_threads() as u64;
  rayon::current_thread_index().is_some() && threads > 1 && metrics::running() < threads && metrics::queued_total() == 0
}

/// Runs `f`, turning a panic into an `ERR_INTERNAL` error.
pub fn run_guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
  match panic::catch_unwind(AssertUnwindSafe(f)) {
    Ok(result) => result,
    Err(payload) => Err(Error::new(Code::Internal, format!("internal error in a rusque task: {}", panic_message(&payload)))),
  }
}

pub fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
  if let Some(s) = payload.downcast_ref::<&str>() {
    (*s).to_string()
  } else if let Some(s) = payload.downcast_ref::<String>() {
    s.clone()
  } else {
    "unknown panic".to_string()
  }
}

/// A cancellation flag shared by a job and whoever may cancel it. Tasks call
/// `check()` between their stages (decode, resize, encode) and stop early.
#[derive(Clone, Default, Debug)]
pub struct Cancel(Option<Arc<AtomicBool>>);

impl Cancel {
  /// A job that can never be cancelled: checks cost nothing.
  pub fn never() -> Self {
    Cancel(None)
  }
  pub fn new() -> Self {
    Cancel(Some(Arc::new(AtomicBool::new(false))))
  }
  pub fn cancel(&self) {
    if let Some(flag) = &self.0 {
      flag.store(true, Ordering::Release);
    }
  }
  pub fn is_cancelled(&self) -> bool {
    self.0.as_ref().is_some_and(|f| f.load(Ordering::Acquire))
  }
  pub fn check(&self) -> Result<()> {
    if self.is_cancelled() {
      Err(Error::aborted())
    } else {
      Ok(())
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::sync::mpsc;

  #[test]
  fn jobs_run_off_the_calling_thread() {
    let (tx, rx) = mpsc::channel();
    let caller = std::thread::current().id();
    spawn(move || {
      let _ = tx.send(std::thread::current().id());
    });
    let worker = rx.recv().unwrap();
    assert_ne!(worker, caller);
  }

  #[test]
  fn panics_become_internal_errors() {
    let err = run_guarded::<()>(|| panic!("boom")).unwrap_err();
    assert_eq!(err.code, Code::Internal);
    assert!(err.message.contains("boom"));
  }

  #[test]
  fn cancel_is_seen_by_check() {
    let c = Cancel::new();
    assert!(c.check().is_ok());
    c.clone().cancel();
    assert_eq!(c.check().unwrap_err().code, Code::Aborted);
    assert!(Cancel::never().check().is_ok());
  }

  #[test]
  fn an_idle_pool_trims_once() {
    let before = trims();
    let (tx, rx) = mpsc::channel();
    submit(Task::Hash(crate::tasks::hash::Algorithm::Sha256), vec![1; 1 << 20], Cancel::never(), move |r| {
      let _ = tx.send(r.is_ok());
    });
    assert!(rx.recv().unwrap());
    // Other tests' tasks may delay it; it comes once the pool has been idle a while.
    for _ in 0..200 {
      if trims() > before {
        return;
      }
      std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no trim after the pool went idle");
  }

  #[test]
  fn configure_rejects_out_of_range() {
    assert_eq!(configure(Some(0), None).unwrap_err().code, Code::InvalidArg);
    assert_eq!(configure(Some(MAX_THREADS + 1), None).unwrap_err().code, Code::InvalidArg);
    assert_eq!(configure(None, Some(42)).unwrap_err().code, Code::InvalidArg);
  }
}
