//! Encoding to JPEG (libjpeg-turbo via mozjpeg), PNG (`image`/png) and WebP (libwebp).

use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use super::decode::Pixels;
use super::limits::{check_sides, try_with_capacity};
use super::Format;
use crate::error::{Error, Result};
use crate::pool::panic_message;

/// `progressive`: JPEG only (a multi-scan JPEG, sharp's `progressive`).
pub fn encode(img: &Pixels, format: Format, quality: u8, progressive: bool) -> Result<Vec<u8>> {
  // resize() checked the plan against these before decoding; checked again
  // here so that no caller can hand an encoder a size it cannot write.
  check_sides(format, img.width, img.height)?;
  match format {
    Format::Jpeg => encode_jpeg(img, quality, progressive),
    Format::Png | Format::Gif => encode_png(img),
    Format::Webp => encode_webp(img, quality),
  }
}

fn encode_jpeg(img: &Pixels, quality: u8, progressive: bool) -> Result<Vec<u8>> {
  if img.channels != 3 {
    return Err(Error::internal("JPEG encoder expects RGB pixels"));
  }
  let buffer = try_with_capacity((img.data.len() / 8).max(4096), "JPEG output buffer")?;
  let result = std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    // libjpeg-turbo's classic settings (baseline, 4:2:0, standard tables) plus
    // optimized Huffman tables: sharp's default output, a little smaller.
    c.set_fastest_defaults();
    c.set_size(img.width as usize, img.height as usize);
    c.set_quality(f32::from(quality));
    c.set_optimize_coding(true);
    if progressive {
      c.set_progressive_mode();
    }
    let mut started = c.start_compress(buffer)?;
    started.write_scanlines(&img.data)?;
    started.finish()
  });
  match result {
    Ok(Ok(bytes)) => Ok(bytes),
    Ok(Err(e)) => Err(Error::internal(format!("JPEG encoding failed: {e}"))),
    Err(payload) => Err(Error::internal(format!("JPEG encoding failed: {}", panic_message(&payload)))),
  }
}

fn encode_png(img: &Pixels) -> Result<Vec<u8>> {
  let mut out = Cursor::new(try_with_capacity(img.data.len() / 2, "PNG output buffer")?);
  let color = if img.channels == 4 { ExtendedColorType::Rgba8 } else { ExtendedColorType::Rgb8 };
  PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
    .write_image(&img.data, img.width, img.height, color)
    .map_err(|e| Error::internal(format!("PNG encoding failed: {e}")))?;
  Ok(out.into_inner())
}

fn encode_webp(img: &Pixels, quality: u8) -> Result<Vec<u8>> {
  let encoder = if img.channels == 4 {
    webp::Encoder::from_rgba(&img.data, img.width, img.height)
  } else {
    webp::Encoder::from_rgb(&img.data, img.width, img.height)
  };
  let memory = encoder
    .encode_simple(false, f32::from(quality))
    .map_err(|e| Error::internal(format!("WebP encoding failed: {e:?}")))?;
  let mut out = try_with_capacity(memory.len(), "WebP output buffer")?;
  out.extend_from_slice(&memory);
  Ok(out)
}
