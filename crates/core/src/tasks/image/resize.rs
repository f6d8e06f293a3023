//! Geometry (sharp's fit modes) and resampling with fast_image_resize.

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::decode::Pixels;
use super::limits::{buffer_len, try_with_capacity, try_zeroed};
use crate::error::{Code, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
  #[default]
  Cover,
  Contain,
  Fill,
  Inside,
  Outside,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
  Nearest,
  Linear,
  Cubic,
  Mitchell,
  #[default]
  Lanczos3,
}

/// What to do with the decoded (and oriented) image, in output coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
  /// Region of the source to resample, in source pixels: (left, top, width, height).
  pub crop: (f64, f64, f64, f64),
  /// Size the region is resampled to.
  pub scaled: (u32, u32),
  /// Output canvas size; larger than `scaled` only for `contain`.
  pub canvas: (u32, u32),
  /// Where the scaled image sits on the canvas.
  pub offset: (u32, u32),
}

/// An output side computed from the options; one past u32 (a 1x2^31 image
/// scaled by 65535) is refused rather than saturated into a wrong size.
fn dim(v: f64) -> Result<u32> {
  let r = v.round();
  if r.is_nan() || r > f64::from(u32::MAX) {
    return Err(Error::new(
      Code::LimitExceeded,
      format!("output image would be {v:.0} pixels on one side, more than any image can have; ask for a smaller width or height"),
    ));
  }
  Ok((r as u32).max(1))
}

/// Computes the plan for an input of `iw`x`ih` (already oriented).
/// `position` is the crop/embed anchor, each axis 0 (left/top) to 1 (right/bottom).
pub fn plan(
  iw: u32,
  ih: u32,
  width: Option<u32>,
  height: Option<u32>,
  fit: Fit,
  position: (f64, f64),
  without_enlargement: bool,
) -> Result<Plan> {
  let (fw, fh) = (f64::from(iw), f64::from(ih));
  let full = (0.0, 0.0, fw, fh);
  let simple = |w: u32, h: u32| Plan { crop: full, scaled: (w, h), canvas: (w, h), offset: (0, 0) };
  let (tw, th) = match (width, height) {
    (None, None) => return Ok(simple(iw, ih)),
    (Some(w), None) => {
      if without_enlargement && w > iw {
        return Ok(simple(iw, ih));
      }
      return Ok(simple(w, dim(fh * f64::from(w) / fw)?));
    }
    (None, Some(h)) => {
      if without_enlargement && h > ih {
        return Ok(simple(iw, ih));
      }
      return Ok(simple(dim(fw * f64::from(h) / fh)?, h));
    }
    (Some(w), Some(h)) => (w, h),
  };
  let (sx, sy) = (f64::from(tw) / fw, f64::from(th) / fh);
  Ok(match fit {
    Fit::Fill => {
      if without_enlargement && (tw > iw || th > ih) {
        simple(iw, ih)
      } else {
        simple(tw, th)
      }
    }
    Fit::Inside | Fit::Outside => {
      let mut s = if fit == Fit::Inside { sx.min(sy) } else { sx.max(sy) };
      if without_enlargement {
        s = s.min(1.0);
      }
      simple(dim(fw * s)?, dim(fh * s)?)
    }
    Fit::Cover => {
      let mut s = sx.max(sy);
      let (mut ow, mut oh) = (tw, th);
      if without_enlargement && s > 1.0 {
        s = 1.0;
        ow = tw.min(iw);
        oh = th.min(ih);
      }
      // The source region that, scaled by s, exactly covers the output.
      let cw = (f64::from(ow) / s).min(fw);
      let ch = (f64::from(oh) / s).min(fh);
      let left = (fw - cw) * position.0;
      let top = (fh - ch) * position.1;
      Plan { crop: (left, top, cw, ch), scaled: (ow, oh), canvas: (ow, oh), offset: (0, 0) }
    }
    Fit::Contain => {
      let mut s = sx.min(sy);
      let (mut cw, mut ch) = (tw, th);
      if without_enlargement && s > 1.0 {
        s = 1.0;
        cw = tw.min(iw);
        ch = th.min(ih);
      }
      let scaled = (dim(fw * s)?.min(cw), dim(fh * s)?.min(ch));
      let offset = (
        (f64::from(cw - scaled.0) * position.0).round() as u32,
        (f64::from(ch - scaled.1) * position.1).round() as u32,
      );
      Plan { crop: full, scaled, canvas: (cw, ch), offset }
    }
  })
}

pub(super) fn algorithm(kernel: Kernel) -> ResizeAlg {
  match kernel {
    Kernel::Nearest => ResizeAlg::Nearest,
    Kernel::Linear => ResizeAlg::Convolution(FilterType::Bilinear),
    Kernel::Cubic => ResizeAlg::Convolution(FilterType::CatmullRom),
    Kernel::Mitchell => ResizeAlg::Convolution(FilterType::Mitchell),
    Kernel::Lanczos3 => ResizeAlg::Convolution(FilterType::Lanczos3),
  }
}

/// Resamples the plan's crop region of `src` to `plan.scaled`.
pub fn resample(src: Pixels, plan: &Plan, kernel: Kernel) -> Result<Pixels> {
  if plan.crop == (0.0, 0.0, f64::from(src.width), f64::from(src.height)) && plan.scaled == (src.width, src.height) {
    return Ok(src);
  }
  let (left, top, width, height) = plan.crop;
  let (w, h) = plan.scaled;
  // With both axes to resample, fast_image_resize runs the vertical pass first
  // into a temporary image of (source columns) x (output rows) that it
  // allocates infallibly. When the rows grow while the columns shrink (`fill`
  // of a wide strip), that image outgrows source and output together (a
  // 100000x10 strip filled to 1000x20000 held 100000x20000, 6 GB), so the
  // passes run here one at a time, columns first, each straight into a buffer
  // of its own. Aspect-keeping fits never get here.
  if f64::from(h) > height && f64::from(w) < width {
    let rows = src.height;
    let narrowed = resample_region(src, (left, 0.0, width, f64::from(rows)), (w, rows), kernel)?;
    return resample_region(narrowed, (0.0, top, f64::from(w), height), (w, h), kernel);
  }
  resample_region(src, plan.crop, plan.scaled, kernel)
}

fn resample_region(src: Pixels, crop: (f64, f64, f64, f64), size: (u32, u32), kernel: Kernel) -> Result<Pixels> {
  let pixel_type = if src.channels == 4 { PixelType::U8x4 } else { PixelType::U8x3 };
  let channels = src.channels;
  let src_image = Image::from_vec_u8(src.width, src.height, src.data, pixel_type)
    .map_err(|e| Error::internal(format!("resize source buffer: {e}")))?;
  // Image::new would allocate the destination infallibly.
  let data = try_zeroed(buffer_len(size.0, size.1, channels)?, "resized image")?;
  let mut dst = Image::from_vec_u8(size.0, size.1, data, pixel_type)
    .map_err(|e| Error::internal(format!("resize destination buffer: {e}")))?;
  let (left, top, width, height) = crop;
  let options = ResizeOptions::new().resize_alg(algorithm(kernel)).crop(left, top, width, height);
  Resizer::new()
    .resize(&src_image, &mut dst, &options)
    .map_err(|e| Error::internal(format!("resize failed: {e}")))?;
  Ok(Pixels { data: dst.into_vec(), width: size.0, height: size.1, channels })
}

/// Places `img` on a canvas filled with `background` (RGBA), for `contain`.
pub fn embed(img: Pixels, plan: &Plan, background: [u8; 4]) -> Result<Pixels> {
  if plan.canvas == (img.width, img.height) {
    return Ok(img);
  }
  let c = usize::from(img.channels);
  let len = buffer_len(plan.canvas.0, plan.canvas.1, img.channels)?;
  let (cw, ch) = (plan.canvas.0 as usize, plan.canvas.1 as usize);
  let mut data = try_with_capacity(len, "contain canvas")?;
  for _ in 0..cw * ch {
    data.extend_from_slice(&background[..c]);
  }
  let (ox, oy) = (plan.offset.0 as usize, plan.offset.1 as usize);
  let row = img.width as usize * c;
  for y in 0..img.height as usize {
    let d = ((oy + y) * cw + ox) * c;
    data[d..d + row].copy_from_slice(&img.data[y * row..(y + 1) * row]);
  }
  Ok(Pixels { data, width: plan.canvas.0, height: plan.canvas.1, channels: img.channels })
}

/// Adds an opaque alpha channel.
pub fn add_alpha(img: Pixels) -> Result<Pixels> {
  if img.channels == 4 {
    return Ok(img);
  }
  let mut data = try_with_capacity(buffer_len(img.width, img.height, 4)?, "image with alpha")?;
  for px in img.data.chunks_exact(3) {
    data.extend_from_slice(&[px[0], px[1], px[2], 255]);
  }
  Ok(Pixels { data, channels: 4, ..img })
}

/// Composites RGBA onto an opaque `background`, giving RGB.
pub fn flatten(img: Pixels, background: [u8; 4]) -> Result<Pixels> {
  if img.channels != 4 {
    return Ok(img);
  }
  let mut data = try_with_capacity(buffer_len(img.width, img.height, 3)?, "flattened image")?;
  for px in img.data.chunks_exact(4) {
    let a = u32::from(px[3]);
    for i in 0..3 {
      let v = (u32::from(px[i]) * a + u32::from(background[i]) * (255 - a) + 127) / 255;
      data.push(v as u8);
    }
  }
  Ok(Pixels { data, channels: 3, ..img })
}

#[cfg(test)]
mod tests {
  use super::*;
  const C: (f64, f64) = (0.5, 0.5);

  #[test]
  fn width_only_keeps_aspect() {
    let p = plan(2725, 2225, Some(720), None, Fit::Cover, C, false).unwrap();
    assert_eq!(p.canvas, (720, 588));
    let p = plan(2725, 2225, None, Some(588), Fit::Cover, C, false).unwrap();
    assert_eq!(p.canvas, (720, 588));
  }

  #[test]
  fn fit_modes() {
    // 400x200 into 100x100
    assert_eq!(plan(400, 200, Some(100), Some(100), Fit::Fill, C, false).unwrap().canvas, (100, 100));
    assert_eq!(plan(400, 200, Some(100), Some(100), Fit::Inside, C, false).unwrap().canvas, (100, 50));
    assert_eq!(plan(400, 200, Some(100), Some(100), Fit::Outside, C, false).unwrap().canvas, (200, 100));
    let cover = plan(400, 200, Some(100), Some(100), Fit::Cover, C, false).unwrap();
    assert_eq!(cover.canvas, (100, 100));
    assert_eq!(cover.crop, (100.0, 0.0, 200.0, 200.0));
    let left = plan(400, 200, Some(100), Some(100), Fit::Cover, (0.0, 0.5), false).unwrap();
    assert_eq!(left.crop.0, 0.0);
    let contain = plan(400, 200, Some(100), Some(100), Fit::Contain, C, false).unwrap();
    assert_eq!((contain.canvas, contain.scaled, contain.offset), ((100, 100), (100, 50), (0, 25)));
  }

  #[test]
  fn without_enlargement() {
    assert_eq!(plan(50, 40, Some(100), None, Fit::Cover, C, true).unwrap().canvas, (50, 40));
    assert_eq!(plan(50, 40, Some(100), Some(100), Fit::Inside, C, true).unwrap().canvas, (50, 40));
    assert_eq!(plan(50, 40, Some(100), Some(100), Fit::Cover, C, true).unwrap().canvas, (50, 40));
    assert_eq!(plan(500, 400, Some(100), Some(100), Fit::Cover, C, true).unwrap().canvas, (100, 100));
  }

  #[test]
  fn flatten_and_embed() {
    let img = Pixels { data: vec![255, 0, 0, 0, 0, 0, 255, 255], width: 2, height: 1, channels: 4 };
    let flat = flatten(img, [255, 255, 255, 255]).unwrap();
    assert_eq!(flat.data, vec![255, 255, 255, 0, 0, 255]);
    let small = Pixels { data: vec![1, 2, 3], width: 1, height: 1, channels: 3 };
    let p = Plan { crop: (0.0, 0.0, 1.0, 1.0), scaled: (1, 1), canvas: (3, 1), offset: (1, 0) };
    assert_eq!(embed(small, &p, [9, 9, 9, 255]).unwrap().data, vec![9, 9, 9, 1, 2, 3, 9, 9, 9]);
  }

  #[test]
  fn columns_shrinking_while_rows_grow_resample_in_two_passes() {
    // A horizontal gradient, 64x4, to 8x32 with fill: the two-pass path. It
    // must match one fast_image_resize call (which would hold a 64x32 temporary)
    // up to the rounding of the intermediate.
    let data: Vec<u8> = (0..4).flat_map(|_| (0..64u8).flat_map(|x| [x * 4, 255 - x * 4, 128])).collect();
    let src = Pixels { data, width: 64, height: 4, channels: 3 };
    let p = plan(64, 4, Some(8), Some(32), Fit::Fill, C, false).unwrap();
    assert_eq!(p.scaled, (8, 32));
    let two = resample(src.clone(), &p, Kernel::Lanczos3).unwrap();
    let one = resample_region(src, p.crop, p.scaled, Kernel::Lanczos3).unwrap();
    assert_eq!((two.width, two.height, two.data.len()), (8, 32, 8 * 32 * 3));
    let worst = two.data.iter().zip(&one.data).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
    assert!(worst <= 1, "two passes differ from one by {worst}");
  }

  #[test]
  fn resample_solid_colour_stays_solid() {
    let src = Pixels { data: vec![200; 64 * 64 * 3], width: 64, height: 64, channels: 3 };
    let p = plan(64, 64, Some(16), None, Fit::Cover, C, false).unwrap();
    let out = resample(src, &p, Kernel::Lanczos3).unwrap();
    assert_eq!((out.width, out.height), (16, 16));
    assert!(out.data.iter().all(|&v| v == 200));
  }
}
