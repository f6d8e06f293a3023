//! JS option objects converted into the core's types.

use napi_derive::napi;
use rusque_core::tasks::image::{Fit, Format, Kernel, ResizeOptions};

use crate::error::{invalid, Result};

#[napi(object)]
pub struct NativeResizeOptions {
  pub width: Option<u32>,
  pub height: Option<u32>,
  pub fit: String,
  pub position_x: f64,
  pub position_y: f64,
  pub background: Vec<u32>,
  pub without_enlargement: bool,
  pub kernel: String,
  pub format: Option<String>,
  pub quality: u32,
  pub auto_orient: bool,
  pub limit_input_pixels: f64,
  /// Absent: follow limitInputPixels.
  pub limit_output_pixels: Option<f64>,
}

pub fn convert_resize_options(o: NativeResizeOptions) -> Result<ResizeOptions> {
  let fit = match o.fit.as_str() {
    "cover" => Fit::Cover,
    "contain" => Fit::Contain,
    "fill" => Fit::Fill,
    "inside" => Fit::Inside,
    "outside" => Fit::Outside,
    other => return Err(invalid(format!("unknown fit {other:?}"))),
  };
  let kernel = match o.kernel.as_str() {
    "nearest" => Kernel::Nearest,
    "linear" => Kernel::Linear,
    "cubic" => Kernel::Cubic,
    "mitchell" => Kernel::Mitchell,
    "lanczos3" => Kernel::Lanczos3,
    other => return Err(invalid(format!("unknown kernel {other:?}"))),
  };
  let format = match o.format.as_deref() {
    None => None,
    Some(f) => Some(Format::parse(f).filter(|f| *f != Format::Gif).ok_or_else(|| invalid(format!("unknown output format {f:?}")))?),
  };
  let bg = |i: usize| o.background.get(i).copied().unwrap_or(255).min(255) as u8;
  Ok(ResizeOptions {
    width: o.width,
    height: o.height,
    fit,
    position: (o.position_x, o.position_y),
    background: [bg(0), bg(1), bg(2), bg(3)],
    without_enlargement: o.without_enlargement,
    kernel,
    format,
    quality: o.quality.min(255) as u8,
    auto_orient: o.auto_orient,
    limit_input_pixels: if o.limit_input_pixels.is_finite() && o.limit_input_pixels > 0.0 { o.limit_input_pixels as u64 } else { 0 },
    // lib/options.js has checked it is a non-negative integer; `as` saturates past u64.
    limit_output_pixels: o.limit_output_pixels.map(|l| if l > 0.0 { l as u64 } else { 0 }),
  })
}
