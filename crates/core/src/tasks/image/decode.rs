//! Decoding to 8-bit RGB or RGBA pixels. JPEG goes through libjpeg-turbo
//! (mozjpeg crate) with DCT-domain downscaling when the target is much
//! smaller than the source; PNG, WebP and GIF go through the `image` crate.

use std::io::Cursor;
use std::os::raw::c_int;

use super::header::{image_format, map_image_error, Header};
use super::Format;
use crate::error::{Error, Result};
use crate::pool::panic_message;

/// Decoded pixels, tightly packed rows of `channels` bytes per pixel.
#[derive(Debug, Clone)]
pub struct Pixels {
  pub data: Vec<u8>,
  pub width: u32,
  pub height: u32,
  /// 3 (RGB) or 4 (RGBA).
  pub channels: u8,
}

/// The limits were checked against the header read before decoding; the
/// decoder reads the size again, and it must agree, so that nothing the
/// decoder allocates rests on a header other than the one checked (a caller
/// of the core that hands over memory it may change). From here on the
/// decoder allocates by its own reading.
pub(super) const CHANGED: &str = "the image's size differs from its header's (were the input's bytes changed while the job ran?)";

/// Decodes `data`, returning the pixels and the embedded ICC profile, if any.
/// `min_size` is the smallest (width, height), in stored (unrotated)
/// orientation, the caller needs; a JPEG decoder may deliver a
/// smaller-than-source image as long as it is at least that large.
/// A file too short for the image it claims fails before any decoder runs.
pub fn decode(data: &[u8], header: &Header, min_size: Option<(u32, u32)>) -> Result<(Pixels, Option<Vec<u8>>)> {
  super::plausible::check(data, header)?;
  match header.format {
    Format::Jpeg => Ok((decode_jpeg(data, header, min_size)?, super::header::jpeg_icc(data))),
    // The colour profile (colr 'prof') is not read yet: pixels are taken as sRGB.
    Format::Avif => Ok((super::avif_decode::decode(data, header)?, None)),
    other => decode_with_image_crate(data, other, header),
  }
}

/// The smallest libjpeg scale numerator (out of 8) among 1, 2, 4 and 8 whose
/// output still covers `min_size`. Only power-of-two scales use the fast
/// reduced-size IDCT paths.
pub fn jpeg_scale_numerator(width: u32, height: u32, min_size: Option<(u32, u32)>) -> u8 {
  let Some((need_w, need_h)) = min_size else { return 8 };
  for num in [1u32, 2, 4] {
    let w = (width * num).div_ceil(8);
    let h = (height * num).div_ceil(8);
    if w >= need_w && h >= need_h {
      return num as u8;
    }
  }
  8
}

/// The size libjpeg decodes a `width`x`height` JPEG to at the scale
/// `jpeg_scale_numerator` picks for `min_size`.
pub fn jpeg_output_size(width: u32, height: u32, min_size: Option<(u32, u32)>) -> (u32, u32) {
  let num = u32::from(jpeg_scale_numerator(width, height, min_size));
  ((width * num).div_ceil(8), (height * num).div_ceil(8))
}

// libjpeg reports fatal errors through error_exit, which must not return:
// unwinding carries the message out to the catch_unwind in decode_jpeg.
// Warnings (corrupt or truncated data that libjpeg would paper over with grey)
// are treated as fatal too, as sharp does with its default failOn: 'warning'.
unsafe extern "C-unwind" fn jpeg_error_exit(cinfo: &mut mozjpeg_sys::jpeg_common_struct) {
  std::panic::resume_unwind(Box::new(jpeg_message(cinfo)));
}

unsafe extern "C-unwind" fn jpeg_emit_message(cinfo: &mut mozjpeg_sys::jpeg_common_struct, level: c_int) {
  if level < 0 {
    std::panic::resume_unwind(Box::new(jpeg_message(cinfo)));
  }
}

unsafe fn jpeg_message(cinfo: &mut mozjpeg_sys::jpeg_common_struct) -> String {
  let Some(err) = cinfo.err.as_ref() else { return "unknown libjpeg error".into() };
  let code = err.msg_code;
  match err.format_message {
    Some(format) => {
      // libjpeg writes into the buffer, but the binding declares it `&[u8; 80]`:
      // call it through the `&mut` signature so the write is not assumed away.
      let format: unsafe extern "C-unwind" fn(&mut mozjpeg_sys::jpeg_common_struct, &mut [u8; 80]) = std::mem::transmute(format);
      let mut buffer = [0u8; 80];
      format(cinfo, &mut buffer);
      let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
      String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
    None => format!("libjpeg error {code}"),
  }
}

fn error_mgr() -> mozjpeg_sys::jpeg_error_mgr {
  unsafe {
    let mut err: mozjpeg_sys::jpeg_error_mgr = std::mem::zeroed();
    mozjpeg_sys::jpeg_std_error(&mut err);
    err.error_exit = Some(jpeg_error_exit);
    err.emit_message = Some(jpeg_emit_message);
    err
  }
}

fn decode_jpeg(data: &[u8], header: &Header, min_size: Option<(u32, u32)>) -> Result<Pixels> {
  let mut rows = JpegRows::start(data, header, min_size)?;
  let (width, height) = (rows.width, rows.height);
  let len = super::limits::buffer_len(width, height, rows.channels)?;
  let mut data = super::limits::try_with_capacity(len, "decoded image")?;
  rows.read(&mut data.spare_capacity_mut()[..len])?;
  // SAFETY: `read` filled all `len` bytes (it fails otherwise).
  unsafe { data.set_len(len) };
  rows.finish()?;
  if rows_are_cmyk(header) {
    data = cmyk_to_rgb(&data);
  }
  Ok(Pixels { data, width, height, channels: 3 })
}

fn rows_are_cmyk(header: &Header) -> bool {
  header.channels == 4
}

/// A JPEG decode under way at the DCT scale that still covers `min_size`,
/// read a band of rows at a time: all at once by `decode`, in bands by the
/// pipelined resize (stream.rs) while another thread resamples the rows
/// already read. RGB rows (CMYK for a CMYK file: `channels` is 4).
pub struct JpegRows<'a> {
  started: mozjpeg::decompress::DecompressStarted<&'a [u8]>,
  pub width: u32,
  pub height: u32,
  /// Bytes per pixel of the rows `read` writes.
  pub channels: u8,
}

/// Runs one libjpeg call, whose errors (and warnings) unwind out of it,
/// turning them into ERR_CORRUPT_INPUT.
fn jpeg_call<T>(f: impl FnOnce() -> std::io::Result<T>) -> Result<T> {
  match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
    Ok(Ok(v)) => Ok(v),
    Ok(Err(io)) => Err(Error::corrupt(format!("JPEG data is corrupt or truncated: {io}"))),
    Err(payload) => Err(Error::corrupt(format!("JPEG data is corrupt or truncated: {}", panic_message(&payload)))),
  }
}

impl<'a> JpegRows<'a> {
  /// Reads the headers and starts decompressing. For a baseline file the
  /// entropy decoding happens row by row in `read`; a progressive one is
  /// decoded whole here.
  pub fn start(data: &'a [u8], header: &Header, min_size: Option<(u32, u32)>) -> Result<Self> {
    let numerator = jpeg_scale_numerator(header.width, header.height, min_size);
    let cmyk = rows_are_cmyk(header);
    let started = jpeg_call(|| {
      let mut d = mozjpeg::Decompress::with_err(error_mgr()).from_mem(data)?;
      if (d.width(), d.height()) != (header.width as usize, header.height as usize) {
        return Err(std::io::Error::other(CHANGED));
      }
      d.scale(numerator);
      d.to_colorspace(if cmyk { mozjpeg::ColorSpace::JCS_CMYK } else { mozjpeg::ColorSpace::JCS_RGB })
    })?;
    let (width, height) = (started.width() as u32, started.height() as u32);
    Ok(JpegRows { started, width, height, channels: if cmyk { 4 } else { 3 } })
  }

  /// Decodes the next `band.len() / (width * channels)` rows into `band`
  /// (a whole number of rows), which is fully written when this returns Ok.
  pub fn read(&mut self, band: &mut [std::mem::MaybeUninit<u8>]) -> Result<()> {
    jpeg_call(|| self.started.read_scanlines_into_uninit::<u8>(band).map(|_| ()))
  }

  /// Ends the decode (libjpeg reads to the end of the image and reports
  /// what it finds wrong there).
  pub fn finish(self) -> Result<()> {
    let started = self.started;
    jpeg_call(|| started.finish())
  }
}

/// Adobe-style (inverted) CMYK, as Photoshop writes it, to RGB.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
  let mut out = Vec::with_capacity(cmyk.len() / 4 * 3);
  for px in cmyk.chunks_exact(4) {
    let k = u32::from(px[3]);
    for &c in &px[..3] {
      out.push(((u32::from(c) * k + 127) / 255) as u8);
    }
  }
  out
}

/// Floor of the decoder's allocation budget, so that small images with large
/// ancillary data (ICC profiles, text chunks) still decode.
const MIN_DECODE_ALLOC: u64 = 64 << 20;

/// What the `image` crate may allocate while decoding. limitInputPixels was
/// checked against the header's size, but the rest of the file can claim far
/// more: a GIF frame of 65535x65535 behind a 16x12 screen made the decoder
/// allocate 17 GB. Sixteen bytes per header pixel covers the decoded image at
/// up to 8 bytes per pixel (16-bit RGBA) and as much again for the decoder.
pub(super) fn decode_limits(header: &Header) -> image::Limits {
  let mut limits = image::Limits::no_limits();
  limits.max_alloc = Some(header.pixels().saturating_mul(16).max(MIN_DECODE_ALLOC));
  limits
}

fn decode_with_image_crate(data: &[u8], format: Format, header: &Header) -> Result<(Pixels, Option<Vec<u8>>)> {
  use image::ImageDecoder;
  let has_alpha = header.has_alpha;
  let mut reader = image::ImageReader::with_format(Cursor::new(data), image_format(format));
  reader.limits(decode_limits(header));
  let mut decoder = reader.into_decoder().map_err(|e| map_image_error(format, e))?;
  if decoder.dimensions() != (header.width, header.height) {
    return Err(Error::corrupt(format!("{} data is corrupt: {CHANGED}", format.name().to_uppercase())));
  }
  let icc = decoder.icc_profile().ok().flatten();
  let img = image::DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(format, e))?;
  let (width, height) = (img.width(), img.height());
  let pixels = if has_alpha || img.color().has_alpha() {
    Pixels { data: img.into_rgba8().into_raw(), width, height, channels: 4 }
  } else {
    Pixels { data: img.into_rgb8().into_raw(), width, height, channels: 3 }
  };
  Ok((pixels, icc))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn scale_numerator_keeps_output_at_least_target() {
    assert_eq!(jpeg_scale_numerator(2725, 2225, Some((720, 588))), 4);
    assert_eq!(jpeg_scale_numerator(2725, 2225, Some((300, 200))), 1);
    assert_eq!(jpeg_scale_numerator(2725, 2225, Some((2000, 10))), 8);
    assert_eq!(jpeg_scale_numerator(2725, 2225, None), 8);
  }

  /// The header a decode is checked against no longer matches the bytes
  /// (the caller changed them in between): refused, not decoded at the new size.
  #[test]
  fn a_size_other_than_the_headers_is_refused() {
    use crate::error::Code;
    use crate::pool::Cancel;
    let pixels = Pixels { data: vec![128; 16 * 12 * 3], width: 16, height: 12, channels: 3 };
    for format in [Format::Jpeg, Format::Png] {
      let bytes = super::super::encode::encode(&pixels, format, &Default::default(), &Cancel::never()).unwrap();
      let header = super::super::header::read(&bytes).unwrap();
      assert!(decode(&bytes, &header, None).is_ok());
      let smaller = Header { width: 8, ..header };
      let err = decode(&bytes, &smaller, None).unwrap_err();
      assert_eq!(err.code, Code::CorruptInput, "{format:?}: {}", err.message);
      assert!(err.message.contains("differs from its header"), "{}", err.message);
    }
  }

  #[test]
  fn cmyk_conversion() {
    assert_eq!(cmyk_to_rgb(&[255, 255, 255, 255, 0, 0, 0, 0]), vec![255, 255, 255, 0, 0, 0]);
  }
}
