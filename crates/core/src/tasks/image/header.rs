//! Header-only reading: format sniffing, dimensions, channels and EXIF
//! orientation, without decoding pixels. Used by `metadata` and by `resize`
//! to enforce the pixel limit before anything large is allocated.

use std::io::Cursor;

use image::ImageDecoder;

use super::Format;
use crate::error::{Code, Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
  pub format: Format,
  /// Stored width, before EXIF orientation is applied (as sharp reports it).
  pub width: u32,
  pub height: u32,
  pub channels: u8,
  pub has_alpha: bool,
  /// EXIF orientation 1-8; 1 when absent or invalid.
  pub orientation: u8,
  /// Frames an animated decode yields (GIF, animated WebP); 1 for a still
  /// image. Counted from the frames the file holds (timing.rs).
  pub frames: u32,
}

impl Header {
  pub fn pixels(&self) -> u64 {
    u64::from(self.width) * u64::from(self.height)
  }

}

pub fn sniff(data: &[u8]) -> Option<Format> {
  if data.len() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF {
    Some(Format::Jpeg)
  } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
    Some(Format::Png)
  } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
    Some(Format::Webp)
  } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
    Some(Format::Gif)
  } else if super::isobmff::is_avif(data) {
    Some(Format::Avif)
  } else {
    None
  }
}

pub fn read(data: &[u8]) -> Result<Header> {
  if data.is_empty() {
    return Err(Error::new(Code::UnsupportedFormat, "input is empty: expected the bytes of a JPEG, PNG, WebP, GIF or AVIF image"));
  }
  let format = sniff(data).ok_or_else(|| {
    Error::new(Code::UnsupportedFormat, "input is not a supported image: expected JPEG, PNG, WebP, GIF or AVIF bytes")
  })?;
  let header = match format {
    Format::Jpeg => read_jpeg(data)?,
    Format::Avif => {
      let h = super::isobmff::read(data)?;
      Header { format, width: h.width, height: h.height, channels: if h.has_alpha { 4 } else { 3 }, has_alpha: h.has_alpha, orientation: h.orientation, frames: 1 }
    }
    Format::Webp => read_with_image_crate(data, format).map_err(|e| webp_canvas_too_large(data).unwrap_or(e))?,
    _ => read_with_image_crate(data, format)?,
  };
  if header.width == 0 || header.height == 0 {
    return Err(Error::corrupt(format!("{} header declares a zero dimension", format.name())));
  }
  Ok(header)
}

pub fn check_limit(header: &Header, limit_input_pixels: u64) -> Result<()> {
  check_frames(header, 1, limit_input_pixels)
}

/// The fewest pixels an animation's frame counts for: each frame costs the
/// encoder about as much as that many pixels however small it is (libwebp
/// took 100 us a frame for 1x1 frames), so 20 bytes of a 1x1 GIF frame
/// cannot buy more than their share of work.
pub const MIN_FRAME_PIXELS: u64 = 128 * 128;

/// An animated decode's limit: every frame's pixels count, as libvips
/// (so sharp) counts the pages it loads, each at least MIN_FRAME_PIXELS.
pub fn check_animation_limit(header: &Header, limit_input_pixels: u64) -> Result<()> {
  check_frames(header, header.frames, limit_input_pixels)
}

fn check_frames(header: &Header, frames: u32, limit_input_pixels: u64) -> Result<()> {
  let per_frame = if frames > 1 { header.pixels().max(MIN_FRAME_PIXELS) } else { header.pixels() };
  let pixels = per_frame.saturating_mul(u64::from(frames));
  if limit_input_pixels == 0 || pixels <= limit_input_pixels {
    return Ok(());
  }
  let (w, h) = (header.width, header.height);
  let (what, or) = if frames > 1 {
    let floor = if header.pixels() < MIN_FRAME_PIXELS { format!(", each frame counted as at least {MIN_FRAME_PIXELS}") } else { String::new() };
    (format!("input animation is {w}x{h} in {frames} frames{floor}"), ", or leave animated off to read the first frame only")
  } else {
    (format!("input image is {w}x{h}"), "")
  };
  Err(Error::new(
    Code::LimitExceeded,
    format!("{what} ({pixels} pixels), over limitInputPixels ({limit_input_pixels}); raise limitInputPixels to accept it{or}"),
  ))
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
  Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// Walks JPEG markers up to the first SOF, collecting EXIF orientation on the
/// way. Every step advances, so a malicious marker chain ends at the data's end.
fn read_jpeg(data: &[u8]) -> Result<Header> {
  let truncated = || Error::corrupt("JPEG data ends before its frame header (SOF): the file is truncated or corrupt");
  let mut pos = 2;
  let mut orientation = 1u8;
  loop {
    // Markers may be padded with any number of 0xFF fill bytes.
    if *data.get(pos).ok_or_else(truncated)? != 0xFF {
      return Err(Error::corrupt(format!("JPEG marker expected at byte {pos}: the file is corrupt")));
    }
    while *data.get(pos).ok_or_else(truncated)? == 0xFF {
      pos += 1;
    }
    let marker = data[pos];
    pos += 1;
    match marker {
      0xD8 | 0x01 | 0xD0..=0xD7 => continue,
      0xD9 | 0xDA => return Err(Error::corrupt("JPEG has no frame header (SOF) before its image data")),
      _ => {}
    }
    let len = usize::from(be16(data, pos).ok_or_else(truncated)?);
    if len < 2 {
      return Err(Error::corrupt("JPEG segment with an invalid length"));
    }
    let segment = data.get(pos + 2..pos + len).ok_or_else(truncated)?;
    match marker {
      0xE1 if segment.starts_with(b"Exif\0\0") => {
        orientation = exif_orientation(&segment[6..]).unwrap_or(1);
      }
      0xC0..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => {
        if segment.len() < 6 {
          return Err(truncated());
        }
        let height = u32::from(u16::from_be_bytes([segment[1], segment[2]]));
        let width = u32::from(u16::from_be_bytes([segment[3], segment[4]]));
        let channels = segment[5];
        if !matches!(channels, 1 | 3 | 4) {
          return Err(Error::new(Code::UnsupportedFormat, format!("JPEG with {channels} components is not supported")));
        }
        return Ok(Header { format: Format::Jpeg, width, height, channels, has_alpha: false, orientation, frames: 1 });
      }
      _ => {}
    }
    pos += len;
  }
}

/// The marker segments of a JPEG before its image data (SOS), as
/// (marker, segment body). Stops at SOS, EOI or the data's end; `malformed`
/// then says whether it stopped at bytes that are not a segment.
pub struct JpegSegments<'a> {
  data: &'a [u8],
  pos: usize,
  pub malformed: bool,
}

pub fn jpeg_segments(data: &[u8]) -> JpegSegments<'_> {
  JpegSegments { data, pos: 2, malformed: false }
}

impl<'a> Iterator for JpegSegments<'a> {
  type Item = (u8, &'a [u8]);

  fn next(&mut self) -> Option<Self::Item> {
    let data = self.data;
    while self.pos + 4 <= data.len() {
      let pos = self.pos;
      if data[pos] != 0xFF {
        self.malformed = true;
        return None;
      }
      let marker = data[pos + 1];
      if marker == 0xFF {
        self.pos += 1;
        continue;
      }
      if matches!(marker, 0xD8 | 0x01 | 0xD0..=0xD7) {
        self.pos += 2;
        continue;
      }
      if marker == 0xDA || marker == 0xD9 {
        return None;
      }
      let Some(segment) = be16(data, pos + 2).map(usize::from).filter(|&l| l >= 2).and_then(|len| data.get(pos + 4..pos + 2 + len)) else {
        self.malformed = true;
        return None;
      };
      self.pos = pos + 4 + segment.len();
      return Some((marker, segment));
    }
    None
  }
}

/// The embedded ICC profile of a JPEG: APP2 "ICC_PROFILE" chunks, in sequence order.
pub fn jpeg_icc(data: &[u8]) -> Option<Vec<u8>> {
  let mut segments = jpeg_segments(data);
  let mut chunks: Vec<(u8, &[u8])> = segments
    .by_ref()
    .filter(|(marker, segment)| *marker == 0xE2 && segment.len() > 14 && segment.starts_with(b"ICC_PROFILE\0"))
    .map(|(_, segment)| (segment[12], &segment[14..]))
    .collect();
  if chunks.is_empty() || segments.malformed {
    return None;
  }
  chunks.sort_by_key(|c| c.0);
  Some(chunks.iter().flat_map(|c| c.1.iter().copied()).collect())
}

/// Reads the Orientation tag (0x0112) from IFD0 of a TIFF-structured EXIF block.
pub fn exif_orientation(tiff: &[u8]) -> Option<u8> {
  let (at, little) = exif_orientation_at(tiff)?;
  let b = tiff.get(at..at + 2)?;
  let value = if little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) };
  (1..=8).contains(&value).then_some(value as u8)
}

/// Where the Orientation tag's value lies in a TIFF-structured EXIF block
/// (its offset, and whether the block is little-endian), for reading it or
/// writing it in place.
pub fn exif_orientation_at(tiff: &[u8]) -> Option<(usize, bool)> {
  let little = match tiff.get(0..2)? {
    b"II" => true,
    b"MM" => false,
    _ => return None,
  };
  let u16_at = |at: usize| -> Option<u16> {
    let b = tiff.get(at..at + 2)?;
    Some(if little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
  };
  let u32_at = |at: usize| -> Option<u32> {
    let b = tiff.get(at..at + 4)?;
    let a = [b[0], b[1], b[2], b[3]];
    Some(if little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
  };
  let ifd = usize::try_from(u32_at(4)?).ok()?;
  let count = usize::from(u16_at(ifd)?);
  for i in 0..count {
    let entry = ifd.checked_add(2 + i * 12)?;
    if u16_at(entry)? == 0x0112 {
      tiff.get(entry + 8..entry + 10)?;
      return Some((entry + 8, little));
    }
  }
  None
}

/// image-webp refuses an extended (VP8X) canvas whose area overflows u32 as a
/// format error; to the caller that is an image over the size limit, not a
/// corrupt file, so say so with the claimed size.
fn webp_canvas_too_large(data: &[u8]) -> Option<Error> {
  if data.get(12..16)? != b"VP8X" {
    return None;
  }
  let d = data.get(24..30)?;
  let width = u64::from(u32::from_le_bytes([d[0], d[1], d[2], 0])) + 1;
  let height = u64::from(u32::from_le_bytes([d[3], d[4], d[5], 0])) + 1;
  (width * height > u64::from(u32::MAX)).then(|| {
    Error::new(
      Code::LimitExceeded,
      format!("WebP canvas is {width}x{height} ({} pixels), over the 2^32 pixels WebP allows", width * height),
    )
  })
}

pub(crate) fn map_image_error(format: Format, e: image::ImageError) -> Error {
  use image::ImageError as E;
  match e {
    E::Limits(l) => Error::new(Code::LimitExceeded, format!("{} image exceeds a decoder limit: {l}", format.name())),
    E::Unsupported(u) => Error::new(Code::UnsupportedFormat, format!("unsupported {} variant: {u}", format.name())),
    E::Decoding(d) => Error::corrupt(format!("{} data is corrupt or truncated: {d}", format.name())),
    E::IoError(io) => Error::corrupt(format!("{} data is corrupt or truncated: {io}", format.name())),
    other => Error::corrupt(format!("{} data could not be read: {other}", format.name())),
  }
}

pub(crate) fn image_format(format: Format) -> image::ImageFormat {
  match format {
    Format::Jpeg => image::ImageFormat::Jpeg,
    Format::Png => image::ImageFormat::Png,
    Format::Webp => image::ImageFormat::WebP,
    Format::Gif => image::ImageFormat::Gif,
    Format::Avif => image::ImageFormat::Avif,
  }
}

fn read_with_image_crate(data: &[u8], format: Format) -> Result<Header> {
  let mut reader = image::ImageReader::with_format(Cursor::new(data), image_format(format));
  // Dimensions are checked against limitInputPixels by the caller; the
  // decoder's own allocation cap would otherwise reject allowed images.
  reader.no_limits();
  let mut decoder = reader.into_decoder().map_err(|e| map_image_error(format, e))?;
  let (width, height) = decoder.dimensions();
  let color = decoder.color_type();
  let orientation = decoder
    .orientation()
    .ok()
    .map(|o| orientation_number(o))
    .unwrap_or(1);
  Ok(Header {
    format,
    width,
    height,
    channels: color.channel_count(),
    has_alpha: color.has_alpha(),
    orientation,
    frames: super::timing::frames(data, format),
  })
}

fn orientation_number(o: image::metadata::Orientation) -> u8 {
  use image::metadata::Orientation as O;
  match o {
    O::NoTransforms => 1,
    O::FlipHorizontal => 2,
    O::Rotate180 => 3,
    O::FlipVertical => 4,
    O::Rotate90FlipH => 5,
    O::Rotate90 => 6,
    O::Rotate270FlipH => 7,
    O::Rotate270 => 8,
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn sniffs_magic_bytes() {
    assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(Format::Png));
    assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
    assert_eq!(sniff(b"GIF89a"), Some(Format::Gif));
    assert_eq!(sniff(b"hello"), None);
  }

  #[test]
  fn empty_and_unknown_inputs_are_unsupported() {
    assert_eq!(read(&[]).unwrap_err().code, Code::UnsupportedFormat);
    assert_eq!(read(b"not an image").unwrap_err().code, Code::UnsupportedFormat);
  }

  #[test]
  fn jpeg_marker_walk_stops_at_end_of_data() {
    // SOI then an endless run of fill bytes and a padding segment: ends with corrupt, not a hang.
    let mut d = vec![0xFF, 0xD8];
    for _ in 0..1000 {
      d.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x02]);
    }
    assert_eq!(read(&d).unwrap_err().code, Code::CorruptInput);
  }

  #[test]
  fn jpeg_header_dimensions_and_orientation() {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    exif.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x06, 0, 0]);
    let mut d = vec![0xFF, 0xD8, 0xFF, 0xE1];
    d.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    d.extend_from_slice(&exif);
    d.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 8, 0x01, 0x2C, 0x02, 0x58, 3]);
    d.extend_from_slice(&[0; 9]);
    let h = read(&d).unwrap();
    assert_eq!((h.width, h.height, h.channels, h.orientation), (600, 300, 3, 6));
  }

  #[test]
  fn webp_canvas_over_u32_area_is_a_limit_error() {
    // RIFF/WEBP with a VP8X chunk claiming a 100000x100000 canvas and nothing after it.
    let mut d = b"RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0\x02\0\0\0".to_vec();
    d.extend_from_slice(&[0x9F, 0x86, 0x01, 0x9F, 0x86, 0x01]);
    let e = read(&d).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded, "{e}");
    assert!(e.message.contains("100000x100000"), "{e}");
  }

  #[test]
  fn limit_is_checked_from_header() {
    let h = Header { format: Format::Png, width: 100_000, height: 100_000, channels: 3, has_alpha: false, orientation: 1, frames: 1 };
    assert_eq!(check_limit(&h, 268_402_689).unwrap_err().code, Code::LimitExceeded);
    assert!(check_limit(&h, 0).is_ok());
  }
}
