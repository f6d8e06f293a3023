//! Native job definitions: how a resque job's JSON args become a task, the
//! bytes it reads and where its result goes.
//!
//! Args: `{ input: { path } | { key } | { base64 }, output?: { path } | { key, ttl }, ...taskOptions }`.
//! Task options are read by the core's spec (rusque_core::spec), the same
//! parser as the JS functions'; with `maxInputBytes`, any other key is
//! refused. Both loops build their jobs here: the Rust loop directly, the
//! JS loop through the napi glue.

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::files::{Roots, DEFAULT_MAX_INPUT_BYTES};
use super::keys::{KeyPolicy, Keys};
use super::plugins::Plugins;
use super::remote::{self, Call};
use rusque_core::error::{Code, Error, Result};
use rusque_core::spec::values::whole;
use rusque_core::spec::{self, check_keys, describe, fields, TaskName};
use rusque_core::tasks::image::composite::{input_name, Source};
use rusque_core::tasks::image::ResizeOptions;
use rusque_core::tasks::{Output, Task};

/// The native tasks: the core spec's task names.
pub type Kind = TaskName;

/// A job class whose work is a native task, with default options.
#[derive(Debug, Clone)]
pub struct NativeJob {
  pub kind: Kind,
  pub defaults: Map<String, Value>,
  /// Which Redis keys its input and output may name.
  pub keys: KeyPolicy,
  /// node-resque plugins the Rust loop runs for it (crate::plugins).
  pub plugins: Plugins,
  /// Remote calls (crate::remote) under this key layout: the args name a
  /// call, not an input and output.
  pub remote: Option<Keys>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InputRef {
  Path(String),
  Key(String),
  Base64(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputRef {
  None,
  Path(String),
  Key { key: String, ttl: Option<u64> },
  /// A remote call's reply (crate::remote).
  Reply(Box<Call>),
}

#[derive(Debug, Clone)]
pub struct Spec {
  pub task: Task,
  pub input: InputRef,
  pub output: OutputRef,
  /// The most input bytes the job may read (file, key or base64).
  pub max_input_bytes: u64,
}

/// A native job's argument besides the task's options (which the core's
/// spec reads from the same object). Only its field names are read from
/// this type; the values are checked below.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct JobArgs {
  input: Option<Value>,
  output: Option<Value>,
  max_input_bytes: Option<Value>,
}

/// The keys of `input` and `output` (each takes one of path, key, base64).
#[derive(Deserialize)]
#[allow(dead_code)]
struct InputKeys {
  path: Option<Value>,
  key: Option<Value>,
  base64: Option<Value>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct OutputKeys {
  path: Option<Value>,
  key: Option<Value>,
  ttl: Option<Value>,
}

/// `what` as an object whose keys `T` accepts.
fn obj<'a, T: serde::de::DeserializeOwned>(v: &'a Value, what: &str, shape: &str) -> Result<&'a Map<String, Value>> {
  let m = v.as_object().ok_or_else(|| Error::invalid(format!("{what} must be {shape}, got {}", describe(v))))?;
  check_keys(what, m, fields::<T>(), &[])?;
  Ok(m)
}

fn string(m: &Map<String, Value>, what: &str, k: &str) -> Result<Option<String>> {
  match m.get(k) {
    None | Some(Value::Null) => Ok(None),
    Some(Value::String(s)) => Ok(Some(s.clone())),
    Some(v) => Err(Error::invalid(format!("{what}.{k} must be a string, got {}", describe(v)))),
  }
}

fn input_ref(v: Option<&Value>) -> Result<InputRef> {
  let v = v.filter(|v| !v.is_null()).ok_or_else(|| Error::invalid("native job args need input: { path } | { key } | { base64 }"))?;
  let m = obj::<InputKeys>(v, "input", "{ path } | { key } | { base64 }")?;
  if let Some(p) = string(m, "input", "path")? {
    Ok(InputRef::Path(p))
  } else if let Some(k) = string(m, "input", "key")? {
    Ok(InputRef::Key(k))
  } else if let Some(b) = string(m, "input", "base64")? {
    Ok(InputRef::Base64(b))
  } else {
    Err(Error::invalid("input must have one of path, key or base64"))
  }
}

const MAX_TTL_SECONDS: u64 = 1_000_000_000_000_000;

fn output_ref(v: Option<&Value>) -> Result<OutputRef> {
  let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(OutputRef::None) };
  let m = obj::<OutputKeys>(v, "output", "{ path } | { key, ttl }")?;
  if let Some(p) = string(m, "output", "path")? {
    Ok(OutputRef::Path(p))
  } else if let Some(k) = string(m, "output", "key")? {
    let ttl = match m.get("ttl") {
      None | Some(Value::Null) => None,
      // Redis refuses an expiry past about 9.2e15 s from now; such a ttl
      // would otherwise fail the ack on every retry.
      Some(t) => Some(
        whole(t)
          .filter(|&t| (1..=MAX_TTL_SECONDS).contains(&t))
          .ok_or_else(|| Error::invalid(format!("output.ttl must be a positive integer of seconds, at most 10^15; got {}", describe(t))))?,
      ),
    };
    Ok(OutputRef::Key { key: k, ttl })
  } else {
    Err(Error::invalid("output must have path or key"))
  }
}

/// The task options of a job (merged over the defaults), read by the core's spec.
fn task_of(kind: Kind, merged: &Map<String, Value>) -> Result<Task> {
  spec::task(kind, &Value::Object(merged.clone()), fields::<JobArgs>())
}

fn resize_of(m: &Map<String, Value>) -> Result<ResizeOptions> {
  match task_of(Kind::Resize, m)? {
    Task::Resize(o) => Ok(o),
    _ => Err(Error::internal("the resize spec made another task")),
  }
}

/// Options that guard resources. When a native() definition sets a pixel
/// limit, a job may lower the limits in force, never raise them (`false` or
/// `0`, "unlimited", counts as raising; `true` stands for the built-in
/// default). `maxInputBytes` is a ceiling even when the definition does not
/// set it: its default then is. Both sides are read by the parsers the task
/// itself uses, so a value that reaches the task is the value compared.
const PIXEL_LIMITS: [&str; 2] = ["limitInputPixels", "limitOutputPixels"];

/// (input, output) pixel limits in force, with "unlimited" as u64::MAX so
/// that a larger number is always the looser limit.
fn pixel_limits_in_force(o: &ResizeOptions) -> (u64, u64) {
  let open = |n: u64| if n == 0 { u64::MAX } else { n };
  (open(o.limit_input_pixels), open(o.effective_limit_output_pixels()))
}

fn describe_limit(n: u64) -> String {
  if n == u64::MAX { "unlimited".into() } else { n.to_string() }
}

fn max_input_bytes(m: &Map<String, Value>) -> Result<u64> {
  match m.get("maxInputBytes") {
    None | Some(Value::Null) => Ok(DEFAULT_MAX_INPUT_BYTES),
    // At most 2^53: the JS loop reads the same value as a Number.
    Some(v) => whole(v)
      .filter(|&n| (1..=9_007_199_254_740_992).contains(&n))
      .ok_or_else(|| Error::invalid(format!("maxInputBytes must be a positive integer of bytes, got {}", describe(v)))),
  }
}

/// The error for an input over the job's `maxInputBytes`.
pub fn input_too_large(what: &str, size: u64, max: u64) -> Error {
  Error::new(
    Code::LimitExceeded,
    format!("{what} holds {size} bytes, over this job's maxInputBytes ({max}); raise maxInputBytes in native() if such inputs are expected"),
  )
}

impl NativeJob {
  pub fn new(kind: Kind, defaults: Map<String, Value>) -> Self {
    NativeJob { kind, defaults, keys: KeyPolicy::default(), plugins: Plugins::default(), remote: None }
  }

  /// The same job answering remote calls under `namespace`'s layout.
  pub fn with_remote(mut self, namespace: &str) -> Self {
    self.remote = Some(Keys::new(namespace));
    self
  }

  /// The remote call a job's args name, if this is a remote job and they
  /// name one: its reply goes there, success or failure.
  pub fn call(&self, args: &[Value]) -> Option<Call> {
    self.remote.as_ref().and_then(|keys| Call::parse(keys, args).ok())
  }

  /// A remote call's spec: its task from the call's options (only task
  /// options: the input and the reply are the call's keys).
  fn remote_spec(&self, keys: &Keys, args: &[Value]) -> Result<Spec> {
    let call = Call::parse(keys, args)?;
    // The worker's pixel limits (remoteJobs({ limitInputPixels, ... })) are
    // the defaults of a call that sets none, and its ceilings.
    let mut options = call.options.clone();
    if let Value::Object(m) = &mut options {
      for k in PIXEL_LIMITS.iter().filter(|_| self.kind == Kind::Resize) {
        if let Some(v) = self.defaults.get(*k).filter(|v| !v.is_null()) {
          let given = m.entry(*k).or_insert(Value::Null);
          if given.is_null() {
            *given = v.clone();
          }
        }
      }
    }
    let task = spec::task(self.kind, &options, &[])?;
    if let Task::Resize(o) = &task {
      self.check_ceilings(o)?;
    }
    remote::check_call_task(&task)?;
    let input = InputRef::Key(call.input.clone());
    Ok(Spec { task, input, output: OutputRef::Reply(Box::new(call)), max_input_bytes: max_input_bytes(&self.defaults)? })
  }

  /// The key policy for the overlays a resize names; no `{ buffer }` (that
  /// is for calls in this process).
  fn check_overlays(&self, task: &Task) -> Result<()> {
    if let Task::Resize(o) = task {
      for (i, source) in o.steps.composite.iter().map(|c| &c.input).enumerate() {
        match source {
          Source::Key(k) => self.keys.check(k, &input_name(i))?,
          Source::Buffer(_) => {
            return Err(Error::invalid(format!(
              "{}: {{ buffer }} is for resize() and JobQueue; a native job names an overlay by {{ path }} | {{ key }} | {{ base64 }}",
              input_name(i)
            )))
          }
          _ => {}
        }
      }
    }
    Ok(())
  }

  /// The same job, with the plugins the Rust loop runs for it.
  pub fn with_plugins(mut self, plugins: Plugins) -> Self {
    self.plugins = plugins;
    self
  }

  /// The same job, with the Worker's rule for which Redis keys it may use.
  pub fn with_keys(mut self, keys: KeyPolicy) -> Self {
    self.keys = keys;
    self
  }

  /// The job's options over the defaults: a `null` is "not given" (the
  /// default stays).
  fn merge(&self, args: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = self.defaults.clone();
    for (k, v) in args {
      if !v.is_null() {
        merged.insert(k.clone(), v.clone());
      }
    }
    merged
  }

  /// Refuses a job that raises a limit its definition sets (see PIXEL_LIMITS).
  fn check_ceilings(&self, job: &ResizeOptions) -> Result<()> {
    if !PIXEL_LIMITS.iter().any(|k| self.defaults.get(*k).is_some_and(|v| !v.is_null())) {
      return Ok(());
    }
    let ceiling = pixel_limits_in_force(&resize_of(&self.defaults)?);
    let asked = pixel_limits_in_force(job);
    for (name, asked, ceiling) in [("limitInputPixels", asked.0, ceiling.0), ("limitOutputPixels", asked.1, ceiling.1)] {
      if asked > ceiling {
        return Err(Error::invalid(format!(
          "{name} in force would be {}, over the ceiling of {} set by this job class's native() definition: a job may lower {name}, never raise it",
          describe_limit(asked),
          describe_limit(ceiling)
        )));
      }
    }
    Ok(())
  }

  /// Checks a definition's defaults as a job's options are checked, so a
  /// bad or unknown default fails at definition time with a job's message.
  pub fn check_defaults(&self) -> Result<()> {
    task_of(self.kind, &self.defaults)?;
    if let Some(v) = self.defaults.get("input").filter(|v| !v.is_null()) {
      input_ref(Some(v))?;
    }
    output_ref(self.defaults.get("output"))?;
    max_input_bytes(&self.defaults)?;
    Ok(())
  }

  /// Builds the task from the job's first argument merged over the defaults.
  pub fn spec(&self, args: &[Value]) -> Result<Spec> {
    if let Some(keys) = &self.remote {
      return self.remote_spec(keys, args);
    }
    let merged = match args.first() {
      None | Some(Value::Null) => self.defaults.clone(),
      Some(Value::Object(a)) => self.merge(a),
      Some(_) => return Err(Error::invalid("native job args must be [{ input, output, ...options }]")),
    };
    let task = task_of(self.kind, &merged)?;
    if let Task::Resize(o) = &task {
      self.check_ceilings(o)?;
    }
    let input = input_ref(merged.get("input"))?;
    let output = output_ref(merged.get("output"))?;
    if self.kind == Kind::Resize && output == OutputRef::None {
      return Err(Error::invalid("a native resize job needs output: { path } or { key, ttl }"));
    }
    let ceiling = max_input_bytes(&self.defaults)?;
    let max_input_bytes = max_input_bytes(&merged)?;
    if max_input_bytes > ceiling {
      let whose = if self.defaults.contains_key("maxInputBytes") { "this job class's native() definition" } else { "the default" };
      return Err(Error::invalid(format!(
        "maxInputBytes {max_input_bytes} is over the ceiling of {ceiling} set by {whose}: a job may lower maxInputBytes, never raise it"
      )));
    }
    if let InputRef::Key(k) = &input {
      self.keys.check(k, "input")?;
    }
    self.check_overlays(&task)?;
    if let OutputRef::Key { key, .. } = &output {
      self.keys.check(key, "output")?;
    }
    Ok(Spec { task, input, output, max_input_bytes })
  }
}

/// A key output for the caller to store in Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyOutput {
  pub key: String,
  pub bytes: Vec<u8>,
  /// Seconds; None: no expiry.
  pub ttl: Option<u64>,
  /// A remote call's reply: pushed onto the list `key` (which then expires
  /// in `ttl`), only while this key (the call's input) exists, that is,
  /// while the caller still waits; the step then deletes it (crate::remote).
  pub gate: Option<String>,
}

impl Spec {
  /// A remote call's input key, whose absence says its caller gave up.
  pub fn reply_gate(&self) -> Option<&str> {
    match &self.output {
      OutputRef::Reply(call) => Some(&call.input),
      _ => None,
    }
  }

  /// The input bytes when they are not in Redis: a file (through `roots`) or
  /// base64. None for a key input (the caller reads it).
  pub fn local_input(&self, roots: &Roots) -> Option<Result<Vec<u8>>> {
    match &self.input {
      InputRef::Key(_) => None,
      InputRef::Path(p) => Some(roots.read(p, self.max_input_bytes)),
      InputRef::Base64(b) => Some(decode_base64(b, self.max_input_bytes)),
    }
  }

  /// A key input's bytes as Redis returned them (None: no such key), checked
  /// against the job's maxInputBytes.
  pub fn key_input(&self, key: &str, value: Option<Vec<u8>>) -> Result<Vec<u8>> {
    match value {
      None => Err(Error::new(Code::InputNotFound, format!("no value at Redis key {key:?}"))),
      Some(v) if v.len() as u64 > self.max_input_bytes => Err(input_too_large(&format!("Redis key {key:?}"), v.len() as u64, self.max_input_bytes)),
      Some(v) => Ok(v),
    }
  }

  /// The job's result from the task's output, after writing a path output
  /// (through `roots`); a key output comes back for the caller to store.
  pub fn finish(self, output: Output, roots: &Roots) -> Result<(Value, Option<KeyOutput>)> {
    if let OutputRef::Reply(call) = &self.output {
      let (event, reply) = call.answer(Ok(output));
      return Ok((event, Some(reply)));
    }
    let (bytes, mut result) = super::result::of(output);
    let (wrote, deferred) = match self.output {
      OutputRef::None => (None, None),
      OutputRef::Key { key, ttl } => (Some(("key", Value::String(key.clone()))), Some(KeyOutput { key, bytes, ttl, gate: None })),
      OutputRef::Reply(_) => (None, None),
      OutputRef::Path(p) => (Some(("path", Value::String(roots.write(&p, &bytes)?.display().to_string()))), None),
    };
    if let (Some((k, v)), Some(obj)) = (wrote, result.as_object_mut()) {
      obj.insert(k.to_string(), v);
    }
    Ok((result, deferred))
  }

  /// The Redis keys the job's `composite` overlays name, in order: the
  /// caller reads each (checked against maxInputBytes) and hands the values
  /// to `read_overlays`.
  pub fn overlay_keys(&self) -> Vec<String> {
    match &self.task {
      Task::Resize(o) => o.steps.composite.iter().filter_map(|c| if let Source::Key(k) = &c.input { Some(k.clone()) } else { None }).collect(),
      _ => Vec::new(),
    }
  }

  /// Turns every overlay reference into bytes: a file through `roots`,
  /// base64 decoded, a key from `keyed` (the values of `overlay_keys()`, in
  /// order; None: no such key). Each input is held to maxInputBytes.
  pub fn read_overlays(&mut self, roots: &Roots, keyed: Vec<Option<Vec<u8>>>) -> Result<()> {
    let max = self.max_input_bytes;
    let Task::Resize(o) = &mut self.task else { return Ok(()) };
    let mut keyed = keyed.into_iter();
    for (i, source) in o.steps.sources_mut() {
      let name = input_name(i);
      let about = |e: Error| Error::new(e.code, format!("{name}: {}", e.message));
      let bytes = match source {
        Source::Bytes(_) => continue,
        Source::Path(p) => roots.read(p, max).map_err(about)?,
        Source::Base64(b) => decode_base64_named(b, max, &format!("{name}.base64"))?,
        Source::Key(k) => match keyed.next() {
          Some(Some(v)) if v.len() as u64 > max => return Err(about(input_too_large(&format!("Redis key {k:?}"), v.len() as u64, max))),
          Some(Some(v)) => v,
          Some(None) => return Err(about(Error::new(Code::InputNotFound, format!("no value at Redis key {k:?}")))),
          None => return Err(Error::internal(format!("{name}: the value of Redis key {k:?} was not read"))),
        },
        Source::Buffer(_) => return Err(Error::internal(format!("{name}: a buffer reference reached a native job"))),
      };
      *source = Source::Bytes(bytes.into());
    }
    Ok(())
  }
}

/// Decodes a job's `input.base64` (standard alphabet, padded, canonical),
/// refusing more than `max` decoded bytes before decoding.
pub fn decode_base64(b: &str, max: u64) -> Result<Vec<u8>> {
  decode_base64_named(b, max, "input.base64")
}

/// `decode_base64` for the field `what` names in its messages.
fn decode_base64_named(b: &str, max: u64, what: &str) -> Result<Vec<u8>> {
  let decoded = (b.len() as u64 / 4 * 3).saturating_sub(b.bytes().rev().take(2).filter(|&c| c == b'=').count() as u64);
  if decoded > max {
    return Err(input_too_large(what, decoded, max));
  }
  base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| Error::invalid(format!("{what} is not valid base64: {e}")))
}

#[cfg(test)]
mod tests {
  use super::*;
  use rusque_core::tasks::image::Format;
  use serde_json::json;

  fn job(kind: Kind, defaults: Value) -> NativeJob {
    NativeJob::new(kind, defaults.as_object().cloned().unwrap_or_default())
  }

  #[test]
  fn a_remote_call_reads_no_key_or_file_for_an_overlay() {
    // Under the default key policy and any roots, a hand-written entry's
    // { key } or { path } overlay is refused: only bytes travel in a call.
    let j = job(Kind::Resize, json!({})).with_remote("ns");
    let call = |input: Value| j.spec(&[json!({ "call": "c1", "reply": "r1", "options": { "width": 10, "composite": [{ "input": input }] } })]);
    for input in [json!({ "key": "secret" }), json!({ "path": "/etc/passwd" }), json!({ "buffer": 0 })] {
      let e = call(input.clone()).unwrap_err();
      assert_eq!(e.code, Code::InvalidArg, "{input}");
      assert!(e.message.starts_with("composite[0].input:"), "{}", e.message);
    }
    let ok = call(json!({ "base64": "AAAA" })).expect("bytes travel");
    assert_eq!(ok.input, InputRef::Key("ns:rusque:call:c1".into()));
  }

  #[test]
  fn a_remote_workers_pixel_limits_are_its_calls_defaults_and_ceilings() {
    let j = job(Kind::Resize, json!({ "limitInputPixels": 1000, "maxInputBytes": 500 })).with_remote("ns");
    let call = |options: Value| j.spec(&[json!({ "call": "c1", "reply": "r1", "options": options })]);
    let s = call(json!({ "width": 10 })).expect("no limit given: the worker's");
    assert_eq!(s.max_input_bytes, 500);
    match s.task {
      Task::Resize(o) => assert_eq!(pixel_limits_in_force(&o).0, 1000),
      other => panic!("{other:?}"),
    }
    match call(json!({ "width": 10, "limitInputPixels": 10 })).expect("a call may lower it").task {
      Task::Resize(o) => assert_eq!(pixel_limits_in_force(&o).0, 10),
      other => panic!("{other:?}"),
    }
    assert_eq!(call(json!({ "width": 10, "limitInputPixels": 5000 })).unwrap_err().code, Code::InvalidArg, "never raise it");
  }

  #[test]
  fn whole_numbers_may_be_written_as_floats() {
    let j = job(Kind::Resize, json!({}));
    let s = j.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "out", "ttl": 60.0 }, "width": 100.0, "quality": 80.0 })]).unwrap();
    match s.task {
      Task::Resize(o) => assert_eq!((o.width, o.encode.quality), (Some(100), 80)),
      other => panic!("{other:?}"),
    }
    for bad in [json!(100.5), json!(-100.0), json!(1e300)] {
      let e = j.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "out" }, "width": bad })]).unwrap_err();
      assert_eq!(e.code, Code::InvalidArg);
    }
  }

  #[test]
  fn ttl_must_be_positive_and_within_what_redis_accepts() {
    let j = NativeJob::new(Kind::Hash, Map::new());
    let with_ttl = |ttl: Value| j.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "out", "ttl": ttl } })]);
    assert_eq!(with_ttl(json!(1_000_000_000_000_000u64)).unwrap().output, OutputRef::Key { key: "out".into(), ttl: Some(1_000_000_000_000_000) });
    for bad in [json!(0), json!(-1), json!(1_000_000_000_000_001u64), json!(u64::MAX), json!("60"), json!(1.5)] {
      assert_eq!(with_ttl(bad.clone()).unwrap_err().code, Code::InvalidArg, "{bad}");
    }
  }

  #[test]
  fn args_merge_over_defaults() {
    let j = job(Kind::Resize, json!({ "width": 100, "format": "webp" }));
    let s = j.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "out", "ttl": 60 }, "width": 50 })]).unwrap();
    match s.task {
      Task::Resize(o) => {
        assert_eq!(o.width, Some(50));
        assert_eq!(o.format, Some(Format::Webp));
      }
      _ => panic!("not a resize"),
    }
    assert_eq!(s.input, InputRef::Key("in".into()));
    assert_eq!(s.output, OutputRef::Key { key: "out".into(), ttl: Some(60) });
  }

  #[test]
  fn bad_args_are_invalid() {
    let j = job(Kind::Resize, json!({}));
    assert!(j.spec(&[]).is_err());
    assert!(j.spec(&[json!({ "input": { "key": "a" } })]).unwrap_err().message.contains("output"));
    assert!(j.spec(&[json!({ "input": { "key": "a" }, "output": { "key": "b" }, "width": 0 })]).is_err());
    assert!(j.spec(&[json!({ "input": { "key": "a" }, "output": { "key": "b" }, "fit": "nope" })]).is_err());
    assert!(job(Kind::Hash, json!({})).spec(&[json!({ "input": { "base64": "" }, "algorithm": "crc" })]).is_err());
  }

  #[test]
  fn unknown_keys_are_refused_with_a_suggestion() {
    let j = job(Kind::Resize, json!({}));
    let e = j.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "out" }, "widht": 10 })]).unwrap_err();
    assert!(e.message.starts_with("unknown option \"widht\" (did you mean \"width\"?): resize takes width"), "{}", e.message);
    let e = j.spec(&[json!({ "inptu": { "key": "in" }, "output": { "key": "out" } })]).unwrap_err();
    assert!(e.message.contains("did you mean \"input\""), "{}", e.message);
    let e = j.spec(&[json!({ "input": { "paht": "x" }, "output": { "key": "out" } })]).unwrap_err();
    assert!(e.message.starts_with("unknown option \"paht\" (did you mean \"path\"?): input takes path, key, base64"), "{}", e.message);
    assert!(job(Kind::Resize, json!({ "tile": true })).check_defaults().unwrap_err().message.contains("\"tile\""));
    assert!(job(Kind::Hash, json!({ "algorithm": "md5", "maxInputBytes": 10 })).check_defaults().is_ok());
  }

  #[test]
  fn null_is_not_given_and_keeps_the_default() {
    let j = job(Kind::Resize, json!({ "width": 100, "format": "webp", "output": { "key": "o" } }));
    let s = j.spec(&[json!({ "input": { "key": "in" }, "width": null, "format": null, "output": null, "quality": null })]).unwrap();
    match s.task {
      Task::Resize(o) => assert_eq!((o.width, o.format, o.encode.quality), (Some(100), Some(Format::Webp), 80)),
      other => panic!("{other:?}"),
    }
    assert_eq!(s.output, OutputRef::Key { key: "o".into(), ttl: None });
    let s = j.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "o", "ttl": null } })]).unwrap();
    assert_eq!(s.output, OutputRef::Key { key: "o".into(), ttl: None });
  }

  #[test]
  fn resource_limits_in_the_defaults_are_ceilings() {
    let j = job(Kind::Resize, json!({ "limitInputPixels": 1_000_000, "limitOutputPixels": 500, "maxInputBytes": 1000 }));
    let with = |extra: Value| {
      let mut a = json!({ "input": { "key": "in" }, "output": { "key": "o" } });
      a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
      j.spec(&[a])
    };
    for raise in [
      json!({ "limitInputPixels": false }),
      json!({ "limitInputPixels": 0 }),
      json!({ "limitInputPixels": true }),
      json!({ "limitInputPixels": 1_000_001 }),
      json!({ "limitOutputPixels": false }),
      json!({ "limitOutputPixels": 501 }),
      json!({ "maxInputBytes": 1001 }),
      // Whole numbers written as floats past 2^53 (or past u64) saturate in
      // the parser; the ceiling compares what the parser made of them.
      json!({ "limitInputPixels": 1e16 }),
      json!({ "limitInputPixels": 1e300 }),
      json!({ "limitOutputPixels": 1e300 }),
    ] {
      let e = with(raise.clone()).unwrap_err();
      assert_eq!(e.code, Code::InvalidArg, "{raise}");
      assert!(e.message.contains("ceiling") && e.message.contains("never raise"), "{}", e.message);
    }
    match with(json!({ "limitInputPixels": 10, "maxInputBytes": 10 })).unwrap() {
      Spec { task: Task::Resize(o), max_input_bytes, .. } => assert_eq!((o.limit_input_pixels, max_input_bytes), (10, 10)),
      other => panic!("{other:?}"),
    }
    // The output limit follows the input limit: a definition that caps input
    // caps output too, and `true` (the default) is no way around either.
    let input_only = job(Kind::Resize, json!({ "limitInputPixels": 1_000_000 }));
    let args = |extra: Value| {
      let mut a = json!({ "input": { "key": "in" }, "output": { "key": "o" } });
      a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
      a
    };
    for raise in [json!({ "limitOutputPixels": false }), json!({ "limitOutputPixels": 1_000_001 }), json!({ "limitOutputPixels": true, "limitInputPixels": 2_000_000 })] {
      assert_eq!(input_only.spec(&[args(raise.clone())]).unwrap_err().code, Code::InvalidArg, "{raise}");
    }
    assert!(input_only.spec(&[args(json!({ "limitOutputPixels": 999_999 }))]).is_ok());
    let output_true = job(Kind::Resize, json!({ "limitOutputPixels": true, "limitInputPixels": 100 }));
    assert_eq!(output_true.spec(&[args(json!({ "limitOutputPixels": 1_000_000_000_000_000_000u64 }))]).unwrap_err().code, Code::InvalidArg);
    // A ceiling the parser cannot read fails the job with the parser's own message.
    let garbled = job(Kind::Resize, json!({ "limitInputPixels": "1e6" }));
    assert!(garbled.spec(&[args(json!({ "limitInputPixels": 5 }))]).unwrap_err().message.contains("limitInputPixels must be"));
    // Without a ceiling in the definition, pixel limits are the job's; maxInputBytes has its default ceiling.
    let open = job(Kind::Hash, json!({}));
    let spec = |a: Value| open.spec(&[a]);
    assert_eq!(spec(json!({ "input": { "key": "in" } })).unwrap().max_input_bytes, DEFAULT_MAX_INPUT_BYTES);
    assert_eq!(spec(json!({ "input": { "key": "in" }, "maxInputBytes": DEFAULT_MAX_INPUT_BYTES + 1 })).unwrap_err().code, Code::InvalidArg);
    assert_eq!(spec(json!({ "input": { "key": "in" }, "maxInputBytes": 0 })).unwrap_err().code, Code::InvalidArg);
    let r = job(Kind::Resize, json!({}));
    assert!(r.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "o" }, "limitInputPixels": false })]).is_ok());
    // Past u64 saturates, as lib/options.js (resize(), JobQueue) takes the same number.
    match r.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "o" }, "limitInputPixels": 1e308 })]).unwrap().task {
      Task::Resize(o) => assert_eq!(o.limit_input_pixels, u64::MAX),
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn keys_follow_the_workers_policy() {
    let j = job(Kind::Hash, json!({})).with_keys(KeyPolicy::new("ns", vec!["img:".into()]));
    assert!(j.spec(&[json!({ "input": { "key": "img:1" }, "output": { "key": "img:2" } })]).is_ok());
    for args in [
      json!({ "input": { "key": "ns:stat:failed" } }),
      json!({ "input": { "key": "img:1" }, "output": { "key": "ns:queue:q" } }),
      json!({ "input": { "key": "other" } }),
    ] {
      assert_eq!(j.spec(&[args.clone()]).unwrap_err().code, Code::KeyRefused, "{args}");
    }
  }

  #[test]
  fn base64_over_the_cap_is_refused_before_decoding() {
    assert_eq!(decode_base64("YWJj", 3).unwrap(), b"abc");
    assert_eq!(decode_base64("YWI=", 2).unwrap(), b"ab");
    assert_eq!(decode_base64("YWJj", 2).unwrap_err().code, Code::LimitExceeded);
    assert_eq!(decode_base64("!!!!", 10).unwrap_err().code, Code::InvalidArg);
  }
}
