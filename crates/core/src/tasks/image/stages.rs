//! For the benchmark only (benchmark/suites/resize.js): the resize pipeline's
//! stages, each timed alone on the calling thread, to show how far a call is
//! from the sum of its parts. Runs the same functions as `resize_with_info`,
//! in its order, on inputs prepared outside the timed region. Not part of
//! the package's API.

use std::time::Instant;

use super::{colour, decode, encode, header, orient, plan_for_decoded, prepare, resize, resize_with_info, Format, Prepared, ResizeOptions};
use crate::error::{Error, Result};
use crate::pool::{run_guarded, Cancel};

/// Median nanoseconds per stage over the repetitions.
#[derive(Debug, Clone, Default)]
pub struct StageTimes {
  /// Header read and plan (`header::read`, `prepare`).
  pub header: u64,
  /// JPEG: entropy decoding and IDCT at the chosen DCT scale, output left in
  /// YCbCr; other formats: the whole decode.
  pub decode: u64,
  /// JPEG: the decode to RGB minus the decode to YCbCr (libjpeg's colour
  /// conversion and upsampling); 0 for other formats.
  pub colour: u64,
  /// The DCT scale the decoder used (numerator out of 8; 8 for non-JPEG).
  pub dct_scale: u32,
  /// Orientation (a no-op for upright inputs).
  pub orient: u64,
  /// Resampling the crop to the output size (fast_image_resize).
  pub resample: u64,
  /// Conversion from an embedded ICC profile to sRGB (0 without one).
  pub profile: u64,
  /// Embedding (contain) and flattening alpha for JPEG.
  pub embed: u64,
  /// Encoding the output.
  pub encode: u64,
  /// `resize_with_info` end to end on this thread, for comparison with the sum.
  pub pipeline: u64,
}

/// Times each stage of resizing `data` with `opts`, `reps` times (at least 1).
/// Steps (extract, rotate, filters) are not broken out: their time lands in
/// `pipeline` only.
pub fn stages(data: &[u8], opts: &ResizeOptions, reps: u32) -> Result<StageTimes> {
  run_guarded(|| time_stages(data, opts, reps.max(1)))
}

fn median_ns(reps: u32, mut f: impl FnMut() -> Result<u64>) -> Result<u64> {
  let mut v = (0..reps).map(|_| f()).collect::<Result<Vec<u64>>>()?;
  v.sort_unstable();
  Ok(v[v.len() / 2])
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, u64)> {
  let t0 = Instant::now();
  let out = f()?;
  Ok((out, t0.elapsed().as_nanos() as u64))
}

fn time_stages(data: &[u8], opts: &ResizeOptions, reps: u32) -> Result<StageTimes> {
  let never = Cancel::never();
  let mut t = StageTimes::default();
  t.header = median_ns(reps, || timed(|| prepare(&header::read(data)?, opts)).map(|(_, ns)| ns))?;
  let header = header::read(data)?;
  let Prepared { orientation, source, plan, format, need, .. } = prepare(&header, opts)?;

  // Decode, with libjpeg's colour conversion measured apart for JPEG: each
  // decode to RGB right after one left in YCbCr, so that drift in the
  // machine's load hits both; the conversion is the median difference.
  let full = || timed(|| decode::decode(data, &header, Some(need))).map(|(_, ns)| ns);
  if header.format == Format::Jpeg && header.channels == 3 {
    let numerator = decode::jpeg_scale_numerator(header.width, header.height, Some(need));
    t.dct_scale = u32::from(numerator);
    let mut ycc = Vec::new();
    t.colour = median_ns(reps, || {
      let (_, plain) = timed(|| decode_ycbcr(data, numerator))?;
      ycc.push(plain);
      Ok(full()?.saturating_sub(plain))
    })?;
    ycc.sort_unstable();
    t.decode = ycc[ycc.len() / 2];
  } else {
    t.dct_scale = 8;
    t.decode = median_ns(reps, full)?;
  }

  let (decoded, icc) = decode::decode(data, &header, Some(need))?;
  t.orient = median_ns(reps, || {
    let p = decoded.clone();
    timed(|| Ok(orient::apply(p, orientation))).map(|(_, ns)| ns)
  })?;
  let pixels = orient::apply(decoded, orientation);
  let plan = plan_for_decoded(plan, source, &pixels);
  t.resample = median_ns(reps, || {
    let p = pixels.clone();
    timed(|| resize::resample(p, &plan, opts.kernel)).map(|(_, ns)| ns)
  })?;
  let resized = resize::resample(pixels, &plan, opts.kernel)?;
  if let Some(icc) = icc.as_deref() {
    t.profile = median_ns(reps, || {
      let mut p = resized.clone();
      timed(|| {
        colour::to_srgb(&mut p, icc);
        Ok(())
      })
      .map(|(_, ns)| ns)
    })?;
  }
  let embed = |p| -> Result<decode::Pixels> {
    let out = resize::embed(p, &plan, opts.background)?;
    if format == Format::Jpeg {
      resize::flatten(out, opts.background)
    } else {
      Ok(out)
    }
  };
  t.embed = median_ns(reps, || {
    let p = resized.clone();
    timed(|| embed(p)).map(|(_, ns)| ns)
  })?;
  let out = embed(resized)?;
  t.encode = median_ns(reps, || timed(|| encode::encode(&out, format, &opts.encode, &never)).map(|(_, ns)| ns))?;
  t.pipeline = median_ns(reps, || timed(|| resize_with_info(data, opts, &never)).map(|(_, ns)| ns))?;
  Ok(t)
}

/// A JPEG decode at scale `numerator`/8 left in YCbCr (no colour conversion).
fn decode_ycbcr(data: &[u8], numerator: u8) -> Result<Vec<u8>> {
  let bad = |e: std::io::Error| Error::corrupt(format!("JPEG data is corrupt or truncated: {e}"));
  let mut d = mozjpeg::Decompress::new_mem(data).map_err(bad)?;
  d.scale(numerator);
  let mut started = d.to_colorspace(mozjpeg::ColorSpace::JCS_YCbCr).map_err(bad)?;
  let pixels: Vec<u8> = started.read_scanlines().map_err(bad)?;
  started.finish().map_err(bad)?;
  Ok(pixels)
}
