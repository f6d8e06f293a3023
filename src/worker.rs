//! `NativeWorker`: a running set of Rust resque worker slots
//! (rusque_resque::worker), driven by lib/resque/native-loop.js.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use rusque_core::metrics;

use crate::events::{event_json, EventFn};
use crate::pool::JsHistogram;
use crate::error::{invalid, napi_failed, to_napi, JsError, Result};
use crate::{jobs, keep_alive};

/// The config lib/resque/native-loop.js builds for a NativeWorker.
#[napi(object)]
pub struct NativeWorkerConfig {
  /// `redis://[user:password@]host:port/db`.
  pub url: String,
  /// A Redis Cluster's startup nodes, one URL each (absent or empty: `url`
  /// is one server). The namespace must then carry a hash tag.
  pub nodes: Option<Vec<String>>,
  /// The joined key prefix (node-resque's namespace), e.g. `resque`.
  pub namespace: Option<String>,
  pub queues: Vec<String>,
  /// One worker name per slot.
  pub slots: Vec<String>,
  /// Poll interval when the queues are empty, in ms (default 5000).
  pub poll_ms: Option<f64>,
  /// How often each slot refreshes its ping key, in ms (default 5000).
  pub ping_ms: Option<f64>,
  pub roots: Option<Vec<String>>,
  /// Absent: true.
  pub follow_symlinks: Option<bool>,
  /// The per-job events JS listens for (bit 1 `job`, bit 2 `success`); absent: all.
  pub events: Option<u32>,
  /// The Worker's `keys` option (`{ prefix }`) as JSON, parsed as for the JS loop (jobs::key_policy).
  pub keys: Option<String>,
  /// Job class name → its native task.
  pub jobs: HashMap<String, NativeWorkerJob>,
}

#[napi(object)]
pub struct NativeWorkerJob {
  /// `resize`, `metadata` or `hash`.
  pub task: String,
  /// The job's default task options as a JSON object (native(task, defaults)).
  pub defaults: String,
  /// Its node-resque plugins the Rust loop runs, as JSON `[[name, options], ...]`
  /// (rusque_resque::plugins); absent: none.
  pub plugins: Option<String>,
  /// It answers remote calls (rusque_resque::remote; `remoteJobs()`).
  pub remote: Option<bool>,
}

/// The node-resque plugins (by name) that native jobs may have and still
/// run in the Rust loop.
#[napi]
pub fn native_plugins() -> Vec<String> {
  rusque_resque::plugins::NATIVE.iter().map(|p| p.to_string()).collect()
}

/// The hash tag every key under `namespace` (after an ioredis `keyPrefix`)
/// shares on a Redis Cluster; ERR_INVALID_ARG when there is none
/// (rusque_resque::keys::Keys::cluster_tag). lib/resque/connection.js
/// checks a Cluster client's namespace with it at connect().
#[napi]
pub fn cluster_tag(key_prefix: String, namespace: String) -> Result<String> {
  rusque_resque::keys::Keys::prefixed(&key_prefix, &namespace).cluster_tag().map(str::to_string).map_err(to_napi)
}

/// Whether the Rust loop runs a job's standard plugins (JSON `[[name,
/// options], ...]`, see rusque_resque::plugins::Plugins::parse); false: the
/// JS loop does. Bad options of a plugin it runs throw ERR_INVALID_ARG.
#[napi]
pub fn check_native_plugins(plugins_json: String) -> Result<bool> {
  rusque_resque::plugins::Plugins::parse(&plugins_json).map(|p| p.is_some()).map_err(to_napi)
}

/// A millisecond option as a Duration: a finite number >= 0, else ERR_INVALID_ARG.
pub(crate) fn millis(name: &str, v: Option<f64>) -> Result<std::time::Duration> {
  match v {
    None => Ok(std::time::Duration::from_millis(5000)),
    Some(ms) if ms >= 0.0 => std::time::Duration::try_from_secs_f64(ms / 1000.0)
      .map_err(|_| invalid(format!("{name} must be a finite number of milliseconds, got {ms}"))),
    Some(ms) => Err(invalid(format!("{name} must be a number of milliseconds >= 0, got {ms}"))),
  }
}

impl TryFrom<NativeWorkerConfig> for rusque_resque::worker::Config {
  type Error = JsError;

  fn try_from(c: NativeWorkerConfig) -> Result<Self> {
    use rusque_resque::job::{Kind, NativeJob};
    use serde_json::Value;
    let namespace = c.namespace.unwrap_or_else(|| "resque".to_string());
    let keys = jobs::key_policy(&namespace, c.keys.as_deref())?;
    let mut native_jobs = HashMap::new();
    for (class, def) in c.jobs {
      let kind = Kind::parse(&def.task).map_err(to_napi)?;
      let defaults = match serde_json::from_str::<Value>(&def.defaults) {
        Ok(Value::Object(m)) => m,
        _ => return Err(invalid(format!("job {class:?}: native(task, defaults): defaults must be an object of task options"))),
      };
      let plugins = match def.plugins.as_deref() {
        None => Default::default(),
        Some(json) => match rusque_resque::plugins::Plugins::parse(json) {
          Ok(Some(p)) => p,
          Ok(None) => return Err(invalid(format!("job {class:?}: its plugins run in the JS loop, not in a native worker"))),
          Err(e) => return Err(invalid(format!("job {class:?}: {}", e.message))),
        },
      };
      let job = NativeJob::new(kind, defaults).with_keys(keys.clone()).with_plugins(plugins);
      native_jobs.insert(class, if def.remote == Some(true) { job.with_remote(&namespace) } else { job });
    }
    let events = match c.events {
      None => u8::MAX,
      Some(m) => u8::try_from(m).map_err(|_| invalid(format!("events must be a bit mask from 0 to 255, got {m}")))?,
    };
    if c.slots.is_empty() {
      return Err(invalid("a native worker needs at least one slot".into()));
    }
    let target = rusque_resque::link::Target::new(&c.url, &c.nodes.unwrap_or_default(), &rusque_resque::keys::Keys::new(&namespace)).map_err(to_napi)?;
    Ok(rusque_resque::worker::Config {
      target,
      namespace,
      queues: c.queues,
      slots: c.slots,
      poll: millis("pollMs", c.poll_ms)?,
      ping: millis("pingMs", c.ping_ms)?,
      roots: Arc::new(jobs::open_roots(&c.roots.unwrap_or_default(), c.follow_symlinks.unwrap_or(true))?),
      jobs: native_jobs,
      events: Arc::new(std::sync::atomic::AtomicU8::new(events)),
    })
  }
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
  /// The pending batch as a JSON array under construction (`[e1,e2`), built by the loop's I/O threads.
  events: Arc<Mutex<String>>,
  tsfn: Arc<EventFn>,
}

#[napi]
impl NativeWorker {
  #[napi(constructor)]
  pub fn new(env: Env, config: NativeWorkerConfig, callback: Function<'static>) -> Result<Self> {
    let config = rusque_resque::worker::Config::try_from(config)?;
    let events: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    // The batch arrives complete: the JS thread never takes the slots' lock.
    let tsfn: EventFn =
      callback.build_threadsafe_function::<String>().callee_handled::<false>().build_callback(|ctx| Ok(ctx.value)).map_err(napi_failed)?;
    check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) }).map_err(napi_failed)?;
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
        // Ends when the last I/O thread drops the sink (and with it `wake`).
        // This thread, not the JS thread, takes the batch from the slots: an
        // I/O thread preempted while holding the lock then delays this
        // thread only.
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
      .map_err(|e| to_napi(rusque_core::Error::internal(format!("could not start the event thread: {e}"))))?;
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
        JsSlotStats {
          completed: s.completed.load(Relaxed) as f64,
          failed: s.failed.load(Relaxed) as f64,
          run: s.run.snapshot().into(),
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
