//! Overlaying one image on another (sharp's `composite`), the watermark case
//! first: an RGBA overlay placed by gravity or by `top`/`left`, blended with
//! one of the W3C separable blend modes and then composited source-over.
//! Overlays that reach past the base are clipped, never an error.

use std::sync::Arc;

use super::decode::{self, Pixels};
use super::{colour, header, orient};
use crate::error::{Error, Result};
use crate::pool::Cancel;

/// The most overlays one resize may composite.
pub const MAX_OVERLAYS: usize = 64;

/// Where an overlay's bytes come from, as the options name them. Whoever
/// runs the task turns every reference into `Bytes` first (`Steps::sources_mut`):
/// resize() and JobQueue pass buffers beside the options, native jobs name
/// a file inside the roots, a Redis key or base64.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
  Bytes(Arc<[u8]>),
  /// The n-th buffer handed over beside the options (`{ buffer: n }`).
  Buffer(usize),
  Path(String),
  Key(String),
  Base64(String),
}

/// Where an overlay goes: a gravity (an anchor as `position` gives it), or
/// its top-left corner in pixels of the base, which may lie outside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Place {
  Gravity((f64, f64)),
  At { left: i64, top: i64 },
}

/// One `composite` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
  pub input: Source,
  pub place: Place,
  pub blend: Blend,
}

/// The prefix of every message about the `i`-th overlay's input.
pub fn input_name(i: usize) -> String {
  format!("composite[{i}].input")
}

/// The error for the `i`-th overlay named by path, key or base64 where only
/// its bytes may be given: resize(), JobQueue and remote() calls. A remote
/// call's worker refuses them too (its roots and key policy are for its
/// native jobs, not for callers that reach it through Redis).
pub fn bytes_only(i: usize) -> Error {
  Error::invalid(format!(
    "{}: a path, key or base64 names an overlay in a native job only; resize(), JobQueue and remote() take its bytes (a Buffer)",
    input_name(i)
  ))
}

/// `e` about the `i`-th overlay's input, naming it.
fn about(i: usize, e: Error) -> Error {
  Error::new(e.code, format!("{}: {}", input_name(i), e.message))
}

/// The overlay's bytes; an internal error if nobody resolved its reference.
fn bytes_of(i: usize, o: &Overlay) -> Result<&[u8]> {
  match &o.input {
    Source::Bytes(b) => Ok(b),
    _ => Err(Error::internal(format!("{} was not read before the task ran", input_name(i)))),
  }
}

/// Reads each overlay's header and checks it against `limit_input_pixels`
/// before anything is decoded; returns the largest overlay's pixel count
/// (the memory estimate holds one decoded overlay at a time).
pub fn check(overlays: &[Overlay], limit_input_pixels: u64) -> Result<u64> {
  let mut most = 0;
  for (i, o) in overlays.iter().enumerate() {
    let h = header::read(bytes_of(i, o)?).map_err(|e| about(i, e))?;
    header::check_limit(&h, limit_input_pixels).map_err(|e| about(i, e))?;
    most = most.max(h.pixels());
  }
  Ok(most)
}

/// Decodes each overlay in turn (upright, in sRGB) and composites it onto
/// `base`; one decoded overlay is held at a time.
pub fn apply(mut base: Pixels, overlays: &[Overlay], limit_input_pixels: u64, cancel: &Cancel) -> Result<Pixels> {
  for (i, o) in overlays.iter().enumerate() {
    cancel.check()?;
    let data = bytes_of(i, o)?;
    let h = header::read(data).map_err(|e| about(i, e))?;
    header::check_limit(&h, limit_input_pixels).map_err(|e| about(i, e))?;
    let (pixels, icc) = decode::decode(data, &h, None).map_err(|e| about(i, e))?;
    let mut pixels = orient::apply(pixels, h.orientation);
    if let Some(icc) = icc.as_deref() {
      colour::to_srgb(&mut pixels, icc);
    }
    cancel.check()?;
    let (left, top) = match o.place {
      Place::Gravity(anchor) => place((base.width, base.height), (pixels.width, pixels.height), anchor),
      Place::At { left, top } => (left, top),
    };
    base = composite(base, &pixels, left, top, o.blend)?;
  }
  Ok(base)
}

/// How an overlay's colour combines with the base's where both are present
/// (the separable modes of W3C Compositing and Blending, on premultiplied
/// colours as sharp applies them); `Over` is plain alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blend {
  Over,
  Multiply,
  Screen,
  Darken,
  Lighten,
}

impl Blend {
  /// Every blend mode, by sharp's name.
  pub const ALL: [(&'static str, Blend); 5] =
    [("over", Blend::Over), ("multiply", Blend::Multiply), ("screen", Blend::Screen), ("darken", Blend::Darken), ("lighten", Blend::Lighten)];

  fn mix(self, b: f32, s: f32) -> f32 {
    match self {
      Blend::Over => s,
      Blend::Multiply => b * s,
      Blend::Screen => b + s - b * s,
      Blend::Darken => b.min(s),
      Blend::Lighten => b.max(s),
    }
  }
}

/// Top-left corner of an `ow`x`oh` overlay on a `bw`x`bh` base for an anchor
/// (x, y) from 0 (left/top) to 1 (right/bottom), as `position` gives it.
pub fn place(base: (u32, u32), overlay: (u32, u32), anchor: (f64, f64)) -> (i64, i64) {
  let free = |b: u32, o: u32, a: f64| ((f64::from(b) - f64::from(o)) * a).round() as i64;
  (free(base.0, overlay.0, anchor.0), free(base.1, overlay.1, anchor.1))
}

/// Composites `overlay` onto `base` with its top-left at (`left`, `top`),
/// which may lie outside the base (the overlay is clipped). The base keeps
/// its channel count: an opaque RGB base stays RGB.
pub fn composite(mut base: Pixels, overlay: &Pixels, left: i64, top: i64, blend: Blend) -> Result<Pixels> {
  if overlay.channels != 3 && overlay.channels != 4 {
    return Err(Error::internal(format!("overlay with {} channels", overlay.channels)));
  }
  let (bc, oc) = (usize::from(base.channels), usize::from(overlay.channels));
  let (bw, bh) = (i64::from(base.width), i64::from(base.height));
  let (ow, oh) = (i64::from(overlay.width), i64::from(overlay.height));
  let (x0, x1) = (left.max(0), (left + ow).min(bw));
  let (y0, y1) = (top.max(0), (top + oh).min(bh));
  for y in y0..y1 {
    for x in x0..x1 {
      let s = &overlay.data[(((y - top) * ow + (x - left)) as usize) * oc..][..oc];
      let d = &mut base.data[((y * bw + x) as usize) * bc..][..bc];
      let sa = if oc == 4 { f32::from(s[3]) / 255.0 } else { 1.0 };
      if sa == 0.0 {
        continue;
      }
      let da = if bc == 4 { f32::from(d[3]) / 255.0 } else { 1.0 };
      let ra = sa + da * (1.0 - sa);
      for ch in 0..3 {
        let (cs, cb) = (f32::from(s[ch]) / 255.0, f32::from(d[ch]) / 255.0);
        // The blended source colour where the base is present, then
        // source-over. As sharp (libvips) does, the separable modes blend the
        // premultiplied colours, so a half-transparent multiply darkens less
        // than the W3C formula would; `over` is plain alpha either way.
        let blended = match blend {
          Blend::Over => cs,
          _ => blend.mix(cb * da, cs * sa),
        };
        let mixed = (1.0 - da) * cs + da * blended;
        let out = (sa * mixed + da * cb * (1.0 - sa)) / ra;
        d[ch] = (out * 255.0).round().clamp(0.0, 255.0) as u8;
      }
      if bc == 4 {
        d[3] = (ra * 255.0).round().clamp(0.0, 255.0) as u8;
      }
    }
  }
  Ok(base)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn solid(w: u32, h: u32, px: &[u8]) -> Pixels {
    Pixels { data: px.repeat((w * h) as usize), width: w, height: h, channels: px.len() as u8 }
  }

  fn at(p: &Pixels, x: u32, y: u32) -> Vec<u8> {
    let c = usize::from(p.channels);
    p.data[(y * p.width + x) as usize * c..][..c].to_vec()
  }

  #[test]
  fn half_transparent_white_over_black_is_mid_grey_inside_the_overlay_only() {
    let base = solid(8, 8, &[0, 0, 0]);
    let mark = solid(2, 2, &[255, 255, 255, 128]);
    let (l, t) = place((8, 8), (2, 2), (1.0, 1.0));
    assert_eq!((l, t), (6, 6), "southeast gravity");
    let out = composite(base, &mark, l, t, Blend::Over).unwrap();
    assert_eq!(out.channels, 3);
    assert_eq!(at(&out, 7, 7), vec![128, 128, 128]);
    assert_eq!(at(&out, 5, 5), vec![0, 0, 0]);
  }

  #[test]
  fn overlays_past_the_edges_are_clipped() {
    let base = solid(4, 4, &[10, 20, 30, 255]);
    let mark = solid(3, 3, &[200, 0, 0]);
    let out = composite(base, &mark, -2, 3, Blend::Over).unwrap();
    assert_eq!(at(&out, 0, 3), vec![200, 0, 0, 255]);
    assert_eq!(at(&out, 1, 3), vec![10, 20, 30, 255], "x = 1 is past the overlay's right edge");
    let far = composite(out.clone(), &mark, 100, -100, Blend::Over).unwrap();
    assert_eq!(far.data, out.data);
  }

  #[test]
  fn blend_modes() {
    let base = solid(1, 1, &[100, 200, 50]);
    let grey = solid(1, 1, &[128, 128, 128]);
    let px = |b| at(&composite(base.clone(), &grey, 0, 0, b).unwrap(), 0, 0);
    assert_eq!(px(Blend::Over), vec![128, 128, 128]);
    assert_eq!(px(Blend::Multiply), vec![50, 100, 25]);
    assert_eq!(px(Blend::Screen), vec![178, 228, 153]);
    assert_eq!(px(Blend::Darken), vec![100, 128, 50]);
    assert_eq!(px(Blend::Lighten), vec![128, 200, 128]);
  }

  #[test]
  fn half_transparent_blends_as_sharp_does() {
    // sharp 0.35 gives these for base (100, 200, 50), overlay (128, 60, 230) at alpha 0.5.
    let base = solid(1, 1, &[100, 200, 50]);
    let half = solid(1, 1, &[128, 60, 230, 128]);
    // (alpha 128 here is 0.502, sharp's was 0.5: within one level.)
    let near = |b, want: [u8; 3]| {
      let got = at(&composite(base.clone(), &half, 0, 0, b).unwrap(), 0, 0);
      assert!(got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 1), "{b:?}: {got:?}, sharp {want:?}");
    };
    near(Blend::Multiply, [62, 111, 36]);
    near(Blend::Screen, [119, 203, 96]);
    near(Blend::Darken, [82, 114, 50]);
    near(Blend::Lighten, [100, 200, 82]);
  }

  #[test]
  fn onto_a_transparent_base_the_overlay_shows_as_is() {
    let base = solid(1, 1, &[0, 0, 0, 0]);
    let mark = solid(1, 1, &[40, 80, 120, 200]);
    assert_eq!(at(&composite(base, &mark, 0, 0, Blend::Multiply).unwrap(), 0, 0), vec![40, 80, 120, 200]);
  }
}
