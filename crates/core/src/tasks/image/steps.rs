//! The operations around the resize, as one value in `ResizeOptions` and in
//! one fixed, documented order (sharp's): auto-orient, `extract` (in upright
//! coordinates), `rotate`, `flip`/`flop`, the resize itself, then
//! `sharpen`/`blur`, `greyscale`, `composite`, and finally the encoder. This
//! file knows the order and the sizes each step produces; ops.rs and
//! composite.rs do the pixel work.

use super::composite::{self, Overlay, Source};
use super::decode::Pixels;
use super::ops::{self, Region, Sharpen};
use crate::error::{Code, Error, Result};
use crate::pool::Cancel;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Steps {
  pub extract: Option<Region>,
  /// Clockwise degrees, any finite number.
  pub rotate: Option<f64>,
  pub flip: bool,
  pub flop: bool,
  pub sharpen: Option<Sharpen>,
  /// Gaussian sigma.
  pub blur: Option<f64>,
  pub greyscale: bool,
  /// Overlays, composited in order onto the filtered image.
  pub composite: Vec<Overlay>,
}

/// Width and height of an image of `w`x`h` rotated by `degrees`, as
/// `ops::rotate` makes it.
pub fn rotated_size(w: u32, h: u32, degrees: f64) -> (u32, u32) {
  let d = degrees.rem_euclid(360.0);
  let quarter = (d / 90.0).round();
  if (d - quarter * 90.0).abs() < 1e-9 {
    return if quarter as u32 % 2 == 1 { (h, w) } else { (w, h) };
  }
  let (sin, cos) = d.to_radians().sin_cos();
  let (w, h) = (f64::from(w), f64::from(h));
  let side = |v: f64| v.round().clamp(1.0, f64::from(u32::MAX)) as u32;
  (side(w * cos.abs() + h * sin.abs()), side(w * sin.abs() + h * cos.abs()))
}

impl Steps {
  /// Whether anything happens before the resize.
  pub fn has_geometry(&self) -> bool {
    self.extract.is_some() || self.rotate.is_some() || self.flip || self.flop
  }

  /// The size the resize starts from for an upright image of `w`x`h`;
  /// refuses an `extract` region outside it (before anything is decoded).
  pub fn source_size(&self, w: u32, h: u32) -> Result<(u32, u32)> {
    let (mut w, mut h) = (w, h);
    if let Some(r) = self.extract {
      ops::check_region(r, w, h)?;
      (w, h) = (r.width, r.height);
    }
    if let Some(d) = self.rotate {
      (w, h) = rotated_size(w, h, d);
    }
    Ok((w, h))
  }

  /// Applies extract, rotate, flip and flop to `p`, an upright image that
  /// the decoder may have shrunk from `full` (its upright size before the
  /// DCT shrink): the extract region is scaled to match.
  pub fn geometry(&self, mut p: Pixels, full: (u32, u32), background: [u8; 4], cancel: &Cancel) -> Result<Pixels> {
    if let Some(r) = self.extract {
      let (kx, ky) = (f64::from(p.width) / f64::from(full.0), f64::from(p.height) / f64::from(full.1));
      let scaled = if (kx, ky) == (1.0, 1.0) {
        r
      } else {
        let left = ((f64::from(r.left) * kx).floor() as u32).min(p.width - 1);
        let top = ((f64::from(r.top) * ky).floor() as u32).min(p.height - 1);
        let width = ((f64::from(r.width) * kx).round() as u32).clamp(1, p.width - left);
        let height = ((f64::from(r.height) * ky).round() as u32).clamp(1, p.height - top);
        Region { left, top, width, height }
      };
      p = ops::extract(p, scaled)?;
    }
    if let Some(d) = self.rotate {
      cancel.check()?;
      p = ops::rotate(p, d, background, cancel)?;
    }
    if self.flip {
      p = ops::flip(p);
    }
    if self.flop {
      p = ops::flop(p);
    }
    Ok(p)
  }

  /// sharpen, blur and greyscale, on the resized pixels.
  pub fn filters(&self, mut p: Pixels, cancel: &Cancel) -> Result<Pixels> {
    if let Some(s) = self.sharpen {
      p = ops::sharpen(p, s, cancel)?;
    }
    if let Some(sigma) = self.blur {
      p = ops::blur(p, sigma, cancel)?;
    }
    if self.greyscale {
      p = ops::greyscale(p);
    }
    Ok(p)
  }
}

impl Steps {
  /// The overlays' inputs with their indices, for the caller to turn each
  /// reference (a buffer, a path, a key, base64) into bytes before the task runs.
  pub fn sources_mut(&mut self) -> impl Iterator<Item = (usize, &mut Source)> {
    self.composite.iter_mut().map(|o| &mut o.input).enumerate()
  }

  /// Composites the overlays onto `p`, the filtered output.
  pub fn overlays(&self, p: Pixels, limit_input_pixels: u64, cancel: &Cancel) -> Result<Pixels> {
    if self.composite.is_empty() {
      return Ok(p);
    }
    composite::apply(p, &self.composite, limit_input_pixels, cancel)
  }
}

/// The most pixels a rotation's canvas may hold, against the pixel limit
/// of the image it rotates (a 45 degree turn about doubles it).
pub fn check_rotation(steps: &Steps, source: (u32, u32), limit_input_pixels: u64) -> Result<()> {
  if steps.rotate.is_none() || limit_input_pixels == 0 {
    return Ok(());
  }
  let (w, h) = source;
  if u64::from(w) * u64::from(h) > limit_input_pixels.saturating_mul(2) {
    return Err(Error::new(Code::LimitExceeded, format!("the rotated image would be {w}x{h}, over twice limitInputPixels ({limit_input_pixels})")));
  }
  Ok(())
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn source_size_follows_extract_then_rotate() {
    let s = Steps { extract: Some(Region { left: 10, top: 20, width: 300, height: 100 }), rotate: Some(90.0), ..Steps::default() };
    assert_eq!(s.source_size(400, 200).unwrap(), (100, 300));
    let e = s.source_size(200, 200).unwrap_err();
    assert_eq!(e.code, Code::InvalidArg);
    assert!(e.message.contains("outside the 200x200 image"), "{}", e.message);
    assert_eq!(rotated_size(20, 10, 45.0), (21, 21));
    assert_eq!(rotated_size(20, 10, -90.0), (10, 20));
  }

  #[test]
  fn geometry_scales_the_region_to_a_shrunk_decode() {
    // A 4x2 decode of an 8x4 image: the region's right half (4..8) is 2..4.
    let data = (0..8u8).flat_map(|v| [v, v, v]).collect();
    let p = Pixels { data, width: 4, height: 2, channels: 3 };
    let s = Steps { extract: Some(Region { left: 4, top: 0, width: 4, height: 4 }), ..Steps::default() };
    let out = s.geometry(p, (8, 4), [0; 4], &Cancel::never()).unwrap();
    assert_eq!((out.width, out.height), (2, 2));
    assert_eq!(out.data.chunks(3).map(|c| c[0]).collect::<Vec<_>>(), vec![2, 3, 6, 7]);
  }
}
