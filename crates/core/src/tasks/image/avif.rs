//! AVIF output: the pixels as one AV1 intra frame (rav1e) in a HEIF
//! container (avif-serialize), with an AV1 monochrome frame for alpha.
//!
//! Why rav1e: it is the one AV1 encoder that builds from crates.io sources
//! alone on every target we ship (Rust, plus nasm for its x86 assembly, which
//! the JPEG codec already needs; aarch64 assembly through the C compiler).
//! libaom (what sharp uses, through libheif) and SVT-AV1 are C/C++ projects
//! built with CMake; libaom's decoder is built that way for AVIF input
//! (avif_decode.rs), but its encoder would add megabytes to an addon held
//! under 10 MB, and rav1e is already here and tuned. `ravif` wraps
//! rav1e too but always writes 4:4:4, so it could not honour
//! `chromaSubsampling: '4:2:0'`; the few lines of colour conversion are ours.
//!
//! Settings follow sharp's meaning: `quality` 1-100 (default 50), `effort`
//! 0 (fastest) to 9 (smallest), `chromaSubsampling` '4:4:4' (default) or
//! '4:2:0', `lossless`. rav1e has no lossless mode (its finest quantiser
//! is index 1, not 0): `lossless` gives that quantiser on untransformed RGB
//! at full resolution, which is close to, but not exactly, the input.

use rav1e::prelude::*;

use super::decode::Pixels;
use super::encode::{Avif, ChromaSubsampling};
use super::limits::try_with_capacity;
use crate::error::{Error, Result};
use crate::pool::panic_message;

/// sharp's AVIF defaults.
pub const DEFAULT_QUALITY: u8 = 50;
/// rav1e speed = 10 - effort, so the default effort 4 is rav1e's speed 6
/// (also rav1e's own default preset).
pub const DEFAULT_EFFORT: u8 = 4;
pub const MAX_EFFORT: u8 = 9;

/// AV1's frame header allows 2^16 pixels a side.
pub const MAX_SIDE: u32 = 65_536;

/// The AV1 quantiser index (0 finest, 255 coarsest) for `quality`, fitted so
/// that rav1e's files match the size of sharp's (libaom through libheif) at
/// the same quality: measured on the 2725x2225 fixture at 720x588, sharp's
/// bytes at quality 20, 35, 50, 65 and 80 are rav1e's at about index 204,
/// 176, 143, 110 and 71 (at equal bytes the two encoders' PSNR is within
/// 0.7 dB). Linear below 80; from 80 to 100 down to index 0 (which rav1e
/// raises to 1).
fn quantizer(quality: u8) -> usize {
  let q = usize::from(quality.clamp(1, 100));
  if q <= 80 {
    (25_500 - 230 * q + 50) / 100
  } else {
    (71 * (100 - q) + 10) / 20
  }
}

fn rav1e_speed(effort: u8) -> u8 {
  10 - effort.min(MAX_EFFORT)
}

pub fn encode(img: &Pixels, settings: &Avif, lossless: bool) -> Result<Vec<u8>> {
  let (w, h) = (img.width as usize, img.height as usize);
  let alpha = img.channels == 4 && img.data.chunks_exact(4).any(|p| p[3] != 255);
  let subsample = !lossless && settings.chroma_subsampling == ChromaSubsampling::Yuv420;
  let q = if lossless { 0 } else { quantizer(settings.quality) };
  let speed = rav1e_speed(settings.effort);
  let result = std::panic::catch_unwind(|| -> Result<Vec<u8>> {
    let planes = if lossless { gbr_planes(img) } else { ycbcr_planes(img, subsample) };
    let sampling = if subsample { ChromaSampling::Cs420 } else { ChromaSampling::Cs444 };
    let matrix = if lossless { MatrixCoefficients::Identity } else { MatrixCoefficients::BT601 };
    let colour = encode_frame(w, h, sampling, Some(matrix), q, speed, &planes)?;
    let alpha = if alpha {
      let plane: Vec<u8> = img.data.chunks_exact(4).map(|p| p[3]).collect();
      Some(encode_frame(w, h, ChromaSampling::Cs400, None, q, speed, &[plane])?)
    } else {
      None
    };
    let mut container = avif_serialize::Aviffy::new();
    container
      .set_matrix_coefficients(if lossless {
        avif_serialize::constants::MatrixCoefficients::Rgb
      } else {
        avif_serialize::constants::MatrixCoefficients::Bt601
      })
      .set_full_color_range(true)
      .set_chroma_subsampling((subsample, subsample));
    let mut out = try_with_capacity(colour.len() + alpha.as_ref().map_or(0, Vec::len) + 1024, "AVIF output buffer")?;
    container
      .write(&mut out, &colour, alpha.as_deref(), img.width, img.height, 8)
      .map_err(|e| Error::internal(format!("AVIF container could not be written: {e}")))?;
    Ok(out)
  });
  match result {
    Ok(r) => r,
    Err(payload) => Err(Error::internal(format!("AVIF encoding failed: {}", panic_message(&payload)))),
  }
}

/// One still AV1 frame of `planes` (Y, U, V or a single plane for 4:0:0),
/// each tightly packed at its own resolution.
fn encode_frame(
  width: usize,
  height: usize,
  sampling: ChromaSampling,
  matrix: Option<MatrixCoefficients>,
  quantizer: usize,
  speed: u8,
  planes: &[Vec<u8>],
) -> Result<Vec<u8>> {
  let mut speed_settings = SpeedSettings::from_preset(speed);
  // One frame: nothing to look ahead to, no scenes to detect.
  speed_settings.rdo_lookahead_frames = 1;
  speed_settings.scene_detection_mode = SceneDetectionSpeed::None;
  // Tiles are what rav1e encodes in parallel (on the calling rayon pool:
  // threads 0). One per 256x256 pixels, at most 4: a smaller tile costs more
  // in prediction than it gains. Fixed by the size alone, not the pool's
  // threads, so the same input gives the same bytes on every machine.
  let tiles = ((width * height) / (256 * 256)).clamp(1, 4);
  let config = EncoderConfig {
    width,
    height,
    time_base: Rational::new(1, 1),
    bit_depth: 8,
    chroma_sampling: sampling,
    pixel_range: PixelRange::Full,
    color_description: matrix.map(|matrix_coefficients| ColorDescription {
      color_primaries: ColorPrimaries::BT709,
      transfer_characteristics: TransferCharacteristics::SRGB,
      matrix_coefficients,
    }),
    still_picture: true,
    min_key_frame_interval: 0,
    max_key_frame_interval: 0,
    quantizer,
    min_quantizer: quantizer.min(255) as u8,
    bitrate: 0,
    tiles,
    speed_settings,
    ..EncoderConfig::with_speed_preset(speed)
  };
  let failed = |what: &str, e: &dyn std::fmt::Display| Error::internal(format!("AVIF encoding failed ({what}): {e}"));
  let mut ctx: Context<u8> = Config::new().with_encoder_config(config).new_context().map_err(|e| failed("configuration", &e))?;
  let mut frame = ctx.new_frame();
  for (i, (plane, data)) in frame.planes.iter_mut().zip(planes).enumerate() {
    // The frame's planes are wider than the image (padded to 8 pixels): the
    // source rows are the image's own width, or half of it for subsampled chroma.
    let row = if i > 0 && sampling == ChromaSampling::Cs420 { width.div_ceil(2) } else { width };
    plane.copy_from_raw_u8(data, row, 1);
  }
  ctx.send_frame(frame).map_err(|e| failed("frame", &e))?;
  ctx.flush();
  let mut out = Vec::new();
  loop {
    match ctx.receive_packet() {
      Ok(packet) => out.extend_from_slice(&packet.data),
      Err(EncoderStatus::Encoded) => continue,
      Err(EncoderStatus::LimitReached) => break,
      Err(e) => return Err(failed("packet", &e)),
    }
  }
  Ok(out)
}

/// RGB(A) to full-range BT.601 Y, Cb, Cr planes (JFIF's coefficients, in
/// 16.16 fixed point); with `subsample`, Cb and Cr averaged over each 2x2
/// block (an odd last row or column averages what it has).
fn ycbcr_planes(img: &Pixels, subsample: bool) -> Vec<Vec<u8>> {
  let (w, h, n) = (img.width as usize, img.height as usize, usize::from(img.channels));
  let mut y = Vec::with_capacity(w * h);
  let mut cb = Vec::with_capacity(w * h);
  let mut cr = Vec::with_capacity(w * h);
  for p in img.data.chunks_exact(n) {
    let [py, pb, pr] = jfif_ycbcr(p[0], p[1], p[2]);
    y.push(py);
    cb.push(pb);
    cr.push(pr);
  }
  if subsample {
    cb = halve(&cb, w, h);
    cr = halve(&cr, w, h);
  }
  vec![y, cb, cr]
}

/// One pixel's full-range BT.601 Y, Cb, Cr (JFIF's coefficients, in 16.16
/// fixed point): AVIF's planes, and the stage timer's YCbCr rows (stages.rs).
#[inline]
pub(super) fn jfif_ycbcr(r: u8, g: u8, b: u8) -> [u8; 3] {
  let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
  [
    ((19_595 * r + 38_470 * g + 7_471 * b + 32_768) >> 16) as u8,
    ((-11_059 * r - 21_709 * g + 32_768 * b + (128 << 16) + 32_768) >> 16).clamp(0, 255) as u8,
    ((32_768 * r - 27_439 * g - 5_329 * b + (128 << 16) + 32_768) >> 16).clamp(0, 255) as u8,
  ]
}

/// A plane at half resolution on each axis (rounded up), by averaging.
fn halve(plane: &[u8], w: usize, h: usize) -> Vec<u8> {
  let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
  let mut out = Vec::with_capacity(hw * hh);
  for by in 0..hh {
    let rows = [by * 2, (by * 2 + 1).min(h - 1)];
    for bx in 0..hw {
      let cols = [bx * 2, (bx * 2 + 1).min(w - 1)];
      let sum: u32 = rows.iter().flat_map(|&r| cols.iter().map(move |&c| u32::from(plane[r * w + c]))).sum();
      out.push(((sum + 2) / 4) as u8);
    }
  }
  out
}

/// RGB as AV1's identity matrix stores it: G in the luma plane, then B, R.
fn gbr_planes(img: &Pixels) -> Vec<Vec<u8>> {
  let n = usize::from(img.channels);
  let plane = |c: usize| img.data.chunks_exact(n).map(|p| p[c]).collect::<Vec<u8>>();
  vec![plane(1), plane(2), plane(0)]
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn quality_maps_to_sharps_quantiser_scale() {
    assert_eq!([1, 20, 50, 80, 90, 100].map(quantizer), [253, 209, 140, 71, 36, 0]);
    assert_eq!((rav1e_speed(0), rav1e_speed(DEFAULT_EFFORT), rav1e_speed(9)), (10, 6, 1));
  }

  #[test]
  fn the_container_names_the_size_and_alpha() {
    use super::super::isobmff;
    let rgba = |w: u32, h: u32, a: u8| Pixels { data: (0..w * h * 4).map(|i| if i % 4 == 3 { a } else { (i * 7) as u8 }).collect(), width: w, height: h, channels: 4 };
    for (img, alpha) in [(rgba(17, 9, 128), true), (rgba(1, 1, 255), false), (rgba(3, 5, 0), true)] {
      for chroma_subsampling in [ChromaSubsampling::Yuv420, ChromaSubsampling::Yuv444] {
        let out = encode(&img, &Avif { chroma_subsampling, effort: 9, ..Avif::default() }, false).unwrap();
        assert!(isobmff::is_avif(&out));
        assert_eq!(isobmff::read(&out).unwrap(), isobmff::AvifHeader { width: img.width, height: img.height, has_alpha: alpha, orientation: 1 });
      }
    }
  }

  #[test]
  fn halving_averages_and_keeps_odd_edges() {
    // 3x3: the last column and row average with themselves.
    let p = [0, 100, 50, 100, 200, 50, 10, 10, 10];
    assert_eq!(halve(&p, 3, 3), vec![100, 50, 10, 10]);
  }

  #[test]
  fn grey_is_grey_in_ycbcr() {
    let img = Pixels { data: vec![77, 77, 77, 255, 0, 0], width: 2, height: 1, channels: 3 };
    let planes = ycbcr_planes(&img, false);
    assert_eq!(planes[0], vec![77, 76]);
    assert_eq!(planes[1][0], 128);
    assert_eq!(planes[2][0], 128);
    assert_eq!(planes[2][1], 255);
  }
}
