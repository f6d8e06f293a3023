//! The value types of the image operations around the resize (sharp's
//! `extract`, `rotate`, `blur`, `sharpen`), each checked once here with its
//! message, as values.rs does for the resize's own options. The operations
//! themselves live in tasks/image/ops.rs; their order in tasks/image/steps.rs.

use serde_json::{Map, Value};

use serde::Deserialize;

use super::describe::describe;
use super::fields::{check_keys, fields};
use super::values::{field_value, whole, Choice, FieldValue, Position};
use crate::tasks::image::composite::{Blend, Overlay, Place, Source, MAX_OVERLAYS};
use crate::tasks::image::ops::{Mask, Region, Sharpen, BLUR_SIGMA};

/// Reads a number field of an object option, with its path in the message
/// (".sigma must be ...": the caller's field name goes in front).
fn number(m: &Map<String, Value>, key: &str, range: (f64, f64), default: f64) -> Result<f64, String> {
  match m.get(key) {
    None | Some(Value::Null) => Ok(default),
    Some(v) => v
      .as_f64()
      .filter(|f| (range.0..=range.1).contains(f))
      .ok_or_else(|| format!(".{key} must be a number from {} to {}, got {}", range.0, range.1, describe(v))),
  }
}

/// Refuses keys an object option does not take.
fn only(m: &Map<String, Value>, keys: &[&str]) -> Result<(), String> {
  match m.keys().find(|k| !keys.contains(&k.as_str())) {
    Some(k) => Err(format!("has no option {}: it takes {}", serde_json::to_string(k).unwrap_or_default(), keys.join(", "))),
    None => Ok(()),
  }
}

/// `extract: { left, top, width, height }`, in pixels of the upright image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extract(pub Region);

impl FieldValue for Extract {
  fn from_value(v: &Value) -> Result<Self, String> {
    let Value::Object(m) = v else {
      return Err(format!("must be an object {{ left, top, width, height }} of whole pixels, got {}", describe(v)));
    };
    only(m, &["left", "top", "width", "height"])?;
    let side = |k: &str, least: u64| -> Result<u32, String> {
      let v = m.get(k).unwrap_or(&Value::Null);
      whole(v)
        .filter(|&n| n >= least && n <= u64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or_else(|| format!(".{k} must be an integer of at least {least}, got {}", describe(v)))
    };
    Ok(Extract(Region { left: side("left", 0)?, top: side("top", 0)?, width: side("width", 1)?, height: side("height", 1)? }))
  }
}

/// `rotate`: clockwise degrees. Multiples of 90 are exact; other angles
/// rotate onto `background`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotate(pub f64);

impl FieldValue for Rotate {
  fn from_value(v: &Value) -> Result<Self, String> {
    v.as_f64()
      .filter(|d| d.is_finite() && d.abs() <= 1e9)
      .map(Rotate)
      .ok_or_else(|| format!("must be a number of degrees, got {}", describe(v)))
  }
}

/// The sigma `blur: true` stands for: a mild blur, close to sharp's 3x3 box.
pub const MILD_BLUR_SIGMA: f64 = 0.8;

/// `blur`: a Gaussian sigma from 0.3 to 1000, or `true` for a mild blur.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blur(pub Option<f64>);

impl FieldValue for Blur {
  fn from_value(v: &Value) -> Result<Self, String> {
    match v {
      Value::Bool(b) => Ok(Blur(b.then_some(MILD_BLUR_SIGMA))),
      _ => v
        .as_f64()
        .filter(|s| (BLUR_SIGMA.0..=BLUR_SIGMA.1).contains(s))
        .map(|s| Blur(Some(s)))
        .ok_or_else(|| format!("must be true or a sigma from {} to {}, got {}", BLUR_SIGMA.0, BLUR_SIGMA.1, describe(v))),
    }
  }
}

/// `sharpen`: `true` (sharp's fast mild sharpen) or `{ sigma, m1, m2, x1,
/// y2, y3 }` (sharp's unsharp mask of the lightness) with sharp's ranges and
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SharpenOption(pub Option<Sharpen>);

impl FieldValue for SharpenOption {
  fn from_value(v: &Value) -> Result<Self, String> {
    match v {
      Value::Bool(b) => Ok(SharpenOption(b.then_some(Sharpen::Mild))),
      Value::Object(m) => {
        only(m, &["sigma", "m1", "m2", "x1", "y2", "y3"])?;
        let d = Mask::default();
        let big = (0.0, 1_000_000.0);
        Ok(SharpenOption(Some(Sharpen::Mask(Mask {
          sigma: number(m, "sigma", (0.000_001, 10.0), d.sigma)?,
          m1: number(m, "m1", big, d.m1)?,
          m2: number(m, "m2", big, d.m2)?,
          x1: number(m, "x1", big, d.x1)?,
          y2: number(m, "y2", big, d.y2)?,
          y3: number(m, "y3", big, d.y3)?,
        }))))
      }
      _ => Err(format!("must be true or {{ sigma, m1, m2, x1, y2, y3 }}, got {}", describe(v))),
    }
  }
}

/// The keys of one `composite` entry (sharp's names); only the names are read
/// from this type.
#[derive(Deserialize)]
#[allow(dead_code)]
struct OverlayKeys {
  input: Option<Value>,
  gravity: Option<Value>,
  top: Option<Value>,
  left: Option<Value>,
  blend: Option<Value>,
}

/// The keys of a composite entry's `input` when it is not a buffer.
#[derive(Deserialize)]
#[allow(dead_code)]
struct SourceKeys {
  buffer: Option<Value>,
  path: Option<Value>,
  key: Option<Value>,
  base64: Option<Value>,
}

const SOURCE_SHAPE: &str = "a Buffer (in resize() and JobQueue) or, in a native job, { path } | { key } | { base64 }";

fn source(v: Option<&Value>) -> Result<Source, String> {
  let v = v.filter(|v| !v.is_null()).ok_or_else(|| format!(".input is required: {SOURCE_SHAPE}"))?;
  let m = v.as_object().ok_or_else(|| format!(".input must be {SOURCE_SHAPE}, got {}", describe(v)))?;
  check_keys("input", m, fields::<SourceKeys>(), &[]).map_err(|e| format!(".input: {}", e.message))?;
  let mut given = m.iter().filter(|(_, v)| !v.is_null());
  let (Some((k, v)), None) = (given.next(), given.next()) else {
    return Err(format!(".input must name exactly one of buffer, path, key, base64; {SOURCE_SHAPE}"));
  };
  if k == "buffer" {
    return whole(v)
      .filter(|&n| n < MAX_OVERLAYS as u64)
      .map(|n| Source::Buffer(n as usize))
      .ok_or_else(|| format!(".input.buffer must be the index of a buffer passed with the call, got {}", describe(v)));
  }
  let text = v.as_str().ok_or_else(|| format!(".input.{k} must be a string, got {}", describe(v)))?.to_string();
  Ok(match k.as_str() {
    "path" => Source::Path(text),
    "key" => Source::Key(text),
    _ => Source::Base64(text),
  })
}

/// An offset in pixels, which may be negative (the overlay is clipped).
fn offset(m: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
  match m.get(key) {
    None | Some(Value::Null) => Ok(None),
    Some(v) => v
      .as_f64()
      .filter(|f| f.fract() == 0.0 && f.abs() <= f64::from(i32::MAX))
      .map(|f| Some(f as i64))
      .ok_or_else(|| format!(".{key} must be an integer of pixels, got {}", describe(v))),
  }
}

fn overlay(v: &Value) -> Result<Overlay, String> {
  let m = v.as_object().ok_or_else(|| format!(" must be an object {{ input, gravity | top, left, blend }}, got {}", describe(v)))?;
  check_keys("a composite entry", m, fields::<OverlayKeys>(), &[]).map_err(|e| format!(": {}", e.message))?;
  let input = source(m.get("input"))?;
  let place = match (offset(m, "left")?, offset(m, "top")?) {
    (Some(left), Some(top)) => Place::At { left, top },
    (None, None) => Place::Gravity(match m.get("gravity") {
      None | Some(Value::Null) => (0.5, 0.5),
      Some(g) => Position::from_value(g).map_err(|e| format!(".gravity {e}"))?.0,
    }),
    _ => return Err(" needs both left and top, or neither (then gravity places it)".into()),
  };
  let blend = match m.get("blend") {
    None | Some(Value::Null) => Blend::Over,
    Some(b) => Blend::from_json(b).map_err(|e| format!(".blend {e}"))?,
  };
  Ok(Overlay { input, place, blend })
}

/// `composite: [{ input, gravity | top, left, blend }]`: overlays, composited
/// in order after the filters.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeOption(pub Vec<Overlay>);

impl FieldValue for CompositeOption {
  fn from_value(v: &Value) -> Result<Self, String> {
    let items = v.as_array().ok_or_else(|| format!("must be an array of {{ input, gravity | top, left, blend }}, got {}", describe(v)))?;
    if items.len() > MAX_OVERLAYS {
      return Err(format!("takes at most {MAX_OVERLAYS} overlays, got {}", items.len()));
    }
    let overlays = items.iter().enumerate().map(|(i, item)| overlay(item).map_err(|e| format!("[{i}]{e}"))).collect::<Result<_, _>>()?;
    Ok(CompositeOption(overlays))
  }
}

field_value!(Extract, Rotate, Blur, SharpenOption, CompositeOption);

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn values_and_messages() {
    assert_eq!(Extract::from_value(&json!({ "left": 1, "top": 2, "width": 3, "height": 4 })).unwrap().0, Region { left: 1, top: 2, width: 3, height: 4 });
    assert_eq!(Extract::from_value(&json!({ "left": 1, "top": 2, "width": 0, "height": 4 })).unwrap_err(), ".width must be an integer of at least 1, got number 0");
    assert!(Extract::from_value(&json!({ "left": 0, "top": 0, "width": 1, "height": 1, "x": 1 })).unwrap_err().starts_with("has no option \"x\": it takes left, top, width, height"));
    assert_eq!(Rotate::from_value(&json!(-90)).unwrap().0, -90.0);
    assert!(Rotate::from_value(&json!("90")).is_err());
    assert_eq!(Blur::from_value(&json!(true)).unwrap().0, Some(MILD_BLUR_SIGMA));
    assert_eq!(Blur::from_value(&json!(false)).unwrap().0, None);
    assert_eq!(Blur::from_value(&json!(0.1)).unwrap_err(), "must be true or a sigma from 0.3 to 1000, got number 0.1");
    let Some(Sharpen::Mask(s)) = SharpenOption::from_value(&json!({ "sigma": 2, "m2": 3 })).unwrap().0 else { panic!("a mask") };
    assert_eq!((s.sigma, s.m1, s.m2), (2.0, 1.0, 3.0));
    assert_eq!(SharpenOption::from_value(&json!(true)).unwrap().0, Some(Sharpen::Mild));
    assert_eq!(SharpenOption::from_value(&json!({ "sigma": 20 })).unwrap_err(), ".sigma must be a number from 0.000001 to 10, got number 20");
  }

  #[test]
  fn composite_entries() {
    let c = CompositeOption::from_value(&json!([
      { "input": { "buffer": 0 }, "gravity": "southeast" },
      { "input": { "path": "mark.png" }, "left": -5, "top": 10, "blend": "multiply" },
      { "input": { "base64": "AAAA" } }
    ]))
    .unwrap()
    .0;
    assert_eq!(c[0], Overlay { input: Source::Buffer(0), place: Place::Gravity((1.0, 1.0)), blend: Blend::Over });
    assert_eq!(c[1], Overlay { input: Source::Path("mark.png".into()), place: Place::At { left: -5, top: 10 }, blend: Blend::Multiply });
    assert_eq!(c[2].place, Place::Gravity((0.5, 0.5)));
    let msg = |v: Value| CompositeOption::from_value(&v).unwrap_err();
    assert!(msg(json!({})).starts_with("must be an array"));
    assert_eq!(msg(json!([{ "input": { "buffer": 0 }, "left": 1 }])), "[0] needs both left and top, or neither (then gravity places it)");
    assert!(msg(json!([{ "input": { "buffer": 0 }, "blend": "overlay" }])).starts_with("[0].blend must be one of over, multiply, screen, darken, lighten"));
    assert!(msg(json!([{ "input": { "buffer": 0 }, "grvity": "north" }])).starts_with("[0]: unknown option \"grvity\" (did you mean \"gravity\"?)"));
    assert!(msg(json!([{ "input": "mark.png" }])).starts_with("[0].input must be a Buffer"));
    assert!(msg(json!([{ "input": { "path": "a", "key": "b" } }])).starts_with("[0].input must name exactly one of"));
    assert!(msg(json!([{ "gravity": "north" }])).starts_with("[0].input is required"));
    assert!(msg(json!([{ "input": { "buffer": 0 }, "top": 1.5, "left": 0 }])).starts_with("[0].top must be an integer"));
    assert!(msg(Value::Array(vec![json!({ "input": { "buffer": 0 } }); MAX_OVERLAYS + 1])).starts_with("takes at most"));
  }
}
