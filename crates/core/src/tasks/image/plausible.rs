//! Refuses, before decoding, a file too small to hold the pixels it claims.
//!
//! A header can claim 16383x16383 pixels (under the default pixel limit) in a
//! 35-byte file. Some decoders allocate and fill buffers for the whole claim
//! before they find out the data is missing (the GIF decoder wrote a 256 MB
//! index buffer for such a file). Every format has a best possible
//! compression ratio, so a file shorter than "claimed pixels / best ratio" is
//! truncated or corrupt, whatever its header says. The floors below are the
//! real minimum sizes of each format's coded data (derived in each function),
//! so a legitimate image, however compressible, always passes; a file that
//! passes can make the decoder touch memory only in proportion to its size.
//!
//! Two codings have no useful floor and are not checked: WebP lossless (a
//! prefix code with a single symbol costs zero bits, so a solid image of any
//! size fits in a few bytes) and arithmetic-coded JPEG (its adaptive coder
//! spends a tiny fraction of a bit on a near-certain decision).

use super::header::Header;
use super::Format;
use crate::error::{Error, Result};

/// Fails with `ERR_CORRUPT_INPUT` when `data` is shorter than the smallest
/// file that could hold the image its header describes.
pub fn check(data: &[u8], header: &Header) -> Result<()> {
  let Some(floor) = min_bytes(data, header.format) else { return Ok(()) };
  if (data.len() as u64) < floor.bytes {
    return Err(Error::corrupt(format!(
      "{} claims {}x{} pixels in {} bytes, but {} needs at least {} bytes for that ({}): the file is truncated or corrupt",
      header.format.name(),
      floor.width,
      floor.height,
      data.len(),
      header.format.name(),
      floor.bytes,
      floor.why
    )));
  }
  Ok(())
}

/// The smallest possible file for the coded image, and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
  /// Size of the coded image the floor is for (a GIF frame or WebP
  /// bitstream may differ from the header's screen or canvas).
  pub width: u32,
  pub height: u32,
  pub bytes: u64,
  pub why: &'static str,
}

/// `None` when the coding has no useful floor or the structure needed to
/// compute it is missing (the decoder then fails on its own, cheaply).
pub fn min_bytes(data: &[u8], format: Format) -> Option<Floor> {
  match format {
    Format::Png => png(data),
    Format::Gif => gif(data),
    Format::Jpeg => jpeg(data),
    Format::Webp => webp(data),
    // Never decoded (decode.rs): no floor needed.
    Format::Avif => None,
  }
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
  Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}
fn le16(d: &[u8], at: usize) -> Option<u16> {
  Some(u16::from_le_bytes([*d.get(at)?, *d.get(at + 1)?]))
}
fn be32(d: &[u8], at: usize) -> Option<u32> {
  Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn le32(d: &[u8], at: usize) -> Option<u32> {
  Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// PNG: the zlib stream inflates to at least one filter byte per row plus
/// the packed samples (true of interlaced images too: every row sits in at
/// least one pass row, and rounding up per pass row only adds). Deflate's
/// best case is a 258-byte match coded in 2 bits (1-bit length code, 1-bit
/// distance code), and the first byte must be a literal, so the stream holds
/// at least raw / 1032 bytes.
fn png(data: &[u8]) -> Option<Floor> {
  // Signature (8), IHDR length and type (8), then width, height, bit depth, colour type.
  if data.get(12..16)? != b"IHDR" {
    return None;
  }
  let width = be32(data, 16)?;
  let height = be32(data, 20)?;
  let depth = u64::from(*data.get(24)?);
  let samples = match *data.get(25)? {
    0 | 3 => 1,
    4 => 2,
    2 => 3,
    6 => 4,
    _ => return None,
  };
  // PNG dimensions go up to 2^31 each: saturate rather than wrap (limitInputPixels may be off).
  let bits = u64::from(width).saturating_mul(u64::from(height)).saturating_mul(depth * samples);
  let raw = u64::from(height) + bits / 8;
  Some(Floor { width, height, bytes: raw / 1032, why: "deflate codes at most 1032 bytes of pixel rows per byte" })
}

/// GIF: LZW codes are at most 12 bits wide and a code of `b` bits indexes a
/// table of fewer than 2^b entries, each a string at most as long as the
/// table (4096 pixels for a full table, kept without a clear code). So one
/// bit carries at most 4096/12 pixels: the frame's data is at least
/// pixels * 3 / 8192 bytes. The check is on the first frame, which the
/// decoder reads; the screen may legitimately be larger than its frames.
fn gif(data: &[u8]) -> Option<Floor> {
  let flags = *data.get(10)?;
  let mut pos = 13usize;
  if flags & 0x80 != 0 {
    pos += 3 << ((flags & 7) + 1);
  }
  loop {
    match *data.get(pos)? {
      // Extension: label, then sub-blocks up to a zero length.
      0x21 => {
        pos += 2;
        loop {
          let len = usize::from(*data.get(pos)?);
          pos += 1 + len;
          if len == 0 {
            break;
          }
        }
      }
      0x2C => {
        let width = u32::from(le16(data, pos + 5)?);
        let height = u32::from(le16(data, pos + 7)?);
        let pixels = u64::from(width) * u64::from(height);
        return Some(Floor { width, height, bytes: pixels * 3 / 8192, why: "LZW codes at most 2730 pixels per byte" });
      }
      _ => return None,
    }
  }
}

/// JPEG (Huffman coding, sequential or progressive): a file needs at least
/// one scan, and every block of a component costs at least one bit in the
/// first scan that codes it (a DC difference code is one bit or more; an AC
/// scan before the DC scan, or data ending early, is a libjpeg warning, which
/// rusque treats as fatal). The floor is therefore one bit per 8x8 block of
/// the component with the fewest blocks (a subsampled chroma plane).
fn jpeg(data: &[u8]) -> Option<Floor> {
  let mut pos = 2usize;
  loop {
    if *data.get(pos)? != 0xFF {
      return None;
    }
    while *data.get(pos)? == 0xFF {
      pos += 1;
    }
    let marker = *data.get(pos)?;
    pos += 1;
    match marker {
      0xD8 | 0x01 | 0xD0..=0xD7 => continue,
      0xD9 | 0xDA => return None,
      _ => {}
    }
    let len = usize::from(be16(data, pos)?);
    match marker {
      // Huffman-coded frames: baseline, extended, progressive.
      0xC0..=0xC2 => return jpeg_frame(data.get(pos + 2..pos + len)?),
      // Arithmetic coding (and the frame types libjpeg refuses): no floor.
      0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return None,
      _ => {}
    }
    if len < 2 {
      return None;
    }
    pos += len;
  }
}

fn jpeg_frame(sof: &[u8]) -> Option<Floor> {
  let height = u32::from(be16(sof, 1)?);
  let width = u32::from(be16(sof, 3)?);
  let count = usize::from(*sof.get(5)?);
  let factors: Vec<(u32, u32)> = (0..count)
    .map(|i| sof.get(6 + i * 3 + 1).map(|&s| (u32::from(s >> 4).max(1), u32::from(s & 15).max(1))))
    .collect::<Option<_>>()?;
  let hmax = factors.iter().map(|f| f.0).max()?;
  let vmax = factors.iter().map(|f| f.1).max()?;
  let blocks = factors
    .iter()
    .map(|&(h, v)| {
      let w = (u64::from(width) * u64::from(h)).div_ceil(u64::from(hmax));
      let hh = (u64::from(height) * u64::from(v)).div_ceil(u64::from(vmax));
      w.div_ceil(8) * hh.div_ceil(8)
    })
    .min()?;
  Some(Floor { width, height, bytes: blocks / 8, why: "Huffman coding spends at least one bit per 8x8 block" })
}

/// WebP lossy (VP8 key frame): every 16x16 macroblock codes its luma and
/// chroma prediction modes with fixed probabilities, at least 3.4 bits
/// between them (a skipped macroblock codes no coefficients). The floor
/// counts one bit per macroblock, a wide margin. Lossless (VP8L) has none.
fn webp(data: &[u8]) -> Option<Floor> {
  let mut pos = 12usize;
  let mut end = data.len();
  loop {
    let fourcc = data.get(pos..pos + 4)?;
    let size = le32(data, pos + 4)? as usize;
    let body = pos + 8;
    match fourcc {
      b"VP8 " => {
        let vp8 = data.get(body..(body + size).min(data.len()))?;
        if vp8.get(3..6)? != [0x9D, 0x01, 0x2A] {
          return None;
        }
        let width = u32::from(le16(vp8, 6)? & 0x3FFF);
        let height = u32::from(le16(vp8, 8)? & 0x3FFF);
        let macroblocks = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
        return Some(Floor { width, height, bytes: macroblocks / 8, why: "VP8 spends over one bit per 16x16 macroblock" });
      }
      b"VP8L" => return None,
      // An animation frame: a 16-byte frame header, then the frame's chunks.
      b"ANMF" => {
        end = (body + size).min(data.len());
        pos = body + 16;
        continue;
      }
      _ => {}
    }
    pos = body.checked_add(size)?.checked_add(size & 1)?;
    if pos >= end {
      return None;
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::error::Code;
  use crate::tasks::image::header;

  fn floor(data: &[u8]) -> Option<Floor> {
    min_bytes(data, header::read(data).unwrap().format)
  }

  fn gif(w: u16, h: u16, frame: (u16, u16)) -> Vec<u8> {
    let mut d = b"GIF89a".to_vec();
    d.extend_from_slice(&w.to_le_bytes());
    d.extend_from_slice(&h.to_le_bytes());
    d.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 255, 255, 255]);
    // A graphic control extension before the frame, as most GIFs have.
    d.extend_from_slice(&[0x21, 0xF9, 4, 0, 0, 0, 0, 0]);
    d.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
    d.extend_from_slice(&frame.0.to_le_bytes());
    d.extend_from_slice(&frame.1.to_le_bytes());
    d.extend_from_slice(&[0, 2, 2, 0x4C, 0x01, 0, 0x3B]);
    d
  }

  #[test]
  fn gif_floor_is_the_first_frame_over_the_lzw_ratio() {
    let f = floor(&gif(16383, 16383, (16383, 16383))).unwrap();
    assert_eq!((f.width, f.height, f.bytes), (16383, 16383, 16383 * 16383 * 3 / 8192));
    let bomb = gif(16383, 16383, (16383, 16383));
    let e = check(&bomb, &header::read(&bomb).unwrap()).unwrap_err();
    assert_eq!(e.code, Code::CorruptInput);
    assert!(e.message.contains("16383x16383") && e.message.contains("98292"), "{e}");
    // A small frame on a large screen is a valid GIF: the floor follows the frame.
    let small = gif(16383, 16383, (1, 1));
    assert_eq!(floor(&small).unwrap().bytes, 0);
    assert!(check(&small, &header::read(&small).unwrap()).is_ok());
  }

  /// The most compressed solid GIF LZW allows: after one literal, each code
  /// names the newest entry (one pixel longer than the last); once the table
  /// is full, it is kept (no clear code) and its longest string, 4091 pixels,
  /// is sent again and again in 12-bit codes.
  fn densest_gif(width: u16, height: u16) -> Vec<u8> {
    densest_gif_on_screen(width, height, (width, height))
  }

  fn densest_gif_on_screen(width: u16, height: u16, screen: (u16, u16)) -> Vec<u8> {
    let mut bits: Vec<(u32, u32)> = vec![(4, 3)];
    let (mut w, mut next, mut left, mut j) = (3u32, 6u32, u64::from(width) * u64::from(height), 0u64);
    while left > 0 {
      j += 1;
      let longest = if j == 1 { 1 } else { j.min(4091) };
      let len = left.min(longest);
      bits.push((if len == 1 { 0 } else { len as u32 + 4 }, w));
      left -= len;
      if j >= 2 && next < 4096 {
        next += 1;
      }
      if next == 1 << w && w < 12 {
        w += 1;
      }
    }
    bits.push((5, w));
    let (mut bytes, mut acc, mut n) = (Vec::new(), 0u64, 0u32);
    for (code, width) in bits {
      acc |= u64::from(code) << n;
      n += width;
      while n >= 8 {
        bytes.push(acc as u8);
        acc >>= 8;
        n -= 8;
      }
    }
    if n > 0 {
      bytes.push(acc as u8);
    }
    let mut d = b"GIF89a".to_vec();
    d.extend_from_slice(&screen.0.to_le_bytes());
    d.extend_from_slice(&screen.1.to_le_bytes());
    d.extend_from_slice(&[0x80, 0, 0, 200, 100, 50, 0, 0, 0, 0x2C, 0, 0, 0, 0]);
    d.extend_from_slice(&width.to_le_bytes());
    d.extend_from_slice(&height.to_le_bytes());
    d.extend_from_slice(&[0, 2]);
    for block in bytes.chunks(255) {
      d.push(block.len() as u8);
      d.extend_from_slice(block);
    }
    d.extend_from_slice(&[0, 0x3B]);
    d
  }

  #[test]
  fn densest_possible_gif_passes_and_decodes() {
    use crate::tasks::image::{resize, ResizeOptions};
    use crate::Cancel;
    // It is a valid GIF: rusque decodes it to the solid colour.
    let gif = densest_gif(3000, 2000);
    let opts = ResizeOptions { width: Some(4), format: Some(Format::Png), ..ResizeOptions::default() };
    let png = resize(&gif, &opts, &Cancel::never()).unwrap();
    let img = ::image::load_from_memory(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (4, 3));
    assert!(img.pixels().all(|p| p.0 == [200, 100, 50]), "{:?}", img.get_pixel(0, 0));
    // At the largest size the default limit allows, it is within 4% of the floor (the table
    // takes a while to fill; sub-block lengths add 0.4%), and above it.
    let big = densest_gif(16383, 16383);
    let f = floor(&big).unwrap();
    assert!(check(&big, &header::read(&big).unwrap()).is_ok());
    assert!((big.len() as u64) < f.bytes * 104 / 100, "{} bytes, floor {}", big.len(), f.bytes);
    // One byte in a hundred missing from its data: no longer enough for the pixels.
    let mut short = big[..f.bytes as usize * 99 / 100].to_vec();
    short.extend_from_slice(&[0, 0x3B]);
    assert_eq!(check(&short, &header::read(&short).unwrap()).unwrap_err().code, Code::CorruptInput);
  }

  #[test]
  fn frame_larger_than_its_screen_with_the_data_to_match_meets_the_decode_budget() {
    use crate::tasks::image::{resize, ResizeOptions};
    use crate::Cancel;
    // Enough data for a 5000x5000 frame passes the floor; the frame is far
    // larger than the 16x12 screen the header (and the pixel limit) saw, so
    // the decoder's allocation budget refuses it.
    let gif = densest_gif_on_screen(5000, 5000, (16, 12));
    assert!(check(&gif, &header::read(&gif).unwrap()).is_ok());
    let e = resize(&gif, &ResizeOptions { width: Some(8), ..ResizeOptions::default() }, &Cancel::never()).unwrap_err();
    assert_eq!(e.code, Code::LimitExceeded, "{e}");
  }

  #[test]
  fn png_floor_counts_bits_per_pixel() {
    let ihdr = |w: u32, h: u32, depth: u8, colour: u8| {
      let mut d = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
      d.extend_from_slice(&w.to_be_bytes());
      d.extend_from_slice(&h.to_be_bytes());
      d.extend_from_slice(&[depth, colour, 0, 0, 0]);
      d.extend_from_slice(&[0; 4]);
      d
    };
    assert_eq!(min_bytes(&ihdr(16000, 16000, 1, 0), Format::Png).unwrap().bytes, (16000 + 16000 * 2000) / 1032);
    assert_eq!(min_bytes(&ihdr(1000, 1000, 8, 6), Format::Png).unwrap().bytes, (1000 + 4_000_000) / 1032);
    assert_eq!(min_bytes(&ihdr(1000, 1000, 16, 2), Format::Png).unwrap().bytes, (1000 + 6_000_000) / 1032);
  }

  #[test]
  fn jpeg_floor_uses_the_smallest_plane_and_skips_arithmetic_coding() {
    // 4:2:0: chroma planes have a quarter of the luma blocks.
    let sof = |marker: u8| {
      let mut d = vec![0xFF, 0xD8, 0xFF, 0xFE, 0, 4, b'h', b'i', 0xFF, marker, 0, 17, 8];
      d.extend_from_slice(&16000u16.to_be_bytes());
      d.extend_from_slice(&16000u16.to_be_bytes());
      d.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
      d
    };
    assert_eq!(floor(&sof(0xC0)).unwrap().bytes, 1000 * 1000 / 8);
    assert_eq!(floor(&sof(0xC2)).unwrap().bytes, 1000 * 1000 / 8);
    assert_eq!(floor(&sof(0xCA)), None);
  }
}
