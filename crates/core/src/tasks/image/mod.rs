//! The image tasks: `metadata` (header only) and `resize`
//! (decode → orient → resize → encode, with cancellation checkpoints between).

pub mod animated;
pub mod avif;
pub mod avif_decode;
pub mod bands;
pub mod colour;
pub mod composite;
pub mod decode;
pub mod embed;
pub mod encode;
pub mod gif_encode;
pub mod header;
pub mod isobmff;
pub mod limits;
pub mod meta;
pub mod ops;
pub mod orient;
pub mod palette;
pub mod plausible;
pub mod resize;
pub mod stages;
pub mod steps;
pub mod stream;
pub mod timing;
pub mod webp_anim;

pub use encode::{Avif, ChromaSubsampling, Delay, Encode, Palette};
pub use header::Header;
pub use resize::{Fit, Kernel};

use crate::error::Result;
use crate::pool::Cancel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
  Jpeg,
  Png,
  Webp,
  Gif,
  Avif,
}

impl Format {
  pub fn name(self) -> &'static str {
    match self {
      Format::Jpeg => "jpeg",
      Format::Png => "png",
      Format::Webp => "webp",
      Format::Gif => "gif",
      Format::Avif => "avif",
    }
  }
  pub fn parse(s: &str) -> Option<Format> {
    match s {
      "jpeg" | "jpg" => Some(Format::Jpeg),
      "png" => Some(Format::Png),
      "webp" => Some(Format::Webp),
      "gif" => Some(Format::Gif),
      "avif" => Some(Format::Avif),
      _ => None,
    }
  }
}

/// sharp's default for `limitInputPixels`: 0x3FFF * 0x3FFF.
pub const DEFAULT_LIMIT_INPUT_PIXELS: u64 = 268_402_689;

#[derive(Debug, Clone, PartialEq)]
pub struct ResizeOptions {
  pub width: Option<u32>,
  pub height: Option<u32>,
  pub fit: Fit,
  /// Anchor for cover crops and contain embedding: 0 = left/top, 1 = right/bottom.
  pub position: (f64, f64),
  /// RGBA; used for contain's letterbox and for flattening alpha into JPEG.
  pub background: [u8; 4],
  pub without_enlargement: bool,
  pub kernel: Kernel,
  /// Output format; `None` keeps the input's (GIF becomes PNG).
  pub format: Option<Format>,
  /// The encoder's settings (quality, progressive, compressionLevel...).
  pub encode: Encode,
  pub auto_orient: bool,
  /// sharp's `animated`: every frame of an animated GIF or WebP is resized
  /// and written as an animation (animated.rs); otherwise the first frame.
  pub animated: bool,
  /// 0 disables the check.
  pub limit_input_pixels: u64,
  /// Most pixels the output (and a `contain` canvas's resized image) may
  /// have; 0 disables the check. `None` follows `limit_input_pixels`: an
  /// output may be as large as an input the caller accepts, and turning the
  /// input limit off turns this one off too unless it is set.
  pub limit_output_pixels: Option<u64>,
  /// extract, rotate, flip, flop, sharpen, blur, greyscale (steps.rs).
  pub steps: steps::Steps,
  /// sharp's `resolveWithObject`: the task returns the bytes with an
  /// `OutputInfo` (Output::Image) instead of the bytes alone.
  pub resolve_with_object: bool,
  /// sharp's `keepExif`: the input's EXIF goes into the output (its
  /// Orientation set to 1 when auto-oriented).
  pub keep_exif: bool,
  /// sharp's `keepIccProfile`: the input's ICC profile goes into the output
  /// and the pixels stay in it, not converted to sRGB.
  pub keep_icc_profile: bool,
}

impl ResizeOptions {
  /// The output pixel limit in force: `limit_output_pixels`, or else `limit_input_pixels`.
  pub fn effective_limit_output_pixels(&self) -> u64 {
    self.limit_output_pixels.unwrap_or(self.limit_input_pixels)
  }
}

impl Default for ResizeOptions {
  fn default() -> Self {
    ResizeOptions {
      width: None,
      height: None,
      fit: Fit::Cover,
      position: (0.5, 0.5),
      background: [255, 255, 255, 255],
      without_enlargement: false,
      kernel: Kernel::Lanczos3,
      format: None,
      encode: Encode::default(),
      auto_orient: true,
      animated: false,
      limit_input_pixels: DEFAULT_LIMIT_INPUT_PIXELS,
      limit_output_pixels: None,
      steps: steps::Steps::default(),
      resolve_with_object: false,
      keep_exif: false,
      keep_icc_profile: false,
    }
  }
}

/// What `metadata()` reports, read from the headers without decoding pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
  pub format: Format,
  pub width: u32,
  pub height: u32,
  pub channels: u8,
  pub has_alpha: bool,
  pub orientation: u8,
  pub size: usize,
  /// EXIF/ICC/XMP blocks, density, progressive, animation and subsampling (sharp's names).
  pub details: meta::Details,
}

impl Metadata {
  /// sharp's `hasProfile`: an embedded ICC profile is present.
  pub fn has_profile(&self) -> bool {
    self.details.icc.is_some()
  }
}

pub fn metadata(data: &[u8]) -> Result<Metadata> {
  let h = header::read(data)?;
  Ok(Metadata {
    format: h.format,
    width: h.width,
    height: h.height,
    channels: h.channels,
    has_alpha: h.has_alpha,
    orientation: h.orientation,
    size: data.len(),
    details: meta::details(data, h.format),
  })
}

pub fn validate(opts: &ResizeOptions) -> Result<()> {
  use crate::error::Error;
  for (name, v) in [("width", opts.width), ("height", opts.height)] {
    if let Some(v) = v {
      if !(1..=65_535).contains(&v) {
        return Err(Error::invalid(format!("{name} must be an integer from 1 to 65535, got {v}")));
      }
    }
  }
  opts.encode.check()?;
  let (px, py) = opts.position;
  if !(0.0..=1.0).contains(&px) || !(0.0..=1.0).contains(&py) {
    return Err(Error::invalid("position must lie within 0..1 on each axis"));
  }
  Ok(())
}

/// What a resize wrote, as sharp's `info` describes its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputInfo {
  pub format: Format,
  pub width: u32,
  pub height: u32,
  /// Channels the encoder was given: 3 (RGB) or 4 (RGBA).
  pub channels: u8,
  /// Bytes written.
  pub size: usize,
  /// An animation's frames and the height of one (sharp's `pages` and
  /// `pageHeight`; `height` is then all frames stacked, as sharp reports
  /// it); None for a still image.
  pub pages: Option<(u32, u32)>,
}

/// A resize's bytes and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
  pub bytes: Vec<u8>,
  pub info: OutputInfo,
}

/// The resized image's bytes (see `resize_with_info`).
pub fn resize(data: &[u8], opts: &ResizeOptions, cancel: &Cancel) -> Result<Vec<u8>> {
  resize_with_info(data, opts, cancel).map(|e| e.bytes)
}

/// What a resize will do, known from the header and the options before
/// anything is decoded: shared by `resize` and the pool's memory estimate.
pub struct Prepared {
  pub orientation: u8,
  /// Upright size of the input.
  pub upright: (u32, u32),
  /// Size the resize starts from, after extract and rotate.
  pub source: (u32, u32),
  pub plan: resize::Plan,
  pub format: Format,
  /// The smallest decode (stored orientation) that still yields the output.
  pub need: (u32, u32),
  /// Pixels of the largest `composite` overlay (0: none).
  pub overlay_pixels: u64,
  /// Every frame is resized and written as an animation (animated.rs):
  /// `animated` was asked for and the input has more than one frame.
  pub animation: bool,
}

pub fn prepare(header: &Header, opts: &ResizeOptions) -> Result<Prepared> {
  header::check_limit(header, opts.limit_input_pixels)?;
  let animation = opts.animated && header.frames > 1;
  let orientation = if opts.auto_orient { header.orientation } else { 1 };
  let (iw, ih) = if orientation >= 5 { (header.height, header.width) } else { (header.width, header.height) };
  let (sw, sh) = opts.steps.source_size(iw, ih)?;
  steps::check_rotation(&opts.steps, (sw, sh), opts.limit_input_pixels)?;
  let plan = resize::plan(sw, sh, opts.width, opts.height, opts.fit, opts.position, opts.without_enlargement)?;
  let format = match opts.format {
    Some(f) => f,
    // A still GIF input gives PNG, as before GIF could be written.
    None if header.format == Format::Gif && !opts.animated => Format::Png,
    None => header.format,
  };
  opts.encode.check_for(format)?;
  if animation {
    animated::check(header, format, opts)?;
  }
  embed::check(format, opts.keep_exif, opts.keep_icc_profile)?;
  // What the output will be is known now: refuse it before decoding if it is
  // more than the limits, the encoder or the resampler's tables allow.
  limits::check_plan(&plan, (sw, sh), format, opts.kernel, opts.effective_limit_output_pixels())?;
  let need = decode_target(&plan, (iw, ih), opts.steps.has_geometry(), orientation);
  // Overlays are inputs too: their headers meet the same pixel limit, now.
  let overlay_pixels = composite::check(&opts.steps.composite, opts.limit_input_pixels)?;
  Ok(Prepared { orientation, upright: (iw, ih), source: (sw, sh), plan, format, need, overlay_pixels, animation })
}

/// Decode → orient → steps → resize → encode; the info costs nothing to
/// keep (the encoder's input already says it), so every caller gets it.
/// A JPEG-to-JPEG resize that finds a pool thread idle runs its stages
/// side by side on two threads (stream.rs), with the same output.
pub fn resize_with_info(data: &[u8], opts: &ResizeOptions, cancel: &Cancel) -> Result<Encoded> {
  validate(opts)?;
  let header = header::read(data)?;
  let prepared = prepare(&header, opts)?;
  if prepared.animation {
    return animated::resize(data, &header, &prepared, opts, cancel);
  }
  cancel.check()?;
  let Rendered { mut bytes, width, height, channels, kept_icc } = if stream::applies(&header, opts, &prepared) && crate::pool::spare_thread() {
    stream::resize(data, &header, opts, &prepared, cancel)?
  } else {
    resize_on_one_thread(data, &header, opts, &prepared, cancel)?
  };
  if opts.keep_exif || kept_icc.is_some() {
    let exif = if opts.keep_exif { meta::details(data, header.format).exif } else { None };
    let kept = embed::Kept { exif: exif.map(|e| embed::Kept::exif_from(&e, prepared.orientation != 1)), icc: kept_icc };
    bytes = embed::embed(bytes, prepared.format, &kept)?;
  }
  cancel.check()?;
  let info = OutputInfo { format: prepared.format, width, height, channels, size: bytes.len(), pages: None };
  Ok(Encoded { bytes, info })
}

/// An encoded image before the kept metadata goes in: what the encoder was
/// given, and the ICC profile to embed (when kept).
#[derive(Debug)]
pub struct Rendered {
  pub bytes: Vec<u8>,
  pub width: u32,
  pub height: u32,
  pub channels: u8,
  pub kept_icc: Option<Vec<u8>>,
}

fn resize_on_one_thread(data: &[u8], header: &Header, opts: &ResizeOptions, prepared: &Prepared, cancel: &Cancel) -> Result<Rendered> {
  // The decoder may shrink in the DCT domain as long as the region we resample
  // still has at least as many pixels as the output on each axis.
  let (pixels, icc) = decode::decode(data, header, Some(prepared.need))?;
  cancel.check()?;
  // Output carries no profile unless kept, so embedded-profile colours are
  // converted to sRGB (as sharp does); a kept profile keeps its pixels.
  let (convert, kept_icc) = if opts.keep_icc_profile { (None, icc) } else { (icc, None) };
  let out = transform(pixels, convert.as_deref(), prepared, opts, cancel)?;
  let bytes = encode::encode(&out, prepared.format, &opts.encode, cancel)?;
  Ok(Rendered { bytes, width: out.width, height: out.height, channels: out.channels, kept_icc })
}

/// What happens between the decoder and the encoder, to an image or to one
/// frame of an animation: orient → steps → resample → sRGB (from `icc`, on
/// the resized pixels, where it is cheapest) → embed → filters → overlays
/// (→ flattened for JPEG).
pub(crate) fn transform(mut pixels: decode::Pixels, icc: Option<&[u8]>, p: &Prepared, opts: &ResizeOptions, cancel: &Cancel) -> Result<decode::Pixels> {
  pixels = orient::apply(pixels, p.orientation);
  if opts.steps.has_geometry() {
    pixels = opts.steps.geometry(pixels, p.upright, opts.background, cancel)?;
    cancel.check()?;
  }

  let plan = plan_for_decoded(p.plan, p.source, &pixels);

  let bg_transparent = opts.background[3] < 255 && plan.canvas != plan.scaled;
  if bg_transparent && p.format != Format::Jpeg {
    pixels = resize::add_alpha(pixels)?;
  }
  let mut resized = resize::resample(pixels, &plan, opts.kernel)?;
  cancel.check()?;
  if let Some(icc) = icc {
    colour::to_srgb(&mut resized, icc);
  }
  let mut out = resize::embed(resized, &plan, opts.background)?;
  out = opts.steps.filters(out, cancel)?;
  out = opts.steps.overlays(out, opts.limit_input_pixels, cancel)?;
  if p.format == Format::Jpeg {
    out = resize::flatten(out, opts.background)?;
  }
  Ok(out)
}

/// The decoder may have shrunk the image (DCT scaling): `plan`, made for a
/// source of `source` pixels, with its crop scaled to `pixels`.
pub fn plan_for_decoded(plan: resize::Plan, source: (u32, u32), pixels: &decode::Pixels) -> resize::Plan {
  plan_for_size(plan, source, (pixels.width, pixels.height))
}

/// `plan_for_decoded` for a decode of `width`x`height` pixels.
pub fn plan_for_size(plan: resize::Plan, source: (u32, u32), (width, height): (u32, u32)) -> resize::Plan {
  let kx = f64::from(width) / f64::from(source.0);
  let ky = f64::from(height) / f64::from(source.1);
  let (l, t, w, h) = plan.crop;
  let crop = if (kx, ky) == (1.0, 1.0) {
    plan.crop
  } else {
    let w2 = (w * kx).min(f64::from(width));
    let h2 = (h * ky).min(f64::from(height));
    ((l * kx).min(f64::from(width) - w2), (t * ky).min(f64::from(height) - h2), w2, h2)
  };
  resize::Plan { crop, ..plan }
}

/// The smallest decoded size (stored orientation) that still covers `plan`'s
/// crop with at least the output's pixels on each axis, for an upright input
/// of `iw`x`ih`. With steps before the resize (extract, rotate), which
/// commute with a uniform scale, both axes shrink by the larger factor.
fn decode_target(plan: &resize::Plan, (iw, ih): (u32, u32), geometry: bool, orientation: u8) -> (u32, u32) {
  let (_, _, cw, ch) = plan.crop;
  let (mut fx, mut fy) = (f64::from(plan.scaled.0) / cw, f64::from(plan.scaled.1) / ch);
  if geometry {
    fx = fx.max(fy);
    fy = fx;
  }
  let nw = (fx * f64::from(iw)).ceil() as u32;
  let nh = (fy * f64::from(ih)).ceil() as u32;
  if orientation >= 5 {
    (nh, nw)
  } else {
    (nw, nh)
  }
}
