//! The options of each task: resize (sharp's names), metadata (none) and
//! hash (the algorithm), and `task()`, which turns a task's name and options
//! into the core's `Task`.

use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use super::steps::{Blur, CompositeOption, Extract, Rotate, SharpenOption};
use super::values::{
  AlphaQuality, Choice, Colour, Colours, CompressionLevel, Delay, Dimension, Effort, Flag, Fraction, LoopCount, OutputFormat, PixelLimit, Position, Quality,
};
use super::{describe, fields, parse};
use crate::error::{Error, Result};
use crate::tasks::hash::Algorithm;
use crate::tasks::image::composite::Blend;
use crate::tasks::image::steps::Steps;
use crate::tasks::image::{Avif, ChromaSubsampling, Encode, Fit, Kernel, Palette, ResizeOptions};
use crate::tasks::Task;

/// resize's options. Field names are sharp's.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResizeSpec {
  pub width: Option<Dimension>,
  pub height: Option<Dimension>,
  pub fit: Option<Fit>,
  pub position: Option<Position>,
  pub background: Option<Colour>,
  pub without_enlargement: Option<Flag>,
  pub kernel: Option<Kernel>,
  pub format: Option<OutputFormat>,
  // The encoder's options (sharp's names, flat as sharp's toFormat() takes
  // them): each concerns one output format; the others ignore it, but its
  // value is checked whatever the format. Read by `ResizeSpec::encode`.
  /// JPEG, WebP and AVIF (AVIF's default: 50).
  pub quality: Option<Quality>,
  /// JPEG: a progressive (multi-scan) JPEG.
  pub progressive: Option<Flag>,
  /// JPEG: '4:2:0' (default) or '4:4:4'; AVIF: the same, default '4:4:4'.
  pub chroma_subsampling: Option<ChromaSubsampling>,
  /// JPEG: mozjpeg's trellis quantisation.
  #[serde(alias = "trellisQuantization")]
  pub trellis_quantisation: Option<Flag>,
  /// JPEG: optimised Huffman tables.
  #[serde(alias = "optimizeCoding")]
  pub optimise_coding: Option<Flag>,
  /// PNG: zlib level 0-9.
  pub compression_level: Option<CompressionLevel>,
  /// PNG: a filter per row.
  pub adaptive_filtering: Option<Flag>,
  /// PNG: indexed colour; implied by colours or dither, as in sharp.
  pub palette: Option<Flag>,
  /// PNG and GIF palette size, 2-256.
  #[serde(alias = "colors")]
  pub colours: Option<Colours>,
  /// PNG and GIF palette dithering, 0-1.
  pub dither: Option<Fraction>,
  /// Animated GIF and WebP: times to play, 0 forever (default: the input's).
  #[serde(rename = "loop")]
  pub loop_count: Option<LoopCount>,
  /// Animated GIF and WebP: milliseconds per frame, one number or one per
  /// frame (default: the input's).
  pub delay: Option<Delay>,
  /// WebP and AVIF: lossless.
  pub lossless: Option<Flag>,
  /// WebP: near-lossless (implies lossless).
  pub near_lossless: Option<Flag>,
  /// WebP: 0-6; AVIF: 0-9.
  pub effort: Option<Effort>,
  /// WebP: 0-100.
  pub alpha_quality: Option<AlphaQuality>,
  pub auto_orient: Option<Flag>,
  /// sharp's name: every frame of an animated GIF or WebP, not the first only.
  pub animated: Option<Flag>,
  pub limit_input_pixels: Option<PixelLimit>,
  pub limit_output_pixels: Option<PixelLimit>,
  // The operations around the resize, applied in steps.rs's order.
  pub extract: Option<Extract>,
  pub rotate: Option<Rotate>,
  pub flip: Option<Flag>,
  pub flop: Option<Flag>,
  pub sharpen: Option<SharpenOption>,
  pub blur: Option<Blur>,
  pub greyscale: Option<Flag>,
  /// sharp's alias of `greyscale`.
  pub grayscale: Option<Flag>,
  /// Overlays (a watermark), composited after the filters.
  pub composite: Option<CompositeOption>,
  /// The input's EXIF in the output (Orientation 1 when auto-oriented).
  pub keep_exif: Option<Flag>,
  /// The input's ICC profile in the output, pixels left in it.
  pub keep_icc_profile: Option<Flag>,
  /// keepExif and keepIccProfile.
  pub keep_metadata: Option<Flag>,
  /// sharp's name: the result is `{ data, info }` (info: the output's
  /// format, width, height, channels and size) rather than the bytes alone.
  pub resolve_with_object: Option<Flag>,
}

impl From<ResizeSpec> for ResizeOptions {
  fn from(s: ResizeSpec) -> Self {
    let d = ResizeOptions::default();
    ResizeOptions {
      width: s.width.map(|w| w.0),
      height: s.height.map(|h| h.0),
      fit: s.fit.unwrap_or(d.fit),
      position: s.position.map_or(d.position, |p| p.0),
      background: s.background.map_or(d.background, |c| c.0),
      without_enlargement: s.without_enlargement.map_or(d.without_enlargement, |f| f.0),
      kernel: s.kernel.unwrap_or(d.kernel),
      format: s.format.map(|f| f.0).or(d.format),
      encode: s.encode(),
      auto_orient: s.auto_orient.map_or(d.auto_orient, |f| f.0),
      animated: s.animated.map_or(d.animated, |f| f.0),
      limit_input_pixels: s.limit_input_pixels.and_then(|l| l.0).unwrap_or(d.limit_input_pixels),
      // Not given (or true): follows limitInputPixels.
      limit_output_pixels: s.limit_output_pixels.and_then(|l| l.0),
      resolve_with_object: s.resolve_with_object.map_or(d.resolve_with_object, |f| f.0),
      // keepMetadata turns both on, as sharp's keepMetadata() adds to the others.
      keep_exif: s.keep_exif.is_some_and(|f| f.0) || s.keep_metadata.is_some_and(|f| f.0),
      keep_icc_profile: s.keep_icc_profile.is_some_and(|f| f.0) || s.keep_metadata.is_some_and(|f| f.0),
      steps: Steps {
        extract: s.extract.map(|e| e.0),
        rotate: s.rotate.map(|r| r.0),
        flip: s.flip.is_some_and(|f| f.0),
        flop: s.flop.is_some_and(|f| f.0),
        sharpen: s.sharpen.and_then(|o| o.0),
        blur: s.blur.and_then(|b| b.0),
        greyscale: s.greyscale.or(s.grayscale).is_some_and(|f| f.0),
        composite: s.composite.map(|c| c.0).unwrap_or_default(),
      },
    }
  }
}

impl ResizeSpec {
  /// The encoder's settings: sharp's defaults for what is not given.
  fn encode(&self) -> Encode {
    let d = Encode::default();
    let flag = |f: Option<Flag>, default: bool| f.map_or(default, |f| f.0);
    // sharp: colours or dither ask for a palette unless palette says otherwise.
    let palette = flag(self.palette, self.colours.is_some() || self.dither.is_some());
    Encode {
      quality: self.quality.map_or(d.quality, |q| q.0),
      progressive: flag(self.progressive, d.progressive),
      chroma_subsampling: self.chroma_subsampling.unwrap_or(d.chroma_subsampling),
      trellis_quantisation: flag(self.trellis_quantisation, d.trellis_quantisation),
      optimise_coding: flag(self.optimise_coding, d.optimise_coding),
      compression_level: self.compression_level.map_or(d.compression_level, |c| c.0),
      adaptive_filtering: flag(self.adaptive_filtering, d.adaptive_filtering),
      palette: palette.then(|| Palette { colours: self.colours.map_or(256, |c| c.0), dither: self.dither.map_or(1.0, |f| f.0) }),
      lossless: flag(self.lossless, d.lossless),
      near_lossless: flag(self.near_lossless, d.near_lossless),
      effort: self.effort.map_or(d.effort, |e| e.0),
      alpha_quality: self.alpha_quality.map_or(d.alpha_quality, |a| a.0),
      // The same options, with AVIF's defaults.
      avif: Avif {
        quality: self.quality.map_or(d.avif.quality, |q| q.0),
        chroma_subsampling: self.chroma_subsampling.unwrap_or(d.avif.chroma_subsampling),
        effort: self.effort.map_or(d.avif.effort, |e| e.0),
      },
      gif: Palette { colours: self.colours.map_or(d.gif.colours, |c| c.0), dither: self.dither.map_or(d.gif.dither, |f| f.0) },
      loop_count: self.loop_count.map(|l| l.0),
      delay: self.delay.clone().map(|d| d.0),
    }
  }
}

/// metadata takes no options (it reads the header only).
#[derive(Debug, Default, Deserialize)]
pub struct MetadataSpec {}

/// hash's options.
#[derive(Debug, Default, Deserialize)]
pub struct HashSpec {
  pub algorithm: Option<Algorithm>,
}

impl Default for Algorithm {
  fn default() -> Self {
    Algorithm::Sha256
  }
}

/// The hash hot path takes the algorithm's name as a string, not JSON: the
/// same table and the same message as `{ algorithm }`.
impl FromStr for Algorithm {
  type Err = Error;

  fn from_str(s: &str) -> Result<Algorithm> {
    Algorithm::from_name(s)
      .ok_or_else(|| Error::invalid(format!("algorithm must be one of {}; got {}", Algorithm::names().join(", "), describe::describe_str(s))))
  }
}

/// The tasks, by the name JS and jobs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskName {
  Resize,
  Metadata,
  Hash,
}

impl TaskName {
  pub const ALL: [TaskName; 3] = [TaskName::Resize, TaskName::Metadata, TaskName::Hash];

  pub fn as_str(self) -> &'static str {
    match self {
      TaskName::Resize => "resize",
      TaskName::Metadata => "metadata",
      TaskName::Hash => "hash",
    }
  }

  pub fn parse(name: &str) -> Result<TaskName> {
    TaskName::ALL
      .into_iter()
      .find(|t| t.as_str() == name)
      .ok_or_else(|| Error::invalid(format!("unknown task {}: use resize, metadata or hash", serde_json::to_string(name).unwrap_or_default())))
  }

  /// The option names the task accepts.
  pub fn fields(self) -> &'static [&'static str] {
    match self {
      TaskName::Resize => fields::<ResizeSpec>(),
      TaskName::Metadata => fields::<MetadataSpec>(),
      TaskName::Hash => fields::<HashSpec>(),
    }
  }
}

/// The task `name` with options `v` (an object, or null for defaults);
/// keys in `also` (a native job's input, output...) are the caller's.
pub fn task(name: TaskName, v: &Value, also: &[&str]) -> Result<Task> {
  let owner = name.as_str();
  Ok(match name {
    TaskName::Resize => Task::Resize(parse::<ResizeSpec>(owner, v, also)?.into()),
    TaskName::Metadata => {
      parse::<MetadataSpec>(owner, v, also)?;
      Task::Metadata
    }
    TaskName::Hash => Task::Hash(parse::<HashSpec>(owner, v, also)?.algorithm.unwrap_or_default()),
  })
}

/// The accepted values of each named choice, for specInfo() (index.d.ts's
/// unions are tested against these).
pub fn choices() -> Vec<(&'static str, Vec<&'static str>)> {
  vec![
    ("fit", Fit::names()),
    ("kernel", Kernel::names()),
    ("position", Position::names()),
    ("format", OutputFormat::names()),
    ("chromaSubsampling", ChromaSubsampling::names()),
    ("blend", Blend::names()),
    ("algorithm", Algorithm::names()),
  ]
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::error::Code;
  use crate::tasks::image::Format;
  use serde_json::json;

  fn resize(v: Value) -> Result<ResizeOptions> {
    match task(TaskName::Resize, &v, &[])? {
      Task::Resize(o) => Ok(o),
      other => panic!("{other:?}"),
    }
  }

  #[test]
  fn defaults_and_nulls() {
    assert_eq!(resize(json!({})).unwrap(), ResizeOptions::default());
    assert_eq!(resize(Value::Null).unwrap(), ResizeOptions::default());
    assert_eq!(resize(json!({ "width": null, "quality": null })).unwrap(), ResizeOptions::default());
    let o = resize(json!({ "width": 100.0, "format": "JPG", "position": "North", "limitInputPixels": false, "progressive": true })).unwrap();
    assert_eq!((o.width, o.format, o.position, o.limit_input_pixels, o.encode.progressive), (Some(100), Some(Format::Jpeg), (0.5, 0.0), 0, true));
  }

  #[test]
  fn messages_name_the_field() {
    let msg = |v: Value| resize(v).unwrap_err().message;
    assert_eq!(msg(json!({ "width": 0 })), "width must be an integer from 1 to 65535, got number 0");
    assert_eq!(msg(json!({ "quality": 101 })), "quality must be an integer from 1 to 100, got number 101");
    assert_eq!(msg(json!({ "autoOrient": 1 })), "autoOrient must be a boolean, got number 1");
    assert!(msg(json!({ "position": "upper left" })).starts_with("position must be one of centre, center"));
    assert!(msg(json!({ "widht": 5 })).starts_with("unknown option \"widht\" (did you mean \"width\"?): resize takes width, height, fit"));
    assert_eq!(msg(json!("wide")), "options must be an object, got a string (\"wide\")");
    assert_eq!(resize(json!({ "width": 0 })).unwrap_err().code, Code::InvalidArg);
  }

  #[test]
  fn encoder_options() {
    let e = resize(json!({ "chromaSubsampling": "4:4:4", "trellisQuantization": true, "optimizeCoding": false, "compressionLevel": 9,
      "adaptiveFiltering": false, "colors": 16, "lossless": true, "nearLossless": true, "effort": 0, "alphaQuality": 50 }))
    .unwrap()
    .encode;
    assert_eq!(e.chroma_subsampling, ChromaSubsampling::Yuv444);
    assert_eq!((e.trellis_quantisation, e.optimise_coding, e.compression_level, e.adaptive_filtering), (true, false, 9, false));
    assert_eq!(e.palette, Some(Palette { colours: 16, dither: 1.0 }), "colours implies a palette");
    assert_eq!((e.lossless, e.near_lossless, e.effort, e.alpha_quality), (true, true, 0, 50));
    assert_eq!(resize(json!({ "dither": 0.5 })).unwrap().encode.palette, Some(Palette { colours: 256, dither: 0.5 }));
    assert_eq!(resize(json!({ "colours": 8, "palette": false })).unwrap().encode.palette, None, "an explicit palette: false wins");
    let msg = |v: Value| resize(v).unwrap_err().message;
    assert_eq!(msg(json!({ "compressionLevel": 10 })), "compressionLevel must be an integer from 0 to 9, got number 10");
    assert_eq!(msg(json!({ "effort": 10 })), "effort must be an integer from 0 to 9, got number 10");
    assert_eq!(msg(json!({ "alphaQuality": -1 })), "alphaQuality must be an integer from 0 to 100, got number -1");
    assert_eq!(msg(json!({ "colours": 1 })), "colours must be an integer from 2 to 256, got number 1");
    assert_eq!(msg(json!({ "dither": 2 })), "dither must be a number from 0 to 1, got number 2");
    assert_eq!(msg(json!({ "chromaSubsampling": "4:2:2" })), "chromaSubsampling must be one of 4:2:0, 4:4:4; got a string (\"4:2:2\")");
    assert_eq!(msg(json!({ "lossless": "yes" })), "lossless must be a boolean, got a string (\"yes\")");
  }

  #[test]
  fn hash_algorithm_by_name_or_option() {
    assert_eq!("MD5".parse::<Algorithm>().unwrap(), Algorithm::Md5);
    let by_name = "crc32".parse::<Algorithm>().unwrap_err().message;
    let by_option = task(TaskName::Hash, &json!({ "algorithm": "crc32" }), &[]).unwrap_err().message;
    assert_eq!(by_name, by_option);
    assert_eq!(by_name, "algorithm must be one of sha256, sha512, blake3, md5; got a string (\"crc32\")");
    assert!(matches!(task(TaskName::Hash, &Value::Null, &[]).unwrap(), Task::Hash(Algorithm::Sha256)));
    assert!(task(TaskName::Metadata, &json!({ "width": 1 }), &[]).unwrap_err().message.contains("metadata takes no options"));
  }
}
