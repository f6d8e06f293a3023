//! Pixel operations besides resizing, with sharp's names and meanings:
//! `extract` (crop), `rotate`, `flip`/`flop`, `greyscale`, `blur` and
//! `sharpen`. Each takes decoded RGB or RGBA pixels and returns new ones; the
//! pipeline (mod.rs) decides their order. Buffers are allocated fallibly, and
//! the slow ones (blur, sharpen, odd-angle rotation) check `cancel` as they go.

use super::decode::Pixels;
use super::limits::{buffer_len, try_zeroed};
use super::orient;
use crate::error::{Error, Result};
use crate::pool::Cancel;

/// A region in the (upright) image: left, top, width, height in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
  pub left: u32,
  pub top: u32,
  pub width: u32,
  pub height: u32,
}

/// ERR_INVALID_ARG when `r` is empty or leaves a `w`x`h` image.
pub fn check_region(r: Region, w: u32, h: u32) -> Result<()> {
  let inside = r.width > 0
    && r.height > 0
    && u64::from(r.left) + u64::from(r.width) <= u64::from(w)
    && u64::from(r.top) + u64::from(r.height) <= u64::from(h);
  if inside {
    return Ok(());
  }
  Err(Error::invalid(format!(
    "extract region (left {}, top {}, {}x{}) lies outside the {w}x{h} image: keep left + width and top + height within it",
    r.left, r.top, r.width, r.height
  )))
}

/// Crops to `r`; ERR_INVALID_ARG when `r` is empty or leaves the image.
pub fn extract(p: Pixels, r: Region) -> Result<Pixels> {
  check_region(r, p.width, p.height)?;
  if (r.left, r.top, r.width, r.height) == (0, 0, p.width, p.height) {
    return Ok(p);
  }
  let c = usize::from(p.channels);
  let row = r.width as usize * c;
  let mut data = try_zeroed(buffer_len(r.width, r.height, p.channels)?, "extracted region")?;
  for y in 0..r.height as usize {
    let s = ((r.top as usize + y) * p.width as usize + r.left as usize) * c;
    data[y * row..(y + 1) * row].copy_from_slice(&p.data[s..s + row]);
  }
  Ok(Pixels { data, width: r.width, height: r.height, channels: p.channels })
}

/// Mirrors top to bottom (sharp's `flip`).
pub fn flip(p: Pixels) -> Pixels {
  orient::apply(p, 4)
}

/// Mirrors left to right (sharp's `flop`).
pub fn flop(p: Pixels) -> Pixels {
  orient::apply(p, 2)
}

/// Rotates clockwise by `degrees`. Multiples of 90 are exact transposes; any
/// other angle resamples (bilinear) onto a canvas that holds the whole
/// rotated image, filled with `background` (RGBA) where no pixel lands. An
/// RGB image gains alpha when the background is not opaque.
pub fn rotate(p: Pixels, degrees: f64, background: [u8; 4], cancel: &Cancel) -> Result<Pixels> {
  if !degrees.is_finite() {
    return Err(Error::invalid(format!("rotate must be a finite number of degrees, got {degrees}")));
  }
  let d = degrees.rem_euclid(360.0);
  let quarter = (d / 90.0).round();
  if (d - quarter * 90.0).abs() < 1e-9 {
    return Ok(match quarter as u32 % 4 {
      1 => orient::apply(p, 6),
      2 => orient::apply(p, 3),
      3 => orient::apply(p, 8),
      _ => p,
    });
  }
  let p = if background[3] < 255 && p.channels == 3 { super::resize::add_alpha(p)? } else { p };
  let c = usize::from(p.channels);
  let (sin, cos) = d.to_radians().sin_cos();
  let (w, h) = (f64::from(p.width), f64::from(p.height));
  let ow = (w * cos.abs() + h * sin.abs()).round().max(1.0);
  let oh = (w * sin.abs() + h * cos.abs()).round().max(1.0);
  if ow > f64::from(u32::MAX) || oh > f64::from(u32::MAX) {
    return Err(Error::new(crate::error::Code::LimitExceeded, "the rotated image would be too large"));
  }
  let (ow, oh) = (ow as u32, oh as u32);
  let mut data = try_zeroed(buffer_len(ow, oh, p.channels)?, "rotated image")?;
  let (cx, cy) = (w / 2.0, h / 2.0);
  let (ocx, ocy) = (f64::from(ow) / 2.0, f64::from(oh) / 2.0);
  let bg = &background[..c];
  let src = &p.data;
  let stride = p.width as usize * c;
  for oy in 0..oh as usize {
    if oy % 64 == 0 {
      cancel.check()?;
    }
    for ox in 0..ow as usize {
      // Inverse mapping: where in the source this output pixel's centre comes from.
      let (dx, dy) = (ox as f64 + 0.5 - ocx, oy as f64 + 0.5 - ocy);
      let sx = cos * dx + sin * dy + cx - 0.5;
      let sy = -sin * dx + cos * dy + cy - 0.5;
      let out = &mut data[(oy * ow as usize + ox) * c..][..c];
      let (x0, y0) = (sx.floor(), sy.floor());
      let (fx, fy) = (sx - x0, sy - y0);
      // Each of the four neighbours contributes its own pixel or the background.
      let sample = |x: f64, y: f64, ch: usize| -> f64 {
        if x < 0.0 || y < 0.0 || x >= w || y >= h {
          f64::from(bg[ch])
        } else {
          f64::from(src[y as usize * stride + x as usize * c + ch])
        }
      };
      for (ch, o) in out.iter_mut().enumerate() {
        let top = sample(x0, y0, ch) * (1.0 - fx) + sample(x0 + 1.0, y0, ch) * fx;
        let bottom = sample(x0, y0 + 1.0, ch) * (1.0 - fx) + sample(x0 + 1.0, y0 + 1.0, ch) * fx;
        *o = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
      }
    }
  }
  Ok(Pixels { data, width: ow, height: oh, channels: p.channels })
}

/// sRGB-encoded byte → linear light (0..1).
fn srgb_to_linear_table() -> [f32; 256] {
  let mut t = [0f32; 256];
  for (i, v) in t.iter_mut().enumerate() {
    let s = i as f32 / 255.0;
    *v = if s <= 0.04045 { s / 12.92 } else { ((s + 0.055) / 1.055).powf(2.4) };
  }
  t
}

fn linear_to_srgb(l: f32) -> u8 {
  let s = if l <= 0.003_130_8 { l * 12.92 } else { 1.055 * l.powf(1.0 / 2.4) - 0.055 };
  (s * 255.0).round().clamp(0.0, 255.0) as u8
}

/// Luminance in linear light (Rec. 709 weights), written back to R, G and B;
/// alpha is kept. The output stays RGB(A) so every encoder takes it.
pub fn greyscale(mut p: Pixels) -> Pixels {
  let lin = srgb_to_linear_table();
  // 4096 steps of linear light are finer than any sRGB byte step.
  let back: Vec<u8> = (0..=4096).map(|i| linear_to_srgb(i as f32 / 4096.0)).collect();
  let c = usize::from(p.channels);
  for px in p.data.chunks_exact_mut(c) {
    let y = 0.2126 * lin[px[0] as usize] + 0.7152 * lin[px[1] as usize] + 0.0722 * lin[px[2] as usize];
    let g = back[((y * 4096.0).round() as usize).min(4096)];
    px[0] = g;
    px[1] = g;
    px[2] = g;
  }
  p
}

/// Least and most Gaussian sigma `blur` takes (sharp's range).
pub const BLUR_SIGMA: (f64, f64) = (0.3, 1000.0);

/// Above this sigma a Gaussian kernel is approximated by three box blurs,
/// whose cost does not grow with sigma.
const EXACT_SIGMA_MAX: f64 = 8.0;

/// Gaussian blur of every channel with standard deviation `sigma`.
pub fn blur(p: Pixels, sigma: f64, cancel: &Cancel) -> Result<Pixels> {
  if !(BLUR_SIGMA.0..=BLUR_SIGMA.1).contains(&sigma) {
    return Err(Error::invalid(format!("blur sigma must be a number from {} to {}, got {sigma}", BLUR_SIGMA.0, BLUR_SIGMA.1)));
  }
  let mut plane = floats(p.data.len(), "blur's image")?;
  plane.extend(p.data.iter().map(|&v| f32::from(v)));
  gaussian(&mut plane, p.width as usize, p.height as usize, usize::from(p.channels), sigma, cancel)?;
  let data = plane.iter().map(|&v| v.round().clamp(0.0, 255.0) as u8).collect();
  Ok(Pixels { data, ..p })
}

/// An empty float buffer for `n` values, allocated fallibly.
fn floats(n: usize, what: &str) -> Result<Vec<f32>> {
  let mut v: Vec<f32> = Vec::new();
  v.try_reserve_exact(n).map_err(|_| Error::new(crate::error::Code::LimitExceeded, format!("not enough memory for the {what}")))?;
  Ok(v)
}

/// Blurs `plane` (`w`x`h`, `c` interleaved channels) in place: an exact
/// Gaussian up to EXACT_SIGMA_MAX, three box passes above it.
fn gaussian(plane: &mut [f32], w: usize, h: usize, c: usize, sigma: f64, cancel: &Cancel) -> Result<()> {
  let mut tmp = floats(plane.len(), "blur's second pass")?;
  tmp.resize(plane.len(), 0.0);
  if sigma <= EXACT_SIGMA_MAX {
    let k = gaussian_kernel(sigma);
    convolve_rows(plane, &mut tmp, w, h, c, &k, cancel)?;
    convolve_cols(&tmp, plane, w, h, c, &k, cancel)?;
  } else {
    for r in box_radii(sigma) {
      box_rows(plane, &mut tmp, w, h, c, r, cancel)?;
      box_cols(&tmp, plane, w, h, c, r, cancel)?;
    }
  }
  Ok(())
}

/// A normalised Gaussian kernel reaching 3 sigma on each side.
fn gaussian_kernel(sigma: f64) -> Vec<f32> {
  let r = (3.0 * sigma).ceil().max(1.0) as i64;
  let mut k: Vec<f64> = (-r..=r).map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp()).collect();
  let sum: f64 = k.iter().sum();
  k.iter_mut().for_each(|v| *v /= sum);
  k.into_iter().map(|v| v as f32).collect()
}

/// Radii of three box blurs whose combination has standard deviation `sigma`
/// (each box of width 2r+1 has variance ((2r+1)^2 - 1) / 12).
fn box_radii(sigma: f64) -> [usize; 3] {
  let ideal = ((12.0 * sigma * sigma / 3.0) + 1.0).sqrt();
  let r = ((ideal - 1.0) / 2.0).floor().max(0.0) as usize;
  [r, r, r + usize::from(ideal - (2 * r + 1) as f64 > 1.0)]
}

fn clamp_index(i: i64, n: usize) -> usize {
  i.clamp(0, n as i64 - 1) as usize
}

fn convolve_rows(src: &[f32], dst: &mut [f32], w: usize, h: usize, c: usize, k: &[f32], cancel: &Cancel) -> Result<()> {
  let r = (k.len() / 2) as i64;
  for y in 0..h {
    if y % 64 == 0 {
      cancel.check()?;
    }
    let row = &src[y * w * c..(y + 1) * w * c];
    for x in 0..w {
      for ch in 0..c {
        let mut acc = 0f32;
        for (i, kv) in k.iter().enumerate() {
          acc += kv * row[clamp_index(x as i64 + i as i64 - r, w) * c + ch];
        }
        dst[(y * w + x) * c + ch] = acc;
      }
    }
  }
  Ok(())
}

fn convolve_cols(src: &[f32], dst: &mut [f32], w: usize, h: usize, c: usize, k: &[f32], cancel: &Cancel) -> Result<()> {
  let r = (k.len() / 2) as i64;
  for y in 0..h {
    if y % 64 == 0 {
      cancel.check()?;
    }
    for x in 0..w * c {
      let mut acc = 0f32;
      for (i, kv) in k.iter().enumerate() {
        acc += kv * src[clamp_index(y as i64 + i as i64 - r, h) * w * c + x];
      }
      dst[y * w * c + x] = acc;
    }
  }
  Ok(())
}

/// A running-sum box blur of radius `r` along rows (edges repeat).
fn box_rows(src: &[f32], dst: &mut [f32], w: usize, h: usize, c: usize, r: usize, cancel: &Cancel) -> Result<()> {
  let n = (2 * r + 1) as f32;
  for y in 0..h {
    if y % 64 == 0 {
      cancel.check()?;
    }
    let row = &src[y * w * c..(y + 1) * w * c];
    for ch in 0..c {
      let at = |i: i64| row[clamp_index(i, w) * c + ch];
      let mut acc: f32 = (-(r as i64)..=r as i64).map(at).sum();
      for x in 0..w {
        dst[(y * w + x) * c + ch] = acc / n;
        acc += at(x as i64 + r as i64 + 1) - at(x as i64 - r as i64);
      }
    }
  }
  Ok(())
}

/// A running-sum box blur of radius `r` along columns (edges repeat).
fn box_cols(src: &[f32], dst: &mut [f32], w: usize, h: usize, c: usize, r: usize, cancel: &Cancel) -> Result<()> {
  let n = (2 * r + 1) as f32;
  let stride = w * c;
  for x in 0..stride {
    if x % 256 == 0 {
      cancel.check()?;
    }
    let at = |i: i64| src[clamp_index(i, h) * stride + x];
    let mut acc: f32 = (-(r as i64)..=r as i64).map(at).sum();
    for y in 0..h {
      dst[y * stride + x] = acc / n;
      acc += at(y as i64 + r as i64 + 1) - at(y as i64 - r as i64);
    }
  }
  Ok(())
}

/// sharp's two sharpens: `sharpen()` without parameters is a fast, mild
/// 3x3 convolution; with parameters, an unsharp mask of the lightness.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sharpen {
  Mild,
  Mask(Mask),
}

/// The unsharp mask's parameters, sharp's: the Gaussian `sigma`, the gain
/// `m1` for flat areas (detail within `x1`) and `m2` for jagged ones, and
/// the most a pixel may brighten (`y2`) or darken (`y3`), all in L* units
/// (0-100) of CIE Lab.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mask {
  pub sigma: f64,
  pub m1: f64,
  pub m2: f64,
  pub x1: f64,
  pub y2: f64,
  pub y3: f64,
}

impl Default for Mask {
  /// sharp's defaults for what `sharpen({ sigma })` leaves out.
  fn default() -> Self {
    Mask { sigma: 1.0, m1: 1.0, m2: 2.0, x1: 2.0, y2: 10.0, y3: 20.0 }
  }
}

pub fn sharpen(p: Pixels, s: Sharpen, cancel: &Cancel) -> Result<Pixels> {
  match s {
    Sharpen::Mild => Ok(sharpen_mild(p)),
    Sharpen::Mask(m) => sharpen_mask(p, m, cancel),
  }
}

/// Every colour channel through the kernel 32 at the centre, -1 around,
/// divided by 24 (edges repeat); alpha is left as it is.
fn sharpen_mild(p: Pixels) -> Pixels {
  let (w, h, c) = (p.width as usize, p.height as usize, usize::from(p.channels));
  let mut out = p.data.clone();
  for y in 0..h {
    let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)];
    for x in 0..w {
      let cols = [x.saturating_sub(1), x, (x + 1).min(w - 1)];
      for ch in 0..c.min(3) {
        let mut ring = 0i32;
        for &yy in &rows {
          for &xx in &cols {
            ring += i32::from(p.data[(yy * w + xx) * c + ch]);
          }
        }
        let centre = i32::from(p.data[(y * w + x) * c + ch]);
        let v = (33 * centre - ring) as f32 / 24.0;
        out[(y * w + x) * c + ch] = v.round().clamp(0.0, 255.0) as u8;
      }
    }
  }
  Pixels { data: out, ..p }
}

/// CIE Lab's f(t), and its inverse.
fn lab_f(t: f32) -> f32 {
  const E: f32 = 216.0 / 24389.0;
  if t > E {
    t.cbrt()
  } else {
    (24389.0 / 27.0 * t + 16.0) / 116.0
  }
}

fn lab_f_inv(f: f32) -> f32 {
  let t = f * f * f;
  if t > 216.0 / 24389.0 {
    t
  } else {
    (116.0 * f - 16.0) * 27.0 / 24389.0
  }
}

/// The unsharp mask on L* (sRGB to Lab under D65 and back, a* and b*
/// kept): each pixel's detail d = L - blur(L) becomes a gain of m1·d within
/// ±x1 and continues with slope m2 beyond it, clamped to -y3..y2.
fn sharpen_mask(p: Pixels, m: Mask, cancel: &Cancel) -> Result<Pixels> {
  let (w, h, c) = (p.width as usize, p.height as usize, usize::from(p.channels));
  let n = w * h;
  let lin = srgb_to_linear_table();
  // fX, fY, fZ per pixel: L = 116 fY - 16, and a*, b* are differences of them.
  let mut f = floats(n * 3, "sharpen's Lab image")?;
  for px in p.data.chunks_exact(c) {
    let (r, g, b) = (lin[usize::from(px[0])], lin[usize::from(px[1])], lin[usize::from(px[2])]);
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = 0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b;
    f.extend_from_slice(&[lab_f(x / 0.950_47), lab_f(y), lab_f(z / 1.088_83)]);
  }
  let mut blurred = floats(n, "sharpen's blurred lightness")?;
  blurred.extend(f.chunks_exact(3).map(|v| 116.0 * v[1] - 16.0));
  cancel.check()?;
  gaussian(&mut blurred, w, h, 1, m.sigma, cancel)?;
  cancel.check()?;
  let (x1, m1, m2, y2, y3) = (m.x1 as f32, m.m1 as f32, m.m2 as f32, m.y2 as f32, m.y3 as f32);
  let shape = |d: f32| -> f32 {
    let g = if d.abs() <= x1 { m1 * d } else { d.signum() * (m1 * x1 + m2 * (d.abs() - x1)) };
    g.clamp(-y3, y2)
  };
  let mut out = p.data;
  for (i, px) in out.chunks_exact_mut(c).enumerate() {
    let fv = &f[i * 3..i * 3 + 3];
    let l = 116.0 * fv[1] - 16.0;
    let shift = shape(l - blurred[i]) / 116.0;
    let (x, y, z) = (0.950_47 * lab_f_inv(fv[0] + shift), lab_f_inv(fv[1] + shift), 1.088_83 * lab_f_inv(fv[2] + shift));
    let r = 3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z;
    let g = -0.969_266 * x + 1.876_010_8 * y + 0.041_556 * z;
    let b = 0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z;
    for (o, v) in px.iter_mut().zip([r, g, b]) {
      *o = linear_to_srgb(v.clamp(0.0, 1.0));
    }
  }
  Ok(Pixels { data: out, ..p })
}

#[cfg(test)]
mod tests {
  use super::*;

  fn gradient(w: u32, h: u32, c: u8) -> Pixels {
    let mut data = Vec::new();
    for y in 0..h {
      for x in 0..w {
        data.extend_from_slice(&[(x * 255 / w.max(2).saturating_sub(1).max(1)) as u8, (y * 10) as u8, 77]);
        if c == 4 {
          data.push(200);
        }
      }
    }
    Pixels { data, width: w, height: h, channels: c }
  }

  fn px(p: &Pixels, x: u32, y: u32) -> &[u8] {
    let c = usize::from(p.channels);
    &p.data[(y * p.width + x) as usize * c..][..c]
  }

  #[test]
  fn extract_copies_the_region_and_refuses_one_outside() {
    let p = gradient(10, 8, 3);
    let e = extract(p.clone(), Region { left: 2, top: 3, width: 4, height: 2 }).unwrap();
    assert_eq!((e.width, e.height), (4, 2));
    assert_eq!(px(&e, 0, 0), px(&p, 2, 3));
    assert_eq!(px(&e, 3, 1), px(&p, 5, 4));
    for r in [Region { left: 7, top: 0, width: 4, height: 1 }, Region { left: 0, top: 0, width: 0, height: 1 }, Region { left: u32::MAX, top: 0, width: 2, height: 1 }] {
      let err = extract(p.clone(), r).unwrap_err();
      assert_eq!(err.code, crate::error::Code::InvalidArg, "{r:?}");
      assert!(err.message.contains("outside the 10x8 image"), "{}", err.message);
    }
  }

  #[test]
  fn quarter_turns_are_exact_and_compose() {
    let p = gradient(5, 3, 3);
    let never = Cancel::never();
    let r90 = rotate(p.clone(), 90.0, [0, 0, 0, 255], &never).unwrap();
    assert_eq!((r90.width, r90.height), (3, 5));
    // Clockwise: the top-left pixel goes to the top-right corner.
    assert_eq!(px(&r90, 2, 0), px(&p, 0, 0));
    // 90 + 180 - 270 + 90 (as -270) is a full turn.
    let back = rotate(rotate(r90, 180.0, [0; 4], &never).unwrap(), -270.0, [0; 4], &never).unwrap();
    assert_eq!((back.width, back.height, &back.data), (p.width, p.height, &p.data));
    assert_eq!(rotate(p.clone(), 360.0, [0; 4], &never).unwrap().data, p.data);
  }

  #[test]
  fn odd_angles_grow_the_canvas_and_fill_it_with_the_background() {
    let p = Pixels { data: vec![200; 20 * 10 * 3], width: 20, height: 10, channels: 3 };
    let r = rotate(p, 45.0, [0, 0, 255, 0], &Cancel::never()).unwrap();
    assert_eq!(r.channels, 4, "a transparent background adds alpha");
    assert_eq!((r.width, r.height), (21, 21));
    assert_eq!(px(&r, 0, 0), &[0, 0, 255, 0], "corner is background");
    assert_eq!(px(&r, 10, 10), &[200, 200, 200, 255], "centre is the image");
    assert!(rotate(gradient(2, 2, 3), f64::NAN, [0; 4], &Cancel::never()).is_err());
  }

  #[test]
  fn flip_and_flop_mirror() {
    let p = gradient(4, 3, 3);
    assert_eq!(px(&flip(p.clone()), 1, 0), px(&p, 1, 2));
    assert_eq!(px(&flop(p.clone()), 0, 1), px(&p, 3, 1));
  }

  #[test]
  fn greyscale_weights_green_most_and_keeps_alpha() {
    let p = Pixels { data: vec![255, 0, 0, 9, 0, 255, 0, 9, 0, 0, 255, 9, 255, 255, 255, 9], width: 4, height: 1, channels: 4 };
    let g = greyscale(p);
    let (r, gr, b, w) = (g.data[0], g.data[4], g.data[8], g.data[12]);
    assert!(gr > r && r > b, "luma order green > red > blue, got {gr} {r} {b}");
    assert_eq!(w, 255);
    assert_eq!((r, gr, b), (127, 220, 76), "sRGB of 0.2126, 0.7152 and 0.0722 linear");
    assert!(g.data.chunks(4).all(|px| px[0] == px[1] && px[1] == px[2] && px[3] == 9));
  }

  #[test]
  fn blur_keeps_flat_areas_and_spreads_an_edge() {
    let never = Cancel::never();
    let flat = Pixels { data: vec![90; 16 * 16 * 3], width: 16, height: 16, channels: 3 };
    assert!(blur(flat.clone(), 2.0, &never).unwrap().data.iter().all(|&v| v == 90));
    assert!(blur(flat, 50.0, &never).unwrap().data.iter().all(|&v| v == 90), "box approximation keeps a flat image");
    // A vertical edge: left half black, right half white.
    let mut data = Vec::new();
    for _ in 0..8 {
      for x in 0..256 {
        data.extend_from_slice(&[if x < 128 { 0 } else { 255 }; 3]);
      }
    }
    let edge = Pixels { data, width: 256, height: 8, channels: 3 };
    for sigma in [1.0, 20.0] {
      let b = blur(edge.clone(), sigma, &never).unwrap();
      let (l, r) = (px(&b, 127, 4)[0], px(&b, 128, 4)[0]);
      assert_eq!((px(&b, 0, 4)[0], px(&b, 255, 4)[0]), (0, 255), "sigma {sigma}: far from the edge");
      assert!(l > 0 && l < 128 && r > 128 && r < 255, "sigma {sigma}: {l} {r}");
      assert_eq!(u32::from(l) + u32::from(r), 255, "symmetric about the edge");
    }
    assert_eq!(blur(edge.clone(), 0.2, &never).unwrap_err().code, crate::error::Code::InvalidArg);
    let cancel = Cancel::new();
    cancel.cancel();
    assert_eq!(blur(edge, 1.0, &cancel).unwrap_err().code, crate::error::Code::Aborted);
  }

  #[test]
  fn box_radii_match_the_sigma() {
    for sigma in [9.0, 20.0, 100.0, 1000.0] {
      let var: f64 = box_radii(sigma).iter().map(|&r| (((2 * r + 1) * (2 * r + 1)) as f64 - 1.0) / 12.0).sum();
      assert!((var.sqrt() - sigma).abs() / sigma < 0.1, "sigma {sigma}: {}", var.sqrt());
    }
  }

  #[test]
  fn sharpen_raises_contrast_at_edges_only() {
    let mut data = Vec::new();
    for _ in 0..8 {
      for x in 0..16 {
        data.extend_from_slice(&[if x < 8 { 100 } else { 150 }; 3]);
      }
    }
    let edge = Pixels { data, width: 16, height: 8, channels: 3 };
    for how in [Sharpen::Mild, Sharpen::Mask(Mask::default())] {
      let s = sharpen(edge.clone(), how, &Cancel::never()).unwrap();
      assert!(px(&s, 7, 4)[0] < 100 && px(&s, 8, 4)[0] > 150, "{how:?}: {} {}", px(&s, 7, 4)[0], px(&s, 8, 4)[0]);
      assert_eq!(px(&s, 1, 4), &[100, 100, 100], "{how:?}: flat areas stay");
      assert!(px(&s, 8, 4)[1] == px(&s, 8, 4)[0] && px(&s, 8, 4)[2] == px(&s, 8, 4)[0], "{how:?}: grey stays grey");
    }
    // The mild kernel: (33 centre - the 3x3 sum) / 24 = 150 + 3 * 50 / 24 beside the edge.
    assert_eq!(px(&sharpen(edge.clone(), Sharpen::Mild, &Cancel::never()).unwrap(), 8, 4)[0], 156);
    // The mask works on L* and caps brightening at y2 (10 L* units, about 26 levels here).
    let capped = sharpen(edge, Sharpen::Mask(Mask { m2: 100.0, ..Mask::default() }), &Cancel::never()).unwrap();
    assert!(px(&capped, 8, 4)[0] <= 150 + 30, "brightening is capped by y2: {}", px(&capped, 8, 4)[0]);
  }
}
