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
  pub header: i64,
  /// JPEG: entropy decoding, IDCT at the chosen DCT scale and upsampling,
  /// output left in YCbCr; other formats: the whole decode.
  pub decode: i64,
  /// JPEG: the decode to RGB minus the decode left in YCbCr, per repetition
  /// (libjpeg's colour conversion). Zero or below when the conversion costs
  /// less than the YCbCr output's own copy into interleaved rows (measured
  /// so with libjpeg-turbo's SIMD converters); 0 for other formats.
  pub colour: i64,
  /// The DCT scale the decoder used (numerator out of 8; 8 for non-JPEG).
  pub dct_scale: u32,
  /// Orientation (a no-op for upright inputs).
  pub orient: i64,
  /// Resampling the crop to the output size (fast_image_resize).
  pub resample: i64,
  /// Conversion from an embedded ICC profile to sRGB (0 without one).
  pub profile: i64,
  /// Embedding (contain) and flattening alpha for JPEG.
  pub embed: i64,
  /// Encoding the output.
  pub encode: i64,
  /// JPEG output: the encode of the RGB rows minus the encode of the same
  /// rows converted to YCbCr beforehand, per repetition (the encoder's
  /// colour conversion; below zero when it costs less than taking YCbCr in
  /// as it is); 0 for other formats. Already inside `encode`: not a stage of
  /// its own.
  pub encode_colour: i64,
  /// `resize_with_info` end to end on this thread, for comparison with the sum.
  pub pipeline: i64,
}

/// Times each stage of resizing `data` with `opts`, `reps` times (at least 1).
/// Steps (extract, rotate, filters) are not broken out: their time lands in
/// `pipeline` only.
pub fn stages(data: &[u8], opts: &ResizeOptions, reps: u32) -> Result<StageTimes> {
  run_guarded(|| time_stages(data, opts, reps.max(1)))
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, i64)> {
  let t0 = Instant::now();
  let out = f()?;
  Ok((out, t0.elapsed().as_nanos() as i64))
}

fn median(mut v: Vec<i64>) -> i64 {
  v.sort_unstable();
  v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Each repetition runs every stage once, in the pipeline's order, then the
/// whole pipeline: drift in the machine's load hits all of them alike.
fn time_stages(data: &[u8], opts: &ResizeOptions, reps: u32) -> Result<StageTimes> {
  let never = Cancel::never();
  let header = header::read(data)?;
  let jpeg = header.format == Format::Jpeg && header.channels == 3;
  let mut samples: [Vec<i64>; 10] = Default::default();
  let mut dct_scale = 8;
  for _ in 0..reps {
    let (Prepared { orientation, source, plan, format, need, .. }, ns) = timed(|| prepare(&header::read(data)?, opts))?;
    samples[0].push(ns);
    let ((decoded, icc), rgb) = timed(|| decode::decode(data, &header, Some(need)))?;
    if jpeg {
      let numerator = decode::jpeg_scale_numerator(header.width, header.height, Some(need));
      dct_scale = u32::from(numerator);
      let (_, ycc) = timed(|| decode_ycbcr(data, numerator))?;
      samples[1].push(ycc);
      samples[2].push(rgb - ycc);
    } else {
      samples[1].push(rgb);
      samples[2].push(0);
    }
    let (pixels, ns) = timed(|| Ok(orient::apply(decoded, orientation)))?;
    samples[3].push(ns);
    let plan = plan_for_decoded(plan, source, &pixels);
    let (mut resized, ns) = timed(|| resize::resample(pixels, &plan, opts.kernel))?;
    samples[4].push(ns);
    let (_, ns) = timed(|| {
      if let Some(icc) = icc.as_deref() {
        colour::to_srgb(&mut resized, icc);
      }
      Ok(())
    })?;
    samples[5].push(ns);
    let (out, ns) = timed(|| {
      let out = resize::embed(resized, &plan, opts.background)?;
      if format == Format::Jpeg {
        resize::flatten(out, opts.background)
      } else {
        Ok(out)
      }
    })?;
    samples[6].push(ns);
    let (_, ns) = timed(|| encode::encode(&out, format, &opts.encode, &never))?;
    samples[7].push(ns);
    if format == Format::Jpeg && out.channels == 3 {
      let ycc = to_ycbcr(&out.data);
      let (_, ycc_ns) = timed(|| {
        let mut writer = encode::JpegWriter::start_ycbcr(&opts.encode, out.width, out.height)?;
        writer.write(&ycc)?;
        writer.finish()
      })?;
      samples[9].push(ns - ycc_ns);
    } else {
      samples[9].push(0);
    }
    let (_, ns) = timed(|| resize_with_info(data, opts, &never))?;
    samples[8].push(ns);
  }
  let [header, decode, colour, orient, resample, profile, embed, encode, pipeline, encode_colour] = samples.map(median);
  Ok(StageTimes { header, decode, colour, dct_scale, orient, resample, profile, embed, encode, encode_colour, pipeline })
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

/// RGB rows to YCbCr rows as JFIF defines it (full-range BT.601, the
/// encoder's own conversion up to rounding): the input of the YCbCr encode
/// timed above.
fn to_ycbcr(rgb: &[u8]) -> Vec<u8> {
  rgb.chunks_exact(3).flat_map(|p| super::avif::jfif_ycbcr(p[0], p[1], p[2])).collect()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ycbcr_of_grey_white_and_the_primaries() {
    assert_eq!(to_ycbcr(&[0, 0, 0, 255, 255, 255, 128, 128, 128]), vec![0, 128, 128, 255, 128, 128, 128, 128, 128]);
    assert_eq!(to_ycbcr(&[255, 0, 0]), vec![76, 85, 255]);
    assert_eq!(to_ycbcr(&[0, 0, 255]), vec![29, 255, 107]);
  }

  /// The YCbCr encode the breakdown times writes the image the RGB encode
  /// writes: decoded back, the two agree closely.
  #[test]
  fn the_ycbcr_encode_writes_the_same_image() {
    let (w, h) = (64u32, 48u32);
    let rgb: Vec<u8> = (0..w * h).flat_map(|i| [(i % w * 4) as u8, (i / w * 5) as u8, ((i * 7) % 256) as u8]).collect();
    let e = encode::Encode { quality: 95, ..Default::default() };
    let from_rgb = encode::encode(&decode::Pixels { data: rgb.clone(), width: w, height: h, channels: 3 }, Format::Jpeg, &e, &Cancel::never()).unwrap();
    let mut writer = encode::JpegWriter::start_ycbcr(&e, w, h).unwrap();
    writer.write(&to_ycbcr(&rgb)).unwrap();
    let from_ycc = writer.finish().unwrap();
    let pixels = |bytes: &[u8]| decode::decode(bytes, &header::read(bytes).unwrap(), None).unwrap().0.data;
    let (a, b) = (pixels(&from_rgb), pixels(&from_ycc));
    let worst = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
    assert!(worst <= 3, "decoded pixels differ by up to {worst}");
  }
}
