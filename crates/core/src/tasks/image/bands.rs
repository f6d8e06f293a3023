//! Resampling a band of output rows at a time, for the pipelined resize
//! (stream.rs): rows leave as soon as the source rows under them are
//! decoded, with the same pixels one `resize::resample` call gives.
//!
//! For 8-bit pixels fast_image_resize runs the vertical pass first (into
//! source columns x output rows), then the horizontal one. Each output row of
//! the vertical pass reads only the source rows under its kernel, and each
//! column is computed alone, so the pass can run on any band of output rows
//! given the source rows that band reads: here, one call per band with the
//! crop shifted to the band, which yields the same weights (the crop's
//! scale, the same kernel centres up to the last bits of a float, and windows
//! cut by the band's edges only where the weights are zero anyway). One
//! thing a call decides for all its rows: the fixed-point precision of the
//! weights, from the largest weight among them. So bands are laid out in
//! advance, each holding a row whose largest weight is in the same power-of-
//! two range as the whole image's largest (`layout`), and a plan where that
//! cannot be told for sure is not banded. The horizontal pass runs on the rows
//! the vertical one finished, with the crop shifted to the columns kept; all
//! its weights are computed on every call (one kernel window per output
//! column, the costly part), so it runs on few large bands rather than many
//! small ones. `tests` checks the result against one call.

use fast_image_resize::images::Image;
use fast_image_resize::{PixelType, ResizeOptions, Resizer};

use super::limits::{buffer_len, try_with_capacity};
use super::resize::{algorithm, Kernel, Plan};
use crate::error::{Error, Result};

/// The widest kernel's support (Lanczos3's), in source pixels at scale 1:
/// bounds, with a margin, the source rows and columns any output pixel reads.
const MAX_SUPPORT: f64 = 3.0;

/// Bytes per pixel: the pipeline resamples RGB.
const CHANNELS: usize = 3;

pub struct Bands {
  /// Source size (the decoded image).
  width: u32,
  height: u32,
  crop: (f64, f64, f64, f64),
  scaled: (u32, u32),
  kernel: Kernel,
  /// Source rows per output row, and the most source rows an output row's
  /// kernel reaches on either side of its centre.
  scale_y: f64,
  reach_y: f64,
  /// Source columns the vertical pass keeps, a few more than the
  /// horizontal pass reads.
  columns: (u32, u32),
  vertical: Resizer,
  horizontal: Resizer,
  /// Where each vertical band ends (output rows), in order; the last is the image's end.
  ends: Vec<u32>,
  /// Output rows through the vertical pass, and through the horizontal one.
  done: u32,
  finished: u32,
  /// Vertical-pass rows waiting for the horizontal pass, then its output.
  pending: Vec<u8>,
  out: Vec<u8>,
}

impl Bands {
  /// Whether resampling `plan` with `kernel` can run in bands: where one
  /// resample call would not run both passes there is nothing to stream.
  pub fn apply(plan: &Plan, kernel: Kernel) -> bool {
    let (left, top, cw, ch) = plan.crop;
    let (w, h) = plan.scaled;
    // The conditions under which fast_image_resize runs each pass.
    let horizontal = f64::from(w) != cw || left != left.round();
    let vertical = f64::from(h) != ch || top != top.round();
    // resample() runs a plan whose rows grow while its columns shrink as two
    // calls of its own.
    let two_calls = f64::from(h) > ch && f64::from(w) < cw;
    horizontal && vertical && !two_calls && kernel != Kernel::Nearest && w > 0 && h > 0
  }

  /// Bands for resampling `plan`'s crop of a `width`x`height` RGB image,
  /// where `apply` says they can be used; None where it does not.
  pub fn new(width: u32, height: u32, plan: &Plan, kernel: Kernel) -> Option<Self> {
    if !Self::apply(plan, kernel) {
      return None;
    }
    let (left, top, cw, ch) = plan.crop;
    let (w, h) = plan.scaled;
    let scale_x = cw / f64::from(w);
    let scale_y = ch / f64::from(h);
    let ends = layout(height, top, scale_y, h, kernel);
    let reach_x = MAX_SUPPORT * scale_x.max(1.0);
    let first = ((left - reach_x).floor() - 1.0).max(0.0) as u32;
    let last = ((left + cw + reach_x).ceil() + 1.0).min(f64::from(width)) as u32;
    Some(Bands {
      width,
      height,
      crop: plan.crop,
      scaled: plan.scaled,
      kernel,
      scale_y,
      reach_y: MAX_SUPPORT * scale_y.max(1.0),
      columns: (first, last),
      ends,
      vertical: Resizer::new(),
      horizontal: Resizer::new(),
      done: 0,
      finished: 0,
      pending: Vec::new(),
      out: Vec::new(),
    })
  }

  /// Output rows.
  pub fn rows(&self) -> u32 {
    self.scaled.1
  }

  /// Output rows through the vertical pass.
  pub fn done(&self) -> u32 {
    self.done
  }

  /// Output rows through the vertical pass but not the horizontal one.
  pub fn pending(&self) -> u32 {
    self.done - self.finished
  }

  fn centre(&self, row: u32) -> f64 {
    centre(self.crop.1, self.scale_y, row)
  }

  /// The source rows output rows `from..to` read, a row or two more on each side.
  pub fn window(&self, from: u32, to: u32) -> (u32, u32) {
    let first = ((self.centre(from) - self.reach_y).floor() - 1.0).max(0.0) as u32;
    let end = ((self.centre(to - 1) + self.reach_y).ceil() + 1.0).min(f64::from(self.height)) as u32;
    (first.min(end), end)
  }

  /// The end of the band after `done()` (`rows()` once all are done).
  pub fn next_end(&self) -> u32 {
    self.ends.iter().copied().find(|&end| end > self.done).unwrap_or(self.rows())
  }

  /// The end of the last band from `done()` on whose window lies within the
  /// first `available` source rows (`done()` if none does).
  pub fn ready(&self, available: u32) -> u32 {
    let mut to = self.done;
    for &end in self.ends.iter().filter(|&&end| end > self.done) {
      if self.window(to, end).1 > available {
        break;
      }
      to = end;
    }
    to
  }

  /// Runs the vertical pass of output rows `done()..to`, `to` a band's end
  /// (from `ready`); `src` holds source rows `window(done(), to)`. It is
  /// only read; it is `mut` because fast_image_resize's `Image` (the type
  /// resize.rs resamples, whose code is already in the binary) wants it.
  pub fn vertical(&mut self, to: u32, src: &mut [u8]) -> Result<()> {
    let from = self.done;
    if to <= from {
      return Ok(());
    }
    if !self.ends.contains(&to) {
      return Err(Error::internal(format!("resize band ends at row {to}, not at a band's end")));
    }
    let (first, end) = self.window(from, to);
    let (c0, c1) = self.columns;
    let src = Image::from_slice_u8(self.width, end - first, src, PixelType::U8x3).map_err(|e| Error::internal(format!("resize band source: {e}")))?;
    let rows = to - from;
    let at = self.pending.len();
    let len = buffer_len(c1 - c0, rows, CHANNELS as u8)?;
    grow(&mut self.pending, at + len)?;
    let mut dst = Image::from_slice_u8(c1 - c0, rows, &mut self.pending[at..], PixelType::U8x3)
      .map_err(|e| Error::internal(format!("resize band destination: {e}")))?;
    // The band's share of the crop, in the window's coordinates; the float
    // sum may land a hair past the window's end, which holds no weight.
    let top = self.crop.1 + f64::from(from) * self.scale_y - f64::from(first);
    let height = (f64::from(rows) * self.scale_y).min(f64::from(end - first) - top);
    let options = ResizeOptions::new().resize_alg(algorithm(self.kernel)).crop(f64::from(c0), top, f64::from(c1 - c0), height);
    self.vertical.resize(&src, &mut dst, &options).map_err(|e| Error::internal(format!("resize failed: {e}")))?;
    self.done = to;
    Ok(())
  }

  /// Runs the horizontal pass of the pending rows and returns them, finished.
  pub fn horizontal(&mut self) -> Result<&mut [u8]> {
    let rows = self.pending();
    if rows == 0 {
      return Ok(&mut self.out[..0]);
    }
    let (c0, c1) = self.columns;
    let (left, _, cw, _) = self.crop;
    let w = self.scaled.0;
    let src = Image::from_slice_u8(c1 - c0, rows, &mut self.pending, PixelType::U8x3).map_err(|e| Error::internal(format!("resize band source: {e}")))?;
    let len = buffer_len(w, rows, CHANNELS as u8)?;
    grow(&mut self.out, len)?;
    let mut dst = Image::from_slice_u8(w, rows, &mut self.out[..len], PixelType::U8x3)
      .map_err(|e| Error::internal(format!("resize band destination: {e}")))?;
    let options = ResizeOptions::new().resize_alg(algorithm(self.kernel)).crop(left - f64::from(c0), 0.0, cw, f64::from(rows));
    self.horizontal.resize(&src, &mut dst, &options).map_err(|e| Error::internal(format!("resize failed: {e}")))?;
    self.pending.clear();
    self.finished = self.done;
    Ok(&mut self.out[..len])
  }
}

fn centre(top: f64, scale: f64, row: u32) -> f64 {
  top + (f64::from(row) + 0.5) * scale
}

/// Output rows per vertical band, at least: fewer calls, and among more
/// rows, one whose largest weight sets the image's precision is near.
const BAND_ROWS: u32 = 16;

/// How close a largest weight may come to where the precision changes
/// before the precision is deemed unknown (this file's weights and
/// fast_image_resize's are both f64 from the same formula, equal to far
/// closer than this).
const MARGIN: f64 = 1e-9;

/// The fixed-point precision (fraction bits) of 16-bit weights whose largest
/// is `largest`: the most bits with which that weight still fits 15 bits,
/// up to 21 (8-bit samples times the weights' sum must fit an i32). None
/// when `largest` lies too near a boundary to tell.
fn precision(largest: f64) -> Option<u32> {
  let mut bits = 0;
  for b in 0..22 {
    bits = b;
    let next = largest * f64::from(1u32 << (b + 1));
    if (next - 32767.5).abs() < MARGIN * f64::from(1u32 << (b + 1)) {
      return None;
    }
    if next.round() >= 32768.0 {
      break;
    }
  }
  Some(bits)
}

/// The ends of the vertical bands of `rows` output rows resampled from
/// `height` source rows at `scale` from `top`: each band at least
/// `BAND_ROWS` long and holding a row whose largest weight gives the
/// precision the largest of all gives. One band (one call, as resample
/// makes) if some row's precision cannot be told for sure.
fn layout(height: u32, top: f64, scale: f64, rows: u32, kernel: Kernel) -> Vec<u32> {
  let bits: Option<Vec<u32>> = (0..rows).map(|row| precision(largest_weight(height, centre(top, scale, row), scale, kernel))).collect();
  let Some((bits, image)) = bits.and_then(|b| b.iter().copied().min().map(|m| (b, m))) else { return vec![rows] };
  let mut ends = Vec::new();
  let (mut start, mut holds) = (0, false);
  for (row, &b) in (1..=rows).zip(&bits) {
    holds |= b == image;
    if holds && row - start >= BAND_ROWS {
      ends.push(row);
      (start, holds) = (row, false);
    }
  }
  // Rows after the last band that holds such a row join that band.
  match ends.last_mut() {
    Some(last) => *last = rows,
    None => ends.push(rows),
  }
  ends
}

/// The largest normalised weight of the kernel centred at `centre` (source
/// pixels) when resampling by `scale`, over the source pixels of `0..size`
/// it covers: the standard separable resampling weights, the kernel widened
/// by the scale when shrinking.
fn largest_weight(size: u32, centre: f64, scale: f64, kernel: Kernel) -> f64 {
  let (filter, support): (fn(f64) -> f64, f64) = match kernel {
    Kernel::Linear => (linear, 1.0),
    Kernel::Cubic => (catmull_rom, 2.0),
    Kernel::Mitchell => (mitchell, 2.0),
    Kernel::Lanczos3 | Kernel::Nearest => (lanczos3, 3.0),
  };
  let widen = scale.max(1.0);
  let reach = support * widen;
  let first = (centre - reach).floor().max(0.0) as u32;
  let end = (centre + reach).ceil().min(f64::from(size)) as u32;
  let (mut sum, mut max) = (0.0, f64::MIN);
  for x in first..end {
    let w = filter((f64::from(x) + 0.5 - centre) / widen);
    sum += w;
    max = max.max(w);
  }
  if sum == 0.0 {
    max
  } else {
    max / sum
  }
}

fn linear(x: f64) -> f64 {
  (1.0 - x.abs()).max(0.0)
}

/// The cubic of Mitchell and Netravali with parameters (b, c).
fn cubic(b: f64, c: f64, x: f64) -> f64 {
  let x = x.abs();
  let v = if x < 1.0 {
    (12.0 - 9.0 * b - 6.0 * c) * x * x * x + (-18.0 + 12.0 * b + 6.0 * c) * x * x + (6.0 - 2.0 * b)
  } else if x < 2.0 {
    (-b - 6.0 * c) * x * x * x + (6.0 * b + 30.0 * c) * x * x + (-12.0 * b - 48.0 * c) * x + (8.0 * b + 24.0 * c)
  } else {
    0.0
  };
  v / 6.0
}

fn catmull_rom(x: f64) -> f64 {
  cubic(0.0, 0.5, x)
}

fn mitchell(x: f64) -> f64 {
  cubic(1.0 / 3.0, 1.0 / 3.0, x)
}

fn sinc(x: f64) -> f64 {
  if x == 0.0 {
    1.0
  } else {
    let a = x * std::f64::consts::PI;
    a.sin() / a
  }
}

fn lanczos3(x: f64) -> f64 {
  if x.abs() < 3.0 {
    sinc(x) * sinc(x / 3.0)
  } else {
    0.0
  }
}

/// Makes `v` `len` bytes long, refusing (not aborting on) an allocation the
/// allocator will not make. New bytes are zero; they are overwritten at once.
fn grow(v: &mut Vec<u8>, len: usize) -> Result<()> {
  if len > v.capacity() {
    let mut bigger = try_with_capacity(len.max(v.capacity() * 2), "resize band")?;
    bigger.extend_from_slice(v);
    *v = bigger;
  }
  v.resize(len, 0);
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::super::decode::Pixels;
  use super::super::resize::{plan, resample, Fit};
  use super::*;

  /// A deterministic, busy RGB image: gradients with a pseudo-random texture.
  fn image(width: u32, height: u32) -> Pixels {
    let mut seed = 0x2545_f491_u32;
    let mut data = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
      for x in 0..width {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        data.extend_from_slice(&[(x * 255 / width) as u8, (y * 255 / height) as u8, (seed >> 24) as u8]);
      }
    }
    Pixels { data, width, height, channels: 3 }
  }

  /// Runs `bands` to the end as the pipeline would, with the source arriving
  /// `step` rows at a time and the horizontal pass every `every` rows.
  fn banded(src: &mut Pixels, bands: &mut Bands, step: u32, every: u32) -> Vec<u8> {
    let row = src.width as usize * 3;
    let mut out = Vec::new();
    let mut available = 0;
    while bands.done() < bands.rows() {
      available = (available + step).min(src.height);
      let to = bands.ready(available);
      if to > bands.done() {
        let (first, end) = bands.window(bands.done(), to);
        assert!(end <= available, "window {first}..{end} past the {available} rows decoded");
        bands.vertical(to, &mut src.data[first as usize * row..end as usize * row]).unwrap();
      }
      if bands.pending() >= every || bands.done() == bands.rows() {
        out.extend_from_slice(bands.horizontal().unwrap());
      }
    }
    out
  }

  #[test]
  fn bands_give_the_pixels_of_one_call() {
    // (source, output, fit): the benchmark's case at DCT scale 1/2, a cover
    // crop on each axis, upscaling, and a small odd one.
    let cases = [
      ((1363, 1113), (720, 588), Fit::Cover),
      ((1363, 700), (300, 300), Fit::Cover),
      ((500, 900), (320, 200), Fit::Cover),
      ((97, 61), (230, 170), Fit::Fill),
      ((640, 480), (199, 101), Fit::Fill),
    ];
    for ((sw, sh), (w, h), fit) in cases {
      let mut src = image(sw, sh);
      for kernel in [Kernel::Lanczos3, Kernel::Mitchell, Kernel::Cubic, Kernel::Linear] {
        let p = plan(sw, sh, Some(w), Some(h), fit, (0.5, 0.5), false).unwrap();
        let whole = resample(src.clone(), &p, kernel).unwrap();
        for (step, every) in [(8, 16), (16, 100), (37, 1), (sh, 1000)] {
          let mut bands = Bands::new(sw, sh, &p, kernel).unwrap_or_else(|| panic!("{sw}x{sh} -> {w}x{h} {kernel:?} not banded"));
          let got = banded(&mut src, &mut bands, step, every);
          let differing = got.iter().zip(&whole.data).filter(|(a, b)| a != b).count();
          assert_eq!(got.len(), whole.data.len());
          assert_eq!(differing, 0, "{sw}x{sh} -> {w}x{h} {fit:?} {kernel:?}, source in {step}-row bands, rows out every {every}");
        }
      }
    }
  }

  #[test]
  fn one_pass_plans_are_not_banded() {
    // Width unchanged at an integer crop: fast_image_resize runs the vertical pass only.
    let p = plan(400, 300, Some(400), Some(150), Fit::Fill, (0.5, 0.5), false).unwrap();
    assert!(Bands::new(400, 300, &p, Kernel::Lanczos3).is_none());
    let p = plan(400, 300, Some(200), Some(150), Fit::Fill, (0.5, 0.5), false).unwrap();
    assert!(Bands::new(400, 300, &p, Kernel::Nearest).is_none());
    assert!(Bands::new(400, 300, &p, Kernel::Lanczos3).is_some());
  }
}
