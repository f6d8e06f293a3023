//! Node.js glue for native jobs run by the JS loop (lib/resque/native-job.js):
//! the job is parsed, checked and merged over its defaults by the same Rust
//! code as in the Rust loop (rusque_resque::job), and its file I/O goes
//! through the same `Roots`. File reads, the task and file writes run on the
//! rusque pool, never on the JS thread; JS does only the Redis I/O.
//!
//! Errors cross as coded errors from the sync calls (src/error.rs), and as
//! `code` and `text` in completions.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use rusque_resque::files::Roots;
use rusque_resque::job::{input_too_large, InputRef, KeyOutput, Kind, NativeJob, OutputRef, Spec};
use rusque_resque::keys::KeyPolicy;
use rusque_resque::payload::parse_json;
use rusque_core::{pool, Cancel};

use crate::error::{invalid, napi_failed, to_napi, Result};
use serde_json::Value;

/// The Worker's `keys` option (`{ prefix?: string | string[] }`), as JSON,
/// as a policy for `namespace`. Both loops' configs read it here.
pub fn key_policy(namespace: &str, keys_json: Option<&str>) -> Result<KeyPolicy> {
  let keys = keys_json.map(serde_json::from_str::<Value>).transpose().map_err(|e| invalid(format!("keys is not valid JSON: {e}")))?;
  let keys = keys.as_ref();
  let bad = || invalid("keys must be { prefix: string | string[] } (the key prefixes native jobs may read and write)".into());
  let prefixes = match keys {
    None | Some(Value::Null) => Vec::new(),
    Some(Value::Object(m)) => {
      if let Some(k) = m.keys().find(|k| k.as_str() != "prefix") {
        return Err(invalid(format!("keys: unknown option {k:?}; the one option is prefix (a string or an array of strings)")));
      }
      match m.get("prefix") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(p)) => vec![p.clone()],
        Some(Value::Array(a)) => a.iter().map(|p| p.as_str().map(String::from).ok_or_else(bad)).collect::<Result<_>>()?,
        Some(_) => return Err(bad()),
      }
    }
    Some(_) => return Err(bad()),
  };
  if prefixes.iter().any(String::is_empty) {
    return Err(invalid("keys.prefix may not be empty (omit it to allow any key outside the namespace)".into()));
  }
  Ok(KeyPolicy::new(namespace, prefixes))
}

/// Opens the Worker's roots (absolute paths to existing directories);
/// `follow_symlinks` false: no symlink inside them is followed.
pub fn open_roots(roots: &[String], follow_symlinks: bool) -> Result<Roots> {
  Roots::open_with(roots, follow_symlinks).map_err(to_napi)
}

/// One finished job for JS: `code` null on success, `text` the result as
/// JSON (or the error message), `bytes` a key output's value.
#[napi(object)]
pub struct JobDone {
  pub id: u32,
  pub code: Option<String>,
  pub text: String,
  pub bytes: Option<Buffer>,
}

struct Done {
  id: u32,
  result: rusque_core::Result<(Value, Option<KeyOutput>)>,
}

type DoneFn = ThreadsafeFunction<(), Unknown<'static>, Vec<JobDone>, Status, false>;

struct Shared {
  queue: Arc<Mutex<Vec<Done>>>,
  tsfn: DoneFn,
}

/// One job, parsed and checked: what JS must fetch from and store in Redis.
#[napi]
pub struct NativePlan {
  spec: Option<Spec>,
}

#[napi]
impl NativePlan {
  /// The Redis key to read the input from, if the input is a key.
  #[napi(getter)]
  pub fn input_key(&self) -> Option<String> {
    match self.spec.as_ref().map(|s| &s.input) {
      Some(InputRef::Key(k)) => Some(k.clone()),
      _ => None,
    }
  }

  /// The Redis key to store the output at, if the output is a key.
  #[napi(getter)]
  pub fn output_key(&self) -> Option<String> {
    match self.spec.as_ref().map(|s| &s.output) {
      Some(OutputRef::Key { key, .. }) => Some(key.clone()),
      _ => None,
    }
  }

  /// The output key's expiry in seconds, if any.
  #[napi(getter)]
  pub fn output_ttl(&self) -> Option<f64> {
    match self.spec.as_ref().map(|s| &s.output) {
      Some(OutputRef::Key { ttl: Some(t), .. }) => Some(*t as f64),
      _ => None,
    }
  }

  /// The Redis keys the job's `composite` overlays name, in order: JS
  /// reads them and passes their values to `run`.
  #[napi(getter)]
  pub fn overlay_keys(&self) -> Vec<String> {
    self.spec.as_ref().map(Spec::overlay_keys).unwrap_or_default()
  }

  /// Throws ERR_LIMIT_EXCEEDED if the input at Redis key `key` (the input's
  /// or an overlay's), of `size` bytes, is over the job's maxInputBytes
  /// (checked before the value is fetched).
  #[napi]
  pub fn check_input_size(&self, size: f64, key: String) -> Result<()> {
    match &self.spec {
      Some(spec) if size > spec.max_input_bytes as f64 => Err(to_napi(input_too_large(&format!("Redis key {key:?}"), size as u64, spec.max_input_bytes))),
      _ => Ok(()),
    }
  }
}

/// The config lib/resque/native-job.js builds for a Worker's NativeJobs.
#[napi(object)]
pub struct NativeJobsConfig {
  /// The joined key prefix (node-resque's namespace); absent: `resque`.
  pub namespace: Option<String>,
  /// Absolute paths to existing directories.
  pub roots: Option<Vec<String>>,
  /// Absent: true.
  pub follow_symlinks: Option<bool>,
  /// The Worker's `keys` option (`{ prefix }`) as JSON (key_policy).
  pub keys: Option<String>,
}

/// A Worker's native jobs for the JS loop: its roots (opened once, at the
/// Worker's construction) and key policy, and a completion callback.
#[napi]
pub struct NativeJobs {
  roots: Arc<Roots>,
  keys: KeyPolicy,
  shared: Arc<Shared>,
}

#[napi]
impl NativeJobs {
  /// Throws ERR_INVALID_ARG for a root that is not an absolute path to an
  /// existing directory, or a bad keys option.
  #[napi(constructor)]
  pub fn new(env: Env, config: NativeJobsConfig, callback: Function<'static>) -> Result<Self> {
    let roots = open_roots(&config.roots.unwrap_or_default(), config.follow_symlinks.unwrap_or(true))?;
    let keys = key_policy(config.namespace.as_deref().unwrap_or("resque"), config.keys.as_deref())?;
    let queue: Arc<Mutex<Vec<Done>>> = Arc::new(Mutex::new(Vec::new()));
    let drain = Arc::clone(&queue);
    let tsfn: DoneFn = callback.build_threadsafe_function::<()>().callee_handled::<false>().build_callback(move |_ctx| {
      let done = std::mem::take(&mut *drain.lock().unwrap_or_else(|p| p.into_inner()));
      Ok(done.into_iter().map(to_js).collect())
    }).map_err(napi_failed)?;
    // Idle, it must not keep the process alive; JS refs it while jobs run.
    check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) }).map_err(napi_failed)?;
    Ok(NativeJobs { roots: Arc::new(roots), keys, shared: Arc::new(Shared { queue, tsfn }) })
  }

  /// The roots after symlinks, as opened.
  #[napi(getter)]
  pub fn roots(&self) -> Vec<String> {
    self.roots.canonical().into_iter().map(|p| p.display().to_string()).collect()
  }

  /// Parses and checks one job: `task` and its `defaults` (JSON object) from
  /// native(), `args` (JSON array) from the queue entry. Throws a coded error.
  #[napi]
  pub fn plan(&self, task: String, defaults_json: String, args_json: String) -> Result<NativePlan> {
    let kind = Kind::parse(&task).map_err(to_napi)?;
    let defaults = match parse_json(&defaults_json) {
      Ok(Value::Object(m)) => m,
      _ => return Err(invalid("native(task, defaults): defaults must be an object of task options".into())),
    };
    let args = match parse_json(&args_json).map_err(|e| invalid(format!("native job args are not valid JSON: {e}")))? {
      Value::Array(a) => a,
      other => vec![other],
    };
    let spec = NativeJob::new(kind, defaults).with_keys(self.keys.clone()).spec(&args).map_err(to_napi)?;
    Ok(NativePlan { spec: Some(spec) })
  }

  /// Runs a planned job on the pool: reads its file or base64 input (or
  /// takes `input`, a key input's value, null if the key was absent), and
  /// its overlays (`overlays`: the values of `overlayKeys`, null for an
  /// absent key), runs the task, writes a file output; the completion
  /// arrives under `id`.
  #[napi]
  pub fn run(&self, id: u32, plan: &mut NativePlan, input: Option<Buffer>, overlays: Option<Vec<Option<Buffer>>>) -> Result<()> {
    let mut spec = plan.spec.take().ok_or_else(|| invalid("this job plan ran already".into()))?;
    let given = input.map(|b| b.to_vec());
    let overlays: Vec<Option<Vec<u8>>> = overlays.unwrap_or_default().into_iter().map(|b| b.map(|b| b.to_vec())).collect();
    let roots = Arc::clone(&self.roots);
    let shared = Arc::clone(&self.shared);
    pool::spawn(move || {
      let result = pool::run_guarded(|| {
        let input = match &spec.input {
          InputRef::Key(k) => spec.key_input(k, given)?,
          _ => spec.local_input(&roots).unwrap_or_else(|| Err(rusque_core::Error::internal("no input")))?,
        };
        spec.read_overlays(&roots, overlays)?;
        let output = spec.task.run(&input, &Cancel::never())?;
        drop(input);
        spec.finish(output, &roots)
      });
      shared.deliver(Done { id, result });
    });
    Ok(())
  }

  /// Keeps the event loop alive (true) while jobs run, or lets it exit.
  #[napi]
  pub fn set_active(&self, env: Env, active: bool) -> Result<()> {
    crate::keep_alive(&env, self.shared.tsfn.raw(), active)
  }
}

impl Shared {
  fn deliver(&self, done: Done) {
    // The call fails only while the environment shuts down; nobody is left to tell then.
    crate::enqueue_and_wake(&self.queue, [done], || {
      let _ = self.tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
    });
  }
}

fn to_js(d: Done) -> JobDone {
  match d.result {
    Ok((result, key_output)) => JobDone {
      id: d.id,
      code: None,
      text: result.to_string(),
      bytes: key_output.map(|o| Buffer::from(o.bytes)),
    },
    Err(e) => JobDone { id: d.id, code: Some(e.code.as_str().to_string()), text: e.message, bytes: None },
  }
}
