//! Native job definitions: how a resque job's JSON args become a task, the
//! bytes it reads and where its result goes.
//!
//! Args: `{ input: { path } | { key } | { base64 }, output?: { path } | { key, ttl }, ...taskOptions }`.
//! Task options are the same as the JS functions' (sharp-style for resize),
//! plus `maxInputBytes`. Both loops build their jobs here: the Rust loop
//! directly, the JS loop through the napi glue.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::files::{Roots, DEFAULT_MAX_INPUT_BYTES};
use super::keys::KeyPolicy;
use rusque_core::error::{Code, Error, Result};
use rusque_core::tasks::hash::Algorithm;
use rusque_core::tasks::image::{Fit, Format, Kernel, ResizeOptions};
use rusque_core::tasks::{Output, Task};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
  Resize,
  Metadata,
  Hash,
}

impl Kind {
  pub fn parse(name: &str) -> Result<Kind> {
    match name {
      "resize" => Ok(Kind::Resize),
      "metadata" => Ok(Kind::Metadata),
      "hash" => Ok(Kind::Hash),
      other => Err(Error::invalid(format!("unknown native task {other:?}: use resize, metadata or hash"))),
    }
  }
}

/// A job class whose work is a native task, with default options.
#[derive(Debug, Clone)]
pub struct NativeJob {
  pub kind: Kind,
  pub defaults: Map<String, Value>,
  /// Which Redis keys its input and output may name.
  pub keys: KeyPolicy,
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
}

#[derive(Debug, Clone)]
pub struct Spec {
  pub task: Task,
  pub input: InputRef,
  pub output: OutputRef,
  /// The most input bytes the job may read (file, key or base64).
  pub max_input_bytes: u64,
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
  v.as_object().ok_or_else(|| Error::invalid(format!("{what} must be an object")))
}

fn string(m: &Map<String, Value>, k: &str) -> Result<Option<String>> {
  match m.get(k) {
    None | Some(Value::Null) => Ok(None),
    Some(Value::String(s)) => Ok(Some(s.clone())),
    Some(_) => Err(Error::invalid(format!("{k} must be a string"))),
  }
}

fn input_ref(v: Option<&Value>) -> Result<InputRef> {
  let v = v.ok_or_else(|| Error::invalid("native job args need input: { path } | { key } | { base64 }"))?;
  let m = obj(v, "input")?;
  if let Some(p) = string(m, "path")? {
    Ok(InputRef::Path(p))
  } else if let Some(k) = string(m, "key")? {
    Ok(InputRef::Key(k))
  } else if let Some(b) = string(m, "base64")? {
    Ok(InputRef::Base64(b))
  } else {
    Err(Error::invalid("input must have one of path, key or base64"))
  }
}

const MAX_TTL_SECONDS: u64 = 1_000_000_000_000_000;

fn output_ref(v: Option<&Value>) -> Result<OutputRef> {
  let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(OutputRef::None) };
  let m = obj(v, "output")?;
  if let Some(p) = string(m, "path")? {
    Ok(OutputRef::Path(p))
  } else if let Some(k) = string(m, "key")? {
    let ttl = match m.get("ttl") {
      None | Some(Value::Null) => None,
      // Redis refuses an expiry past about 9.2e15 s from now; such a ttl
      // would otherwise fail the ack on every retry.
      Some(t) => Some(
        whole(t)
          .filter(|&t| (1..=MAX_TTL_SECONDS).contains(&t))
          .ok_or_else(|| Error::invalid("output.ttl must be a positive integer of seconds, at most 10^15"))?,
      ),
    };
    Ok(OutputRef::Key { key: k, ttl })
  } else {
    Err(Error::invalid("output must have path or key"))
  }
}

/// A non-negative whole number, written as an integer or as a float with no
/// fraction (`100.0`, as some JSON producers write integers): the JS loop,
/// where both are the same Number, accepts both, and so does this one.
fn whole(v: &Value) -> Option<u64> {
  v.as_u64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(f)).map(|f| f as u64))
}

fn dimension(m: &Map<String, Value>, k: &str) -> Result<Option<u32>> {
  match m.get(k) {
    None | Some(Value::Null) => Ok(None),
    Some(v) => whole(v)
      .filter(|n| (1..=65_535).contains(n))
      .map(|n| Some(n as u32))
      .ok_or_else(|| Error::invalid(format!("{k} must be an integer from 1 to 65535, got {v}"))),
  }
}

fn boolean(m: &Map<String, Value>, k: &str, dflt: bool) -> Result<bool> {
  match m.get(k) {
    None | Some(Value::Null) => Ok(dflt),
    Some(Value::Bool(b)) => Ok(*b),
    Some(v) => Err(Error::invalid(format!("{k} must be a boolean, got {v}"))),
  }
}

fn position(name: &str) -> Option<(f64, f64)> {
  Some(match name.to_ascii_lowercase().as_str() {
    "centre" | "center" => (0.5, 0.5),
    "top" | "north" => (0.5, 0.0),
    "right top" | "northeast" => (1.0, 0.0),
    "right" | "east" => (1.0, 0.5),
    "right bottom" | "southeast" => (1.0, 1.0),
    "bottom" | "south" => (0.5, 1.0),
    "left bottom" | "southwest" => (0.0, 1.0),
    "left" | "west" => (0.0, 0.5),
    "left top" | "northwest" => (0.0, 0.0),
    _ => return None,
  })
}

fn colour(v: &Value) -> Result<[u8; 4]> {
  let bad = || Error::invalid(format!("background must be a colour such as '#ff0000', 'white' or {{ r, g, b, alpha }}, got {v}"));
  match v {
    Value::String(s) => {
      let s = s.to_ascii_lowercase();
      match s.as_str() {
        "white" => return Ok([255, 255, 255, 255]),
        "black" => return Ok([0, 0, 0, 255]),
        "transparent" => return Ok([0, 0, 0, 0]),
        _ => {}
      }
      let hex = s.strip_prefix('#').unwrap_or(&s);
      let hex: String = if hex.len() == 3 { hex.chars().flat_map(|c| [c, c]).collect() } else { hex.to_string() };
      if !(hex.len() == 6 || hex.len() == 8) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
      }
      let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
      Ok([byte(0)?, byte(2)?, byte(4)?, if hex.len() == 8 { byte(6)? } else { 255 }])
    }
    Value::Object(m) => {
      let c = |k: &str| m.get(k).and_then(whole).filter(|&n| n <= 255).map(|n| n as u8).ok_or_else(bad);
      let alpha = match m.get("alpha") {
        None => 1.0,
        Some(a) => a.as_f64().filter(|a| (0.0..=1.0).contains(a)).ok_or_else(bad)?,
      };
      Ok([c("r")?, c("g")?, c("b")?, (alpha * 255.0).round() as u8])
    }
    _ => Err(bad()),
  }
}

pub fn resize_options(m: &Map<String, Value>) -> Result<ResizeOptions> {
  let mut o = ResizeOptions { width: dimension(m, "width")?, height: dimension(m, "height")?, ..ResizeOptions::default() };
  if let Some(f) = string(m, "fit")? {
    o.fit = match f.as_str() {
      "cover" => Fit::Cover,
      "contain" => Fit::Contain,
      "fill" => Fit::Fill,
      "inside" => Fit::Inside,
      "outside" => Fit::Outside,
      _ => return Err(Error::invalid(format!("fit must be one of cover, contain, fill, inside, outside; got {f:?}"))),
    };
  }
  if let Some(p) = string(m, "position")? {
    o.position = position(&p).ok_or_else(|| Error::invalid(format!("unknown position {p:?}")))?;
  }
  if let Some(bg) = m.get("background").filter(|v| !v.is_null()) {
    o.background = colour(bg)?;
  }
  o.without_enlargement = boolean(m, "withoutEnlargement", false)?;
  o.auto_orient = boolean(m, "autoOrient", true)?;
  if let Some(k) = string(m, "kernel")? {
    o.kernel = match k.as_str() {
      "nearest" => Kernel::Nearest,
      "linear" => Kernel::Linear,
      "cubic" => Kernel::Cubic,
      "mitchell" => Kernel::Mitchell,
      "lanczos3" => Kernel::Lanczos3,
      _ => return Err(Error::invalid(format!("kernel must be one of nearest, linear, cubic, mitchell, lanczos3; got {k:?}"))),
    };
  }
  if let Some(f) = string(m, "format")? {
    o.format = Some(
      Format::parse(&f.to_ascii_lowercase())
        .filter(|f| *f != Format::Gif)
        .ok_or_else(|| Error::invalid(format!("format must be one of jpeg, png, webp; got {f:?}")))?,
    );
  }
  if let Some(q) = m.get("quality").filter(|v| !v.is_null()) {
    o.quality = whole(q)
      .filter(|q| (1..=100).contains(q))
      .ok_or_else(|| Error::invalid(format!("quality must be an integer from 1 to 100, got {q}")))? as u8;
  }
  // The pixel limits take what lib/options.js takes (any non-negative whole
  // number, true for the default, false for none) and refuse the rest with
  // its message, so a job fails alike in the JS loop and in this one.
  fn pixel_limit(m: &Map<String, Value>, k: &str) -> Result<Option<u64>> {
    match m.get(k) {
      None | Some(Value::Null) | Some(Value::Bool(true)) => Ok(None),
      Some(Value::Bool(false)) => Ok(Some(0)),
      // Past u64 (only a float can be) saturates, as the JS path's number does.
      Some(v) => v
        .as_u64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
        .map(Some)
        .ok_or_else(|| Error::invalid(format!("{k} must be a non-negative integer, true or false; got {}", describe(v)))),
    }
  }
  // lib/options.js's describe() of the same value, as JSON.parse gives it to JS.
  fn describe(v: &Value) -> String {
    match v {
      Value::Null => "null".into(),
      Value::Array(_) => "an array".into(),
      Value::Object(_) => "an instance of Object".into(),
      Value::Bool(b) => format!("boolean {b}"),
      Value::Number(n) => format!("number {}", js_number(n.as_f64().unwrap_or(f64::NAN))),
      Value::String(s) => {
        // JSON.stringify(s.slice(0, 40)): 40 UTF-16 units, a split pair's
        // lone half written as an escape.
        let units: Vec<u16> = s.encode_utf16().take(40).collect();
        let (whole, lone) = match units.last() {
          Some(&u) if (0xd800..0xdc00).contains(&u) && String::from_utf16(&units).is_err() => (&units[..units.len() - 1], Some(u)),
          _ => (&units[..], None),
        };
        let mut json = serde_json::to_string(&String::from_utf16_lossy(whole)).unwrap_or_default();
        if let Some(u) = lone {
          json.insert_str(json.len() - 1, &format!("\\u{u:04x}"));
        }
        format!("a string ({json})")
      }
    }
  }
  // JavaScript's Number#toString for a finite number: the shortest digits,
  // in plain notation from 1e-6 up to 1e21 and exponent notation outside.
  fn js_number(f: f64) -> String {
    // JSON carries neither NaN nor the infinities.
    if f == 0.0 || !f.is_finite() {
      return "0".into();
    }
    if f < 0.0 {
      return format!("-{}", js_number(-f));
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len() as i64;
    let n = exp.parse::<i64>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
      format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
      format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
      format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
      let sign = if n - 1 < 0 { '-' } else { '+' };
      let rest = if k > 1 { format!(".{}", &digits[1..]) } else { String::new() };
      format!("{}{rest}e{sign}{}", &digits[..1], (n - 1).abs())
    }
  }
  if let Some(limit) = pixel_limit(m, "limitInputPixels")? {
    o.limit_input_pixels = limit;
  }
  o.limit_output_pixels = pixel_limit(m, "limitOutputPixels")?;
  Ok(o)
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
    Some(v) => whole(v).filter(|&n| n >= 1).ok_or_else(|| Error::invalid(format!("maxInputBytes must be a positive integer of bytes, got {v}"))),
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
    NativeJob { kind, defaults, keys: KeyPolicy::default() }
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
    let ceiling = pixel_limits_in_force(&resize_options(&self.defaults)?);
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

  /// Builds the task from the job's first argument merged over the defaults.
  pub fn spec(&self, args: &[Value]) -> Result<Spec> {
    let merged = match args.first() {
      None | Some(Value::Null) => self.defaults.clone(),
      Some(Value::Object(a)) => self.merge(a),
      Some(_) => return Err(Error::invalid("native job args must be [{ input, output, ...options }]")),
    };
    let input = input_ref(merged.get("input"))?;
    let output = output_ref(merged.get("output"))?;
    let task = match self.kind {
      Kind::Resize => {
        let o = resize_options(&merged)?;
        self.check_ceilings(&o)?;
        Task::Resize(o)
      }
      Kind::Metadata => Task::Metadata,
      Kind::Hash => Task::Hash(Algorithm::parse(string(&merged, "algorithm")?.as_deref().unwrap_or("sha256"))?),
    };
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
    if let OutputRef::Key { key, .. } = &output {
      self.keys.check(key, "output")?;
    }
    Ok(Spec { task, input, output, max_input_bytes })
  }
}

/// A key output for the caller to store in Redis: key, bytes, ttl.
pub type KeyOutput = (String, Vec<u8>, Option<u64>);

impl Spec {
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
    let (bytes, mut result): (Vec<u8>, Value) = match output {
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
    let (wrote, deferred) = match self.output {
      OutputRef::None => (None, None),
      OutputRef::Key { key, ttl } => (Some(("key", Value::String(key.clone()))), Some((key, bytes, ttl))),
      OutputRef::Path(p) => (Some(("path", Value::String(roots.write(&p, &bytes)?.display().to_string()))), None),
    };
    if let (Some((k, v)), Some(obj)) = (wrote, result.as_object_mut()) {
      obj.insert(k.to_string(), v);
    }
    Ok((result, deferred))
  }
}

/// Decodes a job's `input.base64` (standard alphabet, padded, canonical),
/// refusing more than `max` decoded bytes before decoding.
pub fn decode_base64(b: &str, max: u64) -> Result<Vec<u8>> {
  let decoded = (b.len() as u64 / 4 * 3).saturating_sub(b.bytes().rev().take(2).filter(|&c| c == b'=').count() as u64);
  if decoded > max {
    return Err(input_too_large("input.base64", decoded, max));
  }
  base64::engine::general_purpose::STANDARD.decode(b).map_err(|e| Error::invalid(format!("input.base64 is not valid base64: {e}")))
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  fn job(kind: Kind, defaults: Value) -> NativeJob {
    NativeJob::new(kind, defaults.as_object().cloned().unwrap_or_default())
  }

  #[test]
  fn whole_numbers_may_be_written_as_floats() {
    let j = job(Kind::Resize, json!({}));
    let s = j.spec(&[json!({ "input": { "key": "in" }, "output": { "key": "out", "ttl": 60.0 }, "width": 100.0, "quality": 80.0 })]).unwrap();
    match s.task {
      Task::Resize(o) => assert_eq!((o.width, o.quality), (Some(100), 80)),
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
  fn colours() {
    assert_eq!(colour(&json!("#f00")).unwrap(), [255, 0, 0, 255]);
    assert_eq!(colour(&json!("#00ff0080")).unwrap(), [0, 255, 0, 128]);
    assert_eq!(colour(&json!({ "r": 1, "g": 2, "b": 3, "alpha": 0 })).unwrap(), [1, 2, 3, 0]);
    assert!(colour(&json!("#12")).is_err());
  }

  #[test]
  fn null_is_not_given_and_keeps_the_default() {
    let j = job(Kind::Resize, json!({ "width": 100, "format": "webp", "output": { "key": "o" } }));
    let s = j.spec(&[json!({ "input": { "key": "in" }, "width": null, "format": null, "output": null, "quality": null })]).unwrap();
    match s.task {
      Task::Resize(o) => assert_eq!((o.width, o.format, o.quality), (Some(100), Some(Format::Webp), 80)),
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
