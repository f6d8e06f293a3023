//! A resque worker loop in Rust for native jobs: claim from Redis, read the
//! input, run the task on the CPU pool, write the output, ack, all without
//! the JS thread. One OS thread per slot (a registered worker name) does the
//! Redis I/O; the CPU work runs on the shared pool.
//!
//! Claims are atomic (a Lua script pops the entry and writes the worker's
//! working-on key together), so a worker killed mid-job leaves its job in that
//! key, where a surviving worker or node-resque's Scheduler recovers it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};

use super::job::{resolve_in_roots, InputRef, NativeJob, OutputRef, Spec};
use super::keys::Keys;
use super::payload;
use crate::error::{Code, Error};
use crate::pool::{self, Cancel};
use crate::tasks::Output;

/// Pops one entry from KEYS[1] and records it as KEYS[2]'s working-on payload.
const CLAIM: &str = r#"
local entry = redis.call('LPOP', KEYS[1])
if entry then
  local ok = pcall(cjson.decode, entry)
  local payload = entry
  if not ok then payload = cjson.encode(entry) end
  redis.call('SET', KEYS[2], '{"run_at":' .. cjson.encode(ARGV[1]) .. ',"queue":' .. cjson.encode(ARGV[2]) ..
    ',"worker":' .. cjson.encode(ARGV[3]) .. ',"payload":' .. payload .. '}')
end
return entry
"#;

#[derive(Debug, Clone)]
pub struct Config {
  pub url: String,
  pub namespace: String,
  pub queues: Vec<String>,
  /// One registered worker name per slot; each slot runs one job at a time.
  pub slots: Vec<String>,
  /// How long to sleep when every queue is empty (node-resque's `timeout`).
  pub poll: Duration,
  pub ping: Duration,
  pub roots: Vec<PathBuf>,
  pub jobs: HashMap<String, NativeJob>,
  /// Emit `job` and `success` events (failures and errors are always emitted);
  /// shared so the JS side can switch it as listeners come and go.
  pub verbose_events: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
pub enum Event {
  Start { slot: usize },
  End { slot: usize },
  Job { slot: usize, queue: String, payload: String },
  Success { slot: usize, queue: String, payload: String, result: Value, duration_ms: f64 },
  Failure { slot: usize, queue: String, payload: String, error: Error, duration_ms: f64 },
  Error { slot: usize, message: String },
  Pause { slot: usize },
}

pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

pub struct Handle {
  stop: Arc<AtomicBool>,
  threads: Vec<JoinHandle<()>>,
}

impl Handle {
  /// Asks every slot to stop after its current job; returns at once.
  pub fn stop(&self) {
    self.stop.store(true, Ordering::Release);
  }
  pub fn join(self) {
    for t in self.threads {
      let _ = t.join();
    }
  }
}

/// Writes beside the target and renames over it: a symlink planted at the
/// target is replaced, never followed out of the roots.
fn write_replacing(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
  let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), now_nanos()));
  let io = |e: std::io::Error| Error::invalid(format!("cannot write output path {}: {e}", path.display()));
  std::fs::write(&tmp, bytes).map_err(io)?;
  std::fs::rename(&tmp, path).map_err(|e| {
    let _ = std::fs::remove_file(&tmp);
    io(e)
  })
}

fn now_nanos() -> u128 {
  SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn now_seconds() -> u64 {
  SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn start(config: Config, sink: Sink) -> Handle {
  let stop = Arc::new(AtomicBool::new(false));
  let config = Arc::new(config);
  let threads = (0..config.slots.len())
    .map(|slot| {
      let (config, sink, stop) = (Arc::clone(&config), Arc::clone(&sink), Arc::clone(&stop));
      std::thread::Builder::new()
        .name(format!("rusque-resque-{slot}"))
        .spawn(move || Slot { slot, config, sink, stop }.run())
        .expect("rusque: could not start a worker thread")
    })
    .collect();
  Handle { stop, threads }
}

struct Slot {
  slot: usize,
  config: Arc<Config>,
  sink: Sink,
  stop: Arc<AtomicBool>,
}

/// A Redis failure: reconnect and carry on.
struct Disconnected(String);

impl From<redis::RedisError> for Disconnected {
  fn from(e: redis::RedisError) -> Self {
    Disconnected(e.to_string())
  }
}

impl Slot {
  fn name(&self) -> &str {
    &self.config.slots[self.slot]
  }
  fn queues(&self) -> String {
    self.config.queues.join(",")
  }
  fn stopped(&self) -> bool {
    self.stop.load(Ordering::Acquire)
  }

  fn sleep(&self, d: Duration) {
    let until = Instant::now() + d;
    while !self.stopped() {
      let left = until.saturating_duration_since(Instant::now());
      if left.is_zero() {
        break;
      }
      std::thread::sleep(left.min(Duration::from_millis(50)));
    }
  }

  fn run(self) {
    let keys = Keys::new(&self.config.namespace);
    let script = redis::Script::new(CLAIM);
    (self.sink)(Event::Start { slot: self.slot });
    let mut backoff = Duration::from_millis(100);
    // A job claimed but not acked when Redis went away: run it again once back.
    let mut inflight: Option<(String, String)> = None;
    let mut registered = false;
    while !self.stopped() {
      let mut con = match redis::Client::open(self.config.url.as_str()).and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5))) {
        Ok(c) => c,
        Err(e) => {
          (self.sink)(Event::Error { slot: self.slot, message: format!("Redis connection failed: {e}") });
          self.sleep(backoff);
          backoff = (backoff * 2).min(Duration::from_secs(5));
          continue;
        }
      };
      let _ = con.set_read_timeout(Some(Duration::from_secs(30)));
      backoff = Duration::from_millis(100);
      match self.serve(&mut con, &keys, &script, &mut inflight, &mut registered) {
        Ok(()) => {
          if let Err(Disconnected(e)) = self.untrack(&mut con, &keys) {
            (self.sink)(Event::Error { slot: self.slot, message: format!("could not unregister worker: {e}") });
          }
          registered = false;
          break;
        }
        Err(Disconnected(message)) => {
          (self.sink)(Event::Error { slot: self.slot, message: format!("Redis connection lost: {message}") });
          self.sleep(backoff);
        }
      }
    }
    if registered {
      // Stopped while Redis was away: one last try to unregister.
      if let Ok(mut con) = redis::Client::open(self.config.url.as_str()).and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2))) {
        let _ = self.untrack(&mut con, &keys);
      }
    }
    (self.sink)(Event::End { slot: self.slot });
  }

  fn track(&self, con: &mut redis::Connection, keys: &Keys) -> Result<(), Disconnected> {
    let queues = self.queues();
    redis::pipe()
      .sadd(keys.workers(), format!("{}:{}", self.name(), queues))
      .ignore()
      .set(keys.started(self.name(), &queues), now_seconds())
      .ignore()
      .set(keys.ping(self.name()), payload::ping(self.name(), &queues, now_seconds()))
      .ignore()
      .query::<()>(con)?;
    Ok(())
  }

  fn untrack(&self, con: &mut redis::Connection, keys: &Keys) -> Result<(), Disconnected> {
    let (name, queues) = (self.name(), self.queues());
    redis::pipe()
      .atomic()
      .srem(keys.workers(), format!("{name}:{queues}"))
      .ignore()
      .del(keys.ping(name))
      .ignore()
      .del(keys.working(name, &queues))
      .ignore()
      .del(keys.started(name, &queues))
      .ignore()
      .del(keys.worker_stat("failed", name))
      .ignore()
      .del(keys.worker_stat("processed", name))
      .ignore()
      .query::<()>(con)?;
    Ok(())
  }

  fn serve(
    &self,
    con: &mut redis::Connection,
    keys: &Keys,
    script: &redis::Script,
    inflight: &mut Option<(String, String)>,
    registered: &mut bool,
  ) -> Result<(), Disconnected> {
    self.track(con, keys)?;
    *registered = true;
    let queues = self.queues();
    let working = keys.working(self.name(), &queues);
    let mut last_ping = Instant::now();
    if let Some((queue, entry)) = inflight.clone() {
      self.process(con, keys, &queue, &entry)?;
      *inflight = None;
    }
    while !self.stopped() {
      if last_ping.elapsed() >= self.config.ping {
        redis::cmd("SET").arg(keys.ping(self.name())).arg(payload::ping(self.name(), &queues, now_seconds())).query::<()>(con)?;
        last_ping = Instant::now();
      }
      let mut claimed = None;
      for queue in &self.config.queues {
        // Bytes, not String: an entry that is not UTF-8 must fail as a bad
        // payload, not as a Redis error that would retry it forever.
        let entry: Option<Vec<u8>> = script
          .key(keys.queue(queue))
          .key(&working)
          .arg(payload::js_date_string(now_seconds()))
          .arg(queue)
          .arg(self.name())
          .invoke(con)?;
        if let Some(entry) = entry {
          claimed = Some((queue.clone(), String::from_utf8_lossy(&entry).into_owned()));
          break;
        }
      }
      match claimed {
        None => {
          (self.sink)(Event::Pause { slot: self.slot });
          self.sleep(self.config.poll);
        }
        Some((queue, entry)) => {
          *inflight = Some((queue.clone(), entry.clone()));
          self.process(con, keys, &queue, &entry)?;
          *inflight = None;
        }
      }
    }
    Ok(())
  }

  /// Runs one claimed entry and acks it. A job failure is recorded in Redis;
  /// only a Redis failure is returned as an error.
  fn process(&self, con: &mut redis::Connection, keys: &Keys, queue: &str, entry: &str) -> Result<(), Disconnected> {
    let started = Instant::now();
    if self.config.verbose_events.load(Ordering::Relaxed) {
      (self.sink)(Event::Job { slot: self.slot, queue: queue.to_string(), payload: entry.to_string() });
    }
    // Failures carry node-resque's `exception`: InvalidPayload for entries that
    // are not jobs, Error for an unknown class, else rusque's error code.
    let outcome: Result<Value, (&str, Error)> = match payload::parse(entry) {
      Err(e) => Err(("InvalidPayload", Error::invalid(e.0))),
      Ok(p) => match self.config.jobs.get(&p.class) {
        None => Err(("Error", Error::invalid(format!("No job defined for class \"{}\"", p.class)))),
        Some(job) => match job.spec(&p.args) {
          Err(e) => Err((e.code.as_str(), e)),
          Ok(spec) => self.execute(con, spec)?.map_err(|e| (e.code.as_str(), e)),
        },
      },
    };
    let name = self.name().to_string();
    let working = keys.working(&name, &self.queues());
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
      Ok(result) => {
        redis::pipe()
          .atomic()
          .del(&working)
          .ignore()
          .incr(keys.stat("processed"), 1)
          .ignore()
          .incr(keys.worker_stat("processed", &name), 1)
          .ignore()
          .query::<()>(con)?;
        if self.config.verbose_events.load(Ordering::Relaxed) {
          (self.sink)(Event::Success { slot: self.slot, queue: queue.to_string(), payload: entry.to_string(), result, duration_ms });
        }
      }
      Err((exception, error)) => {
        let record = payload::failure(
          &name,
          queue,
          &payload::unparsable(entry),
          exception,
          &error.message,
          &payload::js_date_string(now_seconds()),
        );
        redis::pipe()
          .atomic()
          .del(&working)
          .ignore()
          .incr(keys.stat("failed"), 1)
          .ignore()
          .incr(keys.worker_stat("failed", &name), 1)
          .ignore()
          .rpush(keys.failed(), record)
          .ignore()
          .query::<()>(con)?;
        (self.sink)(Event::Failure { slot: self.slot, queue: queue.to_string(), payload: entry.to_string(), error, duration_ms });
      }
    }
    Ok(())
  }

  fn execute(&self, con: &mut redis::Connection, spec: Spec) -> Result<Result<Value, Error>, Disconnected> {
    let input = match &spec.input {
      InputRef::Key(k) => match redis::cmd("GET").arg(k).query::<Option<Vec<u8>>>(con)? {
        Some(bytes) => bytes,
        None => return Ok(Err(Error::new(Code::InputNotFound, format!("no value at Redis key {k:?}")))),
      },
      InputRef::Base64(b) => match base64::engine::general_purpose::STANDARD.decode(b) {
        Ok(bytes) => bytes,
        Err(e) => return Ok(Err(Error::invalid(format!("input.base64 is not valid base64: {e}")))),
      },
      InputRef::Path(p) => match resolve_in_roots(p, &self.config.roots, false).and_then(|path| {
        std::fs::read(&path).map_err(|e| Error::invalid(format!("cannot read input path {p:?}: {e}")))
      }) {
        Ok(bytes) => bytes,
        Err(e) => return Ok(Err(e)),
      },
    };
    // The CPU work goes to the pool; this thread only waits for it.
    let (tx, rx) = mpsc::sync_channel(1);
    let task = spec.task.clone();
    pool::spawn(move || {
      let result = pool::run_guarded(|| task.run(&input, &Cancel::never()));
      let _ = tx.send(result);
    });
    let output = match rx.recv() {
      Ok(Ok(output)) => output,
      Ok(Err(e)) => return Ok(Err(e)),
      Err(_) => return Ok(Err(Error::new(Code::Internal, "the pool dropped a job"))),
    };
    let (bytes, result): (Vec<u8>, Value) = match output {
      Output::Bytes(b) => {
        let n = b.len();
        (b, json!({ "size": n }))
      }
      Output::Text(t) => (t.clone().into_bytes(), Value::String(t)),
      Output::Metadata(m) => {
        let v = json!({
          "format": m.format.name(), "width": m.width, "height": m.height, "channels": m.channels,
          "hasAlpha": m.has_alpha, "orientation": m.orientation, "size": m.size,
        });
        (v.to_string().into_bytes(), v)
      }
    };
    let mut result = result;
    let wrote = match &spec.output {
      OutputRef::None => None,
      OutputRef::Key { key, ttl } => {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(bytes);
        if let Some(ttl) = ttl {
          cmd.arg("EX").arg(*ttl);
        }
        cmd.query::<()>(con)?;
        Some(("key", Value::String(key.clone())))
      }
      OutputRef::Path(p) => match resolve_in_roots(p, &self.config.roots, true).and_then(|path| write_replacing(&path, &bytes).map(|()| path)) {
        Ok(path) => Some(("path", Value::String(path.display().to_string()))),
        Err(e) => return Ok(Err(e)),
      },
    };
    if let (Some((k, v)), Some(obj)) = (wrote, result.as_object_mut()) {
      obj.insert(k.to_string(), v);
    }
    Ok(Ok(result))
  }
}
