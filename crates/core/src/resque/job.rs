//! Native job definitions: how a resque job's JSON args become a task, the
//! bytes it reads and where its result goes.
//!
//! Args: `{ input: { path } | { key } | { base64 }, output?: { path } | { key, ttl }, ...taskOptions }`.
//! Task options are the same as the JS functions' (sharp-style for resize).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Code, Error, Result};
use crate::tasks::hash::Algorithm;
use crate::tasks::image::{Fit, Format, Kernel, ResizeOptions};
use crate::tasks::Task;

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

impl NativeJob {
  pub fn new(kind: Kind, defaults: Map<String, Value>) -> Self {
    NativeJob { kind, defaults }
  }

  /// Builds the task from the job's first argument merged over the defaults.
  pub fn spec(&self, args: &[Value]) -> Result<Spec> {
    let mut merged = self.defaults.clone();
    match args.first() {
      None | Some(Value::Null) => {}
      Some(Value::Object(a)) => merged.extend(a.iter().map(|(k, v)| (k.clone(), v.clone()))),
      Some(_) => return Err(Error::invalid("native job args must be [{ input, output, ...options }]")),
    }
    let input = input_ref(merged.get("input"))?;
    let output = output_ref(merged.get("output"))?;
    let task = match self.kind {
      Kind::Resize => Task::Resize(resize_options(&merged)?),
      Kind::Metadata => Task::Metadata,
      Kind::Hash => Task::Hash(Algorithm::parse(string(&merged, "algorithm")?.as_deref().unwrap_or("sha256"))?),
    };
    if self.kind == Kind::Resize && output == OutputRef::None {
      return Err(Error::invalid("a native resize job needs output: { path } or { key, ttl }"));
    }
    Ok(Spec { task, input, output })
  }
}

/// Resolves `path` (after symlinks) and checks it lies inside one of `roots`.
/// For writes, the parent directory is resolved and the file may not exist yet.
pub fn resolve_in_roots(path: &str, roots: &[PathBuf], for_write: bool) -> Result<PathBuf> {
  if roots.is_empty() {
    return Err(Error::new(Code::PathOutsideRoots, format!("path {path:?} refused: this Worker has no roots option, so native jobs may not read or write files (use {{ key }} or {{ base64 }}, or set roots)")));
  }
  let p = Path::new(path);
  let canonical_roots: Vec<PathBuf> = roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
  let outside = |resolved: &Path| {
    Error::new(Code::PathOutsideRoots, format!("path {path:?} resolves to {}, outside the Worker's roots", resolved.display()))
  };
  // The path as written must already name a place inside (no `..` escapes),
  // and so must the place it resolves to after symlinks.
  let lexical = lexical_absolute(p);
  if !canonical_roots.iter().any(|r| lexical.starts_with(r)) && !roots.iter().any(|r| lexical.starts_with(lexical_absolute(r))) {
    return Err(outside(&lexical));
  }
  let resolved = if for_write {
    let name = p.file_name().ok_or_else(|| Error::invalid(format!("output path {path:?} has no file name")))?;
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = parent.canonicalize().map_err(|e| {
      if e.kind() == std::io::ErrorKind::NotFound {
        Error::new(Code::OutputNotFound, format!("output directory of {path:?} does not exist"))
      } else {
        Error::invalid(format!("output directory of {path:?}: {e}"))
      }
    })?;
    // A symlink already at the target is not followed: the writer renames a
    // new file over it, replacing the link itself.
    dir.join(name)
  } else {
    p.canonicalize().map_err(|e| {
      if e.kind() == std::io::ErrorKind::NotFound {
        Error::new(Code::InputNotFound, format!("input path {path:?} does not exist"))
      } else {
        Error::invalid(format!("input path {path:?}: {e}"))
      }
    })?
  };
  if canonical_roots.iter().any(|r| resolved.starts_with(r)) {
    Ok(resolved)
  } else {
    Err(outside(&resolved))
  }
}

/// `path` made absolute and with `.`/`..` folded, without touching the disk.
fn lexical_absolute(path: &Path) -> PathBuf {
  use std::path::Component;
  let base = if path.is_absolute() { PathBuf::new() } else { std::env::current_dir().unwrap_or_default() };
  let mut out = PathBuf::new();
  for c in base.components().chain(path.components()) {
    match c {
      Component::ParentDir => {
        out.pop();
      }
      Component::CurDir => {}
      other => out.push(other.as_os_str()),
    }
  }
  out
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
  fn roots_are_enforced() {
    let dir = std::env::temp_dir().join(format!("rusque-roots-{}", std::process::id()));
    let inside = dir.join("in");
    let outside = dir.join("out");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(inside.join("a.jpg"), b"x").unwrap();
    std::fs::write(outside.join("b.jpg"), b"x").unwrap();
    let roots = vec![inside.clone()];
    assert!(resolve_in_roots(inside.join("a.jpg").to_str().unwrap(), &roots, false).is_ok());
    let escape = inside.join("..").join("out").join("b.jpg");
    assert_eq!(resolve_in_roots(escape.to_str().unwrap(), &roots, false).unwrap_err().code, Code::PathOutsideRoots);
    #[cfg(unix)]
    {
      std::os::unix::fs::symlink(outside.join("b.jpg"), inside.join("link.jpg")).unwrap();
      assert_eq!(resolve_in_roots(inside.join("link.jpg").to_str().unwrap(), &roots, false).unwrap_err().code, Code::PathOutsideRoots);
      // Writing to it replaces the link (rename), so the write stays inside.
      assert!(resolve_in_roots(inside.join("link.jpg").to_str().unwrap(), &roots, true).is_ok());
    }
    assert!(resolve_in_roots(inside.join("new.webp").to_str().unwrap(), &roots, true).is_ok());
    assert_eq!(resolve_in_roots("/etc/passwd", &[], false).unwrap_err().code, Code::PathOutsideRoots);
    let _ = std::fs::remove_dir_all(&dir);
  }
}
