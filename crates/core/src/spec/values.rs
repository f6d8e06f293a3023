//! The value types of task options: each takes the JSON value given for a
//! field and checks it once, with one message ("must be ..., got <value>";
//! the caller puts the field's path in front). Named choices (fit, kernel,
//! position, format, algorithm, chromaSubsampling) are one table each, read by the parser, its
//! message and specInfo() (index.d.ts's unions are tested against them).

use serde_json::Value;

use super::describe::describe;
use crate::tasks::hash::Algorithm;
use crate::tasks::image::composite::Blend;
use crate::tasks::image::{ChromaSubsampling, Fit, Format, Kernel};

/// A field's value, checked. Its error is the message after the field's name.
pub trait FieldValue: Sized {
  fn from_value(v: &Value) -> Result<Self, String>;
}

/// Deserialize through `FieldValue`, so serde's own type errors never show.
macro_rules! field_value {
  ($($t:ty),*) => {$(
    impl<'de> ::serde::de::Deserialize<'de> for $t {
      fn deserialize<D: ::serde::de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <::serde_json::Value as ::serde::de::Deserialize>::deserialize(d)?;
        <$t as $crate::spec::values::FieldValue>::from_value(&v).map_err(<D::Error as ::serde::de::Error>::custom)
      }
    }
  )*};
}
pub(crate) use field_value;

/// A non-negative whole number, written as an integer or as a float with no
/// fraction (`100.0`, as some JSON producers write integers). Past u64 (only
/// a float can be) saturates, as a JS number does on its way to Rust.
pub fn whole(v: &Value) -> Option<u64> {
  v.as_u64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
}

/// An output side in pixels: 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dimension(pub u32);

impl FieldValue for Dimension {
  fn from_value(v: &Value) -> Result<Self, String> {
    whole(v)
      .filter(|n| (1..=65_535).contains(n))
      .map(|n| Dimension(n as u32))
      .ok_or_else(|| format!("must be an integer from 1 to 65535, got {}", describe(v)))
  }
}

/// JPEG and WebP quality: 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality(pub u8);

impl FieldValue for Quality {
  fn from_value(v: &Value) -> Result<Self, String> {
    whole(v)
      .filter(|n| (1..=100).contains(n))
      .map(|n| Quality(n as u8))
      .ok_or_else(|| format!("must be an integer from 1 to 100, got {}", describe(v)))
  }
}

/// An integer option with a fixed range: one type per option, one message.
macro_rules! int_range {
  ($($(#[$doc:meta])* $name:ident($t:ty) = $lo:literal..=$hi:literal;)*) => {$(
    $(#[$doc])*
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct $name(pub $t);

    impl FieldValue for $name {
      fn from_value(v: &Value) -> Result<Self, String> {
        whole(v)
          .filter(|n| ($lo..=$hi).contains(n))
          .map(|n| $name(n as $t))
          .ok_or_else(|| format!("must be an integer from {} to {}, got {}", $lo, $hi, describe(v)))
      }
    }
  )*};
}

int_range! {
  /// PNG zlib level: 0 (stored) to 9.
  CompressionLevel(u8) = 0..=9;
  /// Encoder effort: AVIF 0 to 9, WebP 0 to 6 (libwebp's method; checked
  /// once the output format is known, `Encode::check_for`).
  Effort(u8) = 0..=9;
  /// WebP alpha plane quality: 0 to 100.
  AlphaQuality(u8) = 0..=100;
  /// PNG and GIF palette size: 2 to 256.
  Colours(u16) = 2..=256;
  /// Animated GIF and WebP: times to play, 0 for forever (both formats store 16 bits).
  LoopCount(u32) = 0..=65535;
}

/// The most milliseconds a frame may show: WebP stores 24 bits of them
/// (GIF's hundredths of a second stop at 655350 ms; longer delays are
/// written as that).
pub const MAX_DELAY: u64 = 16_777_215;

/// Animated output's frame delays in milliseconds: one number for every
/// frame, or an array with one per frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Delay(pub crate::tasks::image::Delay);

impl FieldValue for Delay {
  fn from_value(v: &Value) -> Result<Self, String> {
    use crate::tasks::image::Delay as D;
    let ms = |v: &Value| whole(v).filter(|&n| n <= MAX_DELAY).map(|n| n as u32);
    let bad = || format!("must be an integer from 0 to {MAX_DELAY} (milliseconds) or an array of them, got {}", describe(v));
    match v {
      Value::Array(a) if !a.is_empty() => a.iter().map(ms).collect::<Option<Vec<u32>>>().map(|d| Delay(D::Each(d))).ok_or_else(bad),
      _ => ms(v).map(|d| Delay(D::All(d))).ok_or_else(bad),
    }
  }
}

/// A number from 0 to 1 (PNG's `dither`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f32);

impl FieldValue for Fraction {
  fn from_value(v: &Value) -> Result<Self, String> {
    v.as_f64()
      .filter(|f| (0.0..=1.0).contains(f))
      .map(|f| Fraction(f as f32))
      .ok_or_else(|| format!("must be a number from 0 to 1, got {}", describe(v)))
  }
}

/// A pixel limit: a non-negative integer; `false` (or 0) for none; `true`
/// for the default (None here).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelLimit(pub Option<u64>);

impl FieldValue for PixelLimit {
  fn from_value(v: &Value) -> Result<Self, String> {
    match v {
      Value::Bool(true) => Ok(PixelLimit(None)),
      Value::Bool(false) => Ok(PixelLimit(Some(0))),
      _ => whole(v).map(|n| PixelLimit(Some(n))).ok_or_else(|| format!("must be a non-negative integer, true or false; got {}", describe(v))),
    }
  }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flag(pub bool);

impl FieldValue for Flag {
  fn from_value(v: &Value) -> Result<Self, String> {
    v.as_bool().map(Flag).ok_or_else(|| format!("must be a boolean, got {}", describe(v)))
  }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub String);

impl FieldValue for Text {
  fn from_value(v: &Value) -> Result<Self, String> {
    v.as_str().map(|s| Text(s.to_string())).ok_or_else(|| format!("must be a string, got {}", describe(v)))
  }
}

/// RGBA from '#rgb', '#rrggbb', '#rrggbbaa', 'white', 'black',
/// 'transparent' or { r, g, b, alpha } (alpha 0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Colour(pub [u8; 4]);

impl FieldValue for Colour {
  fn from_value(v: &Value) -> Result<Self, String> {
    let bad = || format!("must be a colour such as '#ff0000', 'white' or {{ r, g, b, alpha }}, got {}", describe(v));
    match v {
      Value::String(s) => {
        let s = s.to_ascii_lowercase();
        match s.as_str() {
          "white" => return Ok(Colour([255, 255, 255, 255])),
          "black" => return Ok(Colour([0, 0, 0, 255])),
          "transparent" => return Ok(Colour([0, 0, 0, 0])),
          _ => {}
        }
        let hex = s.strip_prefix('#').unwrap_or(&s);
        let hex: String = if hex.len() == 3 { hex.chars().flat_map(|c| [c, c]).collect() } else { hex.to_string() };
        if !(hex.len() == 6 || hex.len() == 8) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
          return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Colour([byte(0)?, byte(2)?, byte(4)?, if hex.len() == 8 { byte(6)? } else { 255 }]))
      }
      Value::Object(m) => {
        let c = |k: &str| m.get(k).and_then(whole).filter(|&n| n <= 255).map(|n| n as u8).ok_or_else(bad);
        let alpha = match m.get("alpha") {
          None | Some(Value::Null) => 1.0,
          Some(a) => a.as_f64().filter(|a| (0.0..=1.0).contains(a)).ok_or_else(bad)?,
        };
        Ok(Colour([c("r")?, c("g")?, c("b")?, (alpha * 255.0).round() as u8]))
      }
      _ => Err(bad()),
    }
  }
}

/// A field whose value is one of a table of names.
pub trait Choice: Copy + 'static {
  /// Every accepted name and its value, in the order messages list them.
  const NAMES: &'static [(&'static str, Self)];
  /// Whether 'North' is 'north' (sharp's positions and formats; not fits).
  const ANY_CASE: bool = false;

  fn from_name(name: &str) -> Option<Self> {
    Self::NAMES.iter().find(|(n, _)| *n == name || (Self::ANY_CASE && n.eq_ignore_ascii_case(name))).map(|(_, v)| *v)
  }

  fn names() -> Vec<&'static str> {
    Self::NAMES.iter().map(|(n, _)| *n).collect()
  }

  fn from_json(v: &Value) -> Result<Self, String> {
    v.as_str().and_then(Self::from_name).ok_or_else(|| format!("must be one of {}; got {}", Self::names().join(", "), describe(v)))
  }
}

macro_rules! choice_value {
  ($($t:ty),*) => {$(
    impl FieldValue for $t {
      fn from_value(v: &Value) -> Result<Self, String> {
        <$t as Choice>::from_json(v)
      }
    }
  )*};
}

impl Choice for Fit {
  const NAMES: &'static [(&'static str, Fit)] =
    &[("cover", Fit::Cover), ("contain", Fit::Contain), ("fill", Fit::Fill), ("inside", Fit::Inside), ("outside", Fit::Outside)];
}

impl Choice for Kernel {
  const NAMES: &'static [(&'static str, Kernel)] = &[
    ("nearest", Kernel::Nearest),
    ("linear", Kernel::Linear),
    ("cubic", Kernel::Cubic),
    ("mitchell", Kernel::Mitchell),
    ("lanczos3", Kernel::Lanczos3),
  ];
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputFormat(pub Format);

impl Choice for OutputFormat {
  const NAMES: &'static [(&'static str, OutputFormat)] = &[
    ("jpeg", OutputFormat(Format::Jpeg)),
    ("jpg", OutputFormat(Format::Jpeg)),
    ("png", OutputFormat(Format::Png)),
    ("webp", OutputFormat(Format::Webp)),
    ("avif", OutputFormat(Format::Avif)),
    ("gif", OutputFormat(Format::Gif)),
  ];
  const ANY_CASE: bool = true;
}

/// sharp's position names and gravities, as (x, y) anchors from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position(pub (f64, f64));

impl Choice for Position {
  const NAMES: &'static [(&'static str, Position)] = &[
    ("centre", Position((0.5, 0.5))),
    ("center", Position((0.5, 0.5))),
    ("top", Position((0.5, 0.0))),
    ("right top", Position((1.0, 0.0))),
    ("right", Position((1.0, 0.5))),
    ("right bottom", Position((1.0, 1.0))),
    ("bottom", Position((0.5, 1.0))),
    ("left bottom", Position((0.0, 1.0))),
    ("left", Position((0.0, 0.5))),
    ("left top", Position((0.0, 0.0))),
    ("north", Position((0.5, 0.0))),
    ("northeast", Position((1.0, 0.0))),
    ("east", Position((1.0, 0.5))),
    ("southeast", Position((1.0, 1.0))),
    ("south", Position((0.5, 1.0))),
    ("southwest", Position((0.0, 1.0))),
    ("west", Position((0.0, 0.5))),
    ("northwest", Position((0.0, 0.0))),
  ];
  const ANY_CASE: bool = true;
}

impl Choice for Algorithm {
  const NAMES: &'static [(&'static str, Algorithm)] =
    &[("sha256", Algorithm::Sha256), ("sha512", Algorithm::Sha512), ("blake3", Algorithm::Blake3), ("md5", Algorithm::Md5)];
  const ANY_CASE: bool = true;
}

impl Choice for Blend {
  const NAMES: &'static [(&'static str, Blend)] = &Blend::ALL;
}

impl Choice for ChromaSubsampling {
  const NAMES: &'static [(&'static str, ChromaSubsampling)] = &[("4:2:0", ChromaSubsampling::Yuv420), ("4:4:4", ChromaSubsampling::Yuv444)];
}

choice_value!(Fit, Kernel, OutputFormat, Position, Algorithm, ChromaSubsampling, Blend);
field_value!(
  Dimension, Quality, PixelLimit, Flag, Text, Colour, Fit, Kernel, OutputFormat, Position, Algorithm, ChromaSubsampling, Blend,
  CompressionLevel, Effort, AlphaQuality, Colours, Fraction, LoopCount, Delay
);

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn colours() {
    assert_eq!(Colour::from_value(&json!("#f00")).unwrap().0, [255, 0, 0, 255]);
    assert_eq!(Colour::from_value(&json!("#00ff0080")).unwrap().0, [0, 255, 0, 128]);
    assert_eq!(Colour::from_value(&json!({ "r": 1, "g": 2, "b": 3, "alpha": 0 })).unwrap().0, [1, 2, 3, 0]);
    assert!(Colour::from_value(&json!("#12")).is_err());
  }

  #[test]
  fn choices_name_every_accepted_value() {
    let e = Position::from_value(&json!("upper left")).unwrap_err();
    assert!(e.starts_with("must be one of centre, center, top, right top"), "{e}");
    assert!(e.ends_with("; got a string (\"upper left\")"), "{e}");
    assert_eq!(Position::from_value(&json!("North")).unwrap().0, (0.5, 0.0));
    assert!(Fit::from_value(&json!("Cover")).is_err());
    assert_eq!(OutputFormat::from_value(&json!("JPG")).unwrap().0, Format::Jpeg);
  }

  #[test]
  fn whole_numbers_may_be_floats() {
    assert_eq!(Dimension::from_value(&json!(100.0)).unwrap().0, 100);
    for bad in [json!(100.5), json!(-100.0), json!(1e300), json!(0), json!("100")] {
      assert!(Dimension::from_value(&bad).is_err(), "{bad}");
    }
    assert_eq!(PixelLimit::from_value(&json!(1e308)).unwrap().0, Some(u64::MAX));
    assert_eq!(Dimension::from_value(&json!(0)).unwrap_err(), "must be an integer from 1 to 65535, got number 0");
  }
}
