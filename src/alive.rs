//! `Heartbeat`: a JS-loop Worker's pings from a Rust thread
//! (rusque_resque::alive), driven by lib/resque/alive.js.

use std::sync::{Arc, Mutex, OnceLock};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{to_napi, Result};
use crate::worker::millis;

/// The config lib/resque/alive.js builds for a Heartbeat.
#[napi(object)]
pub struct HeartbeatConfig {
  /// `redis://[user:password@]host:port/db`, as for NativeWorker.
  pub url: String,
  /// A Redis Cluster's startup nodes, as for NativeWorker (absent or empty: `url` is one server).
  pub nodes: Option<Vec<String>>,
  /// node-resque's namespace, joined (lib/resque/keys.js keyMaker).
  pub namespace: String,
  /// The ioredis client's `keyPrefix`, put before every key verbatim (absent: none).
  pub key_prefix: Option<String>,
  /// One registered worker name per slot.
  pub slots: Vec<String>,
  /// Their registered queue list (`a,b`, or `*`).
  pub queues: String,
  /// Ping interval in ms (the Worker's `timeout`).
  pub every_ms: f64,
  /// How often JS calls `touch()`, in ms: lag counts past it.
  pub check_in_ms: f64,
  /// The value JS's own first ping left in the first slot's ping key.
  pub expect: Option<String>,
}

/// Why `start()` could not start pinging: the catalogue's code and a message.
#[napi(object)]
pub struct HeartbeatFailure {
  pub code: String,
  pub message: String,
}

#[napi(object)]
pub struct HeartbeatNews {
  /// Unix seconds of the last ping written (0: none yet).
  pub pinged: f64,
  /// How many pings were written so far (one for all slots).
  pub pings: f64,
  /// The JS thread's current lag, in ms.
  pub lag: f64,
  /// The last ping failure since the previous call.
  pub error: Option<HeartbeatFailure>,
}

fn failure(e: rusque_core::Error) -> HeartbeatFailure {
  HeartbeatFailure { code: e.code.as_str().to_string(), message: e.message }
}

#[napi]
pub struct Heartbeat {
  config: Mutex<Option<rusque_resque::alive::Config>>,
  beat: Arc<OnceLock<rusque_resque::alive::Heartbeat>>,
}

pub struct Starting {
  config: Option<rusque_resque::alive::Config>,
  beat: Arc<OnceLock<rusque_resque::alive::Heartbeat>>,
}

impl Task for Starting {
  type Output = Option<HeartbeatFailure>;
  type JsValue = Option<HeartbeatFailure>;

  fn compute(&mut self) -> napi::Result<Self::Output> {
    let Some(config) = self.config.take() else {
      return Ok(Some(failure(rusque_core::Error::invalid("this heartbeat was started already"))));
    };
    Ok(match rusque_resque::alive::Heartbeat::start(config) {
      Ok(h) => {
        let _ = self.beat.set(h);
        None
      }
      Err(e) => Some(failure(e)),
    })
  }

  fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
    Ok(output)
  }
}

pub struct Stopping {
  beat: Arc<OnceLock<rusque_resque::alive::Heartbeat>>,
}

impl Task for Stopping {
  type Output = ();
  type JsValue = ();

  fn compute(&mut self) -> napi::Result<()> {
    if let Some(h) = self.beat.get() {
      h.stop();
    }
    Ok(())
  }

  fn resolve(&mut self, _env: Env, _output: ()) -> napi::Result<()> {
    Ok(())
  }
}

#[napi]
impl Heartbeat {
  #[napi(constructor)]
  pub fn new(config: HeartbeatConfig) -> Result<Self> {
    let keys = rusque_resque::keys::Keys::prefixed(config.key_prefix.as_deref().unwrap_or_default(), &config.namespace);
    let target = rusque_resque::link::Target::new(&config.url, &config.nodes.unwrap_or_default(), &keys).map_err(to_napi)?;
    let config = rusque_resque::alive::Config {
      target,
      namespace: config.namespace,
      key_prefix: config.key_prefix.unwrap_or_default(),
      slots: config.slots,
      queues: config.queues,
      every: millis("everyMs", Some(config.every_ms))?,
      check_in: millis("checkInMs", Some(config.check_in_ms))?,
      expect: config.expect,
    };
    Ok(Heartbeat { config: Mutex::new(Some(config)), beat: Arc::new(OnceLock::new()) })
  }

  /// Connects (off the JS thread), checks `expect` and starts pinging.
  /// Resolves to null, or to why it did not start.
  #[napi(ts_return_type = "Promise<HeartbeatFailure | null>")]
  pub fn start(&self) -> AsyncTask<Starting> {
    let config = self.config.lock().unwrap_or_else(|p| p.into_inner()).take();
    AsyncTask::new(Starting { config, beat: Arc::clone(&self.beat) })
  }

  /// The JS thread checks in (cheap: one atomic store).
  #[napi]
  pub fn touch(&self) {
    if let Some(h) = self.beat.get() {
      h.touch();
    }
  }

  /// The last ping's time, the current lag, and the last failure since the previous call.
  #[napi]
  pub fn news(&self) -> HeartbeatNews {
    match self.beat.get() {
      None => HeartbeatNews { pinged: 0.0, pings: 0.0, lag: 0.0, error: None },
      Some(h) => {
        let news = h.news();
        HeartbeatNews { pinged: news.pinged as f64, pings: news.pings as f64, lag: h.lag().as_millis() as f64, error: news.error.map(failure) }
      }
    }
  }

  /// Stops pinging; resolves once no ping of this heartbeat can land any more.
  #[napi(ts_return_type = "Promise<void>")]
  pub fn stop(&self) -> AsyncTask<Stopping> {
    AsyncTask::new(Stopping { beat: Arc::clone(&self.beat) })
  }
}
