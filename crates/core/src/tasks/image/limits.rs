//! Output limits. A tiny file with extreme options (a 1x16383 PNG resized to
//! width 65535) asks for an output of 211 TB: the size a resize will produce
//! and hold is known from the plan, so it is checked there, before a pixel is
//! decoded, and refused with ERR_LIMIT_EXCEEDED. The buffers that follow the
//! plan are then allocated fallibly: a size the checks let through (limits
//! turned off) that the allocator cannot give is a coded error, not an abort
//! of the whole process.

use std::alloc::Layout;

use super::resize::{Kernel, Plan};
use super::Format;
use crate::error::{Code, Error, Result};

/// The largest side each encoder can write: libjpeg-turbo's JPEG_MAX_DIMENSION,
/// WebP's 14-bit sizes, AV1's and GIF's 16-bit sizes, and PNG's 2^31 - 1
/// (the spec's bound on its 32-bit fields).
pub fn max_side(format: Format) -> u32 {
  match format {
    Format::Jpeg => 65_500,
    Format::Webp => 16_383,
    Format::Avif => super::avif::MAX_SIDE,
    Format::Gif => u32::from(u16::MAX),
    Format::Png => i32::MAX as u32,
  }
}

/// Refuses an output side the encoder for `format` cannot write.
pub fn check_sides(format: Format, width: u32, height: u32) -> Result<()> {
  let max = max_side(format);
  if width > max || height > max {
    return Err(Error::new(
      Code::LimitExceeded,
      format!(
        "{} output is limited to {max}x{max} pixels, but this resize would give {width}x{height}; ask for a smaller width or height, or another format",
        match format {
          Format::Jpeg => "JPEG",
          Format::Png => "PNG",
          Format::Gif => "GIF",
          Format::Webp => "WebP",
          Format::Avif => "AVIF",
        }
      ),
    ));
  }
  Ok(())
}

/// Floor of the resampler's budget for its filter tables, so that small and
/// thin images (whose tables outweigh their pixels) still resize.
const MIN_FILTER_TABLES: u64 = 64 << 20;

/// Bytes fast_image_resize allocates for one axis's filter tables: per output
/// pixel, a window of `2 * ceil(support * max(1, reduction)) + 1` f64 weights,
/// then a converted copy of them (16 bytes per weight bounds both). The window
/// grows with the reduction, so a 4096:1 reduction of a 1-pixel-wide strip
/// needs gigabytes of weights for a few kilobytes of pixels.
fn filter_table_bytes(kernel: Kernel, crop: f64, out: u32) -> u64 {
  let support = match kernel {
    Kernel::Nearest => return 0,
    Kernel::Linear => 1.0,
    Kernel::Cubic | Kernel::Mitchell => 2.0,
    Kernel::Lanczos3 => 3.0,
  };
  if crop == f64::from(out) {
    return 0;
  }
  let window = (support * (crop / f64::from(out)).max(1.0)).ceil() * 2.0 + 1.0;
  // `as` saturates: an absurd window becomes u64::MAX, which the budget refuses.
  (window * f64::from(out) * 16.0) as u64
}

fn pixels(size: (u32, u32)) -> u64 {
  // u32 x u32 always fits in u64.
  u64::from(size.0) * u64::from(size.1)
}

/// Checks what a resize of a `source`-sized (oriented) image along `plan`
/// will produce and hold, before anything is decoded:
/// - each side of the output fits the encoder for `format`;
/// - the output (and the resized image inside a `contain` canvas) has at most
///   `limit_output_pixels` pixels (0: no limit);
/// - its pixel buffer can be addressed at all (so `limit_output_pixels: 0`
///   reaches the allocator only with sizes it may grant);
/// - the resampler's filter tables stay within what the images themselves take.
pub fn check_plan(plan: &Plan, source: (u32, u32), format: Format, kernel: Kernel, limit_output_pixels: u64) -> Result<()> {
  for size in [plan.canvas, plan.scaled] {
    check_sides(format, size.0, size.1)?;
    let n = pixels(size);
    if limit_output_pixels > 0 && n > limit_output_pixels {
      return Err(Error::new(
        Code::LimitExceeded,
        format!(
          "output image would be {}x{} ({n} pixels), over limitOutputPixels ({limit_output_pixels}); ask for a smaller width or height, or raise limitOutputPixels to allow it",
          size.0, size.1
        ),
      ));
    }
    buffer_len(size.0, size.1, 4)?;
  }
  let (_, _, cw, ch) = plan.crop;
  let tables = filter_table_bytes(kernel, cw, plan.scaled.0).saturating_add(filter_table_bytes(kernel, ch, plan.scaled.1));
  let images = pixels(source).saturating_add(pixels(plan.canvas)).saturating_mul(4);
  if tables > images.max(MIN_FILTER_TABLES) {
    return Err(Error::new(
      Code::LimitExceeded,
      format!(
        "resampling {}x{} to {}x{} with kernel '{}' needs {} MB of filter tables, far more than the images themselves; resize in two steps (first with kernel 'nearest' to a few times the final size)",
        source.0,
        source.1,
        plan.scaled.0,
        plan.scaled.1,
        format!("{kernel:?}").to_lowercase(),
        tables >> 20
      ),
    ));
  }
  Ok(())
}

fn too_large(what: &str, detail: String) -> Error {
  Error::new(
    Code::LimitExceeded,
    format!("{what} {detail}; ask for a smaller output, or keep limitOutputPixels on so such requests are refused up front"),
  )
}

/// Bytes of a `width`x`height` image of `channels` bytes per pixel, checked
/// against what a buffer may hold (isize::MAX).
pub fn buffer_len(width: u32, height: u32, channels: u8) -> Result<usize> {
  pixels((width, height))
    .checked_mul(u64::from(channels))
    .and_then(|n| usize::try_from(n).ok())
    .filter(|&n| n <= isize::MAX as usize)
    .ok_or_else(|| too_large("image", format!("of {width}x{height} is too large to hold in memory")))
}

/// A zeroed buffer of `len` bytes, or ERR_LIMIT_EXCEEDED when the allocator
/// refuses it. Zeroed memory comes from the allocator as `vec![0; len]`'s
/// does (fresh pages need no clearing), but a refusal is returned instead of
/// aborting the process.
pub fn try_zeroed(len: usize, what: &str) -> Result<Vec<u8>> {
  if len == 0 {
    return Ok(Vec::new());
  }
  let refused = || too_large(what, format!("of {len} bytes could not be allocated"));
  let layout = Layout::array::<u8>(len).map_err(|_| refused())?;
  // SAFETY: `layout` has a non-zero size. A non-null result points to `len`
  // zeroed (so initialised) bytes from the global allocator with u8's
  // alignment, which is what Vec::from_raw_parts needs with capacity `len`.
  unsafe {
    let ptr = std::alloc::alloc_zeroed(layout);
    if ptr.is_null() {
      return Err(refused());
    }
    Ok(Vec::from_raw_parts(ptr, len, len))
  }
}

/// An empty buffer with room for `capacity` bytes, or ERR_LIMIT_EXCEEDED when
/// the allocator refuses it.
pub fn try_with_capacity(capacity: usize, what: &str) -> Result<Vec<u8>> {
  let mut v = Vec::new();
  v.try_reserve_exact(capacity).map_err(|_| too_large(what, format!("of {capacity} bytes could not be allocated")))?;
  Ok(v)
}

#[cfg(test)]
mod tests {
  use super::super::resize::{plan, Fit};
  use super::*;

  const C: (f64, f64) = (0.5, 0.5);
  const LIMIT: u64 = super::super::DEFAULT_LIMIT_INPUT_PIXELS;

  fn check(iw: u32, ih: u32, w: Option<u32>, h: Option<u32>, fit: Fit, format: Format, limit: u64) -> Result<Plan> {
    let p = plan(iw, ih, w, h, fit, C, false)?;
    check_plan(&p, (iw, ih), format, Kernel::Lanczos3, limit)?;
    Ok(p)
  }

  #[test]
  fn the_211_terabyte_resize_is_refused_from_the_plan() {
    let e = check(1, 16383, Some(65535), None, Fit::Cover, Format::Png, LIMIT).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded);
    assert!(e.message.contains("65535x1073659905") && e.message.contains("limitOutputPixels (268402689)"), "{e}");
    // With the limit off the plan passes (7e13 pixels are addressable); the
    // allocator refuses the buffer later, as a coded error (see try_zeroed).
    assert!(check(1, 16383, Some(65535), None, Fit::Cover, Format::Png, 0).is_ok());
  }

  #[test]
  fn outside_and_fill_are_bounded() {
    let e = check(1, 2, Some(65535), Some(65535), Fit::Outside, Format::Png, LIMIT).unwrap_err();
    assert!(e.message.contains("65535x131070"), "{e}");
    let e = check(16, 16, Some(20000), Some(20000), Fit::Fill, Format::Png, LIMIT).unwrap_err();
    assert!(e.message.contains("limitOutputPixels"), "{e}");
    assert!(check(16, 16, Some(16000), Some(16000), Fit::Fill, Format::Png, LIMIT).is_ok());
  }

  #[test]
  fn encoder_sides_come_first_and_cannot_be_raised() {
    let e = check(16, 16, Some(20000), Some(20000), Fit::Fill, Format::Webp, 0).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded);
    assert!(e.message.starts_with("WebP output is limited to 16383x16383"), "{e}");
    let e = check(1, 1, Some(65501), Some(1), Fit::Fill, Format::Jpeg, 0).unwrap_err();
    assert!(e.message.contains("65500x65500"), "{e}");
    assert!(check(1, 1, Some(65500), Some(1), Fit::Fill, Format::Jpeg, 0).is_ok());
    assert!(check(1, 1, Some(16383), Some(1), Fit::Fill, Format::Webp, 0).is_ok());
  }

  #[test]
  fn contain_checks_the_canvas() {
    // The resized image is 1x1, the canvas around it is not.
    let e = check(1, 1, Some(20000), Some(20000), Fit::Contain, Format::Png, 100_000_000).unwrap_err();
    assert!(e.message.contains("20000x20000"), "{e}");
  }

  #[test]
  fn a_plan_side_past_u32_is_refused_not_wrapped() {
    // 2^31 rows scaled by 65535 would wrap a u32 side.
    let e = plan(1, 1 << 31, Some(65535), None, Fit::Cover, C, false).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded);
  }

  #[test]
  fn filter_tables_of_extreme_reductions_are_refused() {
    // A 1-pixel strip of 2^28 rows to 65535 rows: 4096:1, ~25 GB of weights.
    let e = check(1, 1 << 28, None, Some(65535), Fit::Cover, Format::Png, 0).unwrap_err();
    assert!(e.message.contains("filter tables"), "{e}");
    // With nearest there are no tables.
    let p = plan(1, 1 << 28, None, Some(65535), Fit::Cover, C, false).unwrap();
    assert!(check_plan(&p, (1, 1 << 28), Format::Png, Kernel::Nearest, 0).is_ok());
    // Ordinary reductions are far from the floor.
    assert!(check(2725, 2225, Some(720), None, Fit::Cover, Format::Jpeg, LIMIT).is_ok());
    assert!(check(100_000, 500, None, Some(100), Fit::Cover, Format::Png, 0).is_ok());
  }

  #[test]
  fn sizes_that_cannot_be_addressed_are_refused() {
    assert_eq!(buffer_len(65535, 65535, 4).unwrap(), 65535 * 65535 * 4);
    assert_eq!(buffer_len(u32::MAX, u32::MAX, 4).unwrap_err().code, Code::LimitExceeded);
  }

  #[test]
  fn allocation_failure_is_a_coded_error() {
    // Addressable but far more than any machine has: the allocator says no.
    let huge = 1usize << 60;
    assert_eq!(try_zeroed(huge, "test buffer").unwrap_err().code, Code::LimitExceeded);
    assert_eq!(try_with_capacity(huge, "test buffer").unwrap_err().code, Code::LimitExceeded);
    let v = try_zeroed(4096, "test buffer").unwrap();
    assert!(v.len() == 4096 && v.iter().all(|&b| b == 0));
    assert!(try_zeroed(0, "test buffer").unwrap().is_empty());
    assert_eq!(try_with_capacity(10, "test buffer").unwrap().capacity(), 10);
  }
}
