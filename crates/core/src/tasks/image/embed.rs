//! Metadata kept from the input (sharp's `keepExif`, `keepIccProfile`,
//! `keepMetadata`), written into the encoded output as each container
//! carries it: JPEG APP1 (`Exif\0\0`) and APP2 (`ICC_PROFILE`) segments, PNG
//! `iCCP` and `eXIf` chunks, WebP `ICCP` and `EXIF` chunks under a `VP8X`
//! header. The encoders stay unaware of metadata: this works on their bytes.

use super::header::exif_orientation_at;
use super::Format;
use crate::error::{Error, Result};

/// What the output carries from the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
  /// A TIFF-structured EXIF block (no `Exif\0\0` prefix).
  pub exif: Option<Vec<u8>>,
  pub icc: Option<Vec<u8>>,
}

impl Kept {
  /// The EXIF block of `exif` (as metadata reads it: a JPEG's carries the
  /// `Exif\0\0` prefix), with its Orientation set to 1 when the pixels were
  /// turned upright, so that viewers do not turn them again.
  pub fn exif_from(exif: &[u8], oriented: bool) -> Vec<u8> {
    let mut tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif).to_vec();
    if oriented {
      if let Some((at, little)) = exif_orientation_at(&tiff) {
        tiff[at..at + 2].copy_from_slice(&if little { 1u16.to_le_bytes() } else { 1u16.to_be_bytes() });
      }
    }
    tiff
  }

  pub fn is_empty(&self) -> bool {
    self.exif.is_none() && self.icc.is_none()
  }
}

/// Refuses keeping metadata in a format this file cannot write it into (AVIF
/// and GIF for now), before anything is decoded.
pub fn check(format: Format, keep_exif: bool, keep_icc_profile: bool) -> Result<()> {
  if matches!(format, Format::Avif | Format::Gif) && (keep_exif || keep_icc_profile) {
    return Err(Error::invalid(format!(
      "keepExif, keepIccProfile and keepMetadata are not supported for {} output yet: use JPEG, PNG or WebP, or leave them off",
      if format == Format::Avif { "AVIF" } else { "GIF" }
    )));
  }
  Ok(())
}

/// `encoded` (a whole file of `format`) with `kept` written into it.
pub fn embed(encoded: Vec<u8>, format: Format, kept: &Kept) -> Result<Vec<u8>> {
  if kept.is_empty() {
    return Ok(encoded);
  }
  match format {
    Format::Jpeg => jpeg(&encoded, kept),
    Format::Png => png(&encoded, kept),
    Format::Webp => webp(&encoded, kept),
    Format::Avif | Format::Gif => check(format, kept.exif.is_some(), kept.icc.is_some()).map(|()| encoded),
  }
}

/// The largest payload of one JPEG segment (its length field counts itself).
const SEGMENT_PAYLOAD: usize = 65_533;
const ICC_JPEG_TAG: &[u8] = b"ICC_PROFILE\0";

fn jpeg(encoded: &[u8], kept: &Kept) -> Result<Vec<u8>> {
  if !encoded.starts_with(&[0xFF, 0xD8]) {
    return Err(Error::internal("the JPEG encoder wrote no SOI marker"));
  }
  // After SOI and a JFIF APP0, as libjpeg places markers written after it.
  let mut at = 2;
  if encoded.get(2..4) == Some(&[0xFF, 0xE0]) {
    at += 2 + usize::from(u16::from_be_bytes([encoded[4], encoded[5]]));
  }
  let mut out = Vec::with_capacity(encoded.len() + kept.exif.as_ref().map_or(0, Vec::len) + kept.icc.as_ref().map_or(0, Vec::len) + 64);
  out.extend_from_slice(&encoded[..at]);
  let mut segment = |marker: u8, parts: &[&[u8]]| {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((len + 2) as u16).to_be_bytes());
    for p in parts {
      out.extend_from_slice(p);
    }
  };
  if let Some(exif) = kept.exif.as_deref().filter(|e| e.len() + 6 <= SEGMENT_PAYLOAD) {
    segment(0xE1, &[b"Exif\0\0", exif]);
  }
  if let Some(icc) = kept.icc.as_deref() {
    // The ICC specification's chunking: sequence numbers from 1, and the count.
    let chunks: Vec<&[u8]> = icc.chunks(SEGMENT_PAYLOAD - ICC_JPEG_TAG.len() - 2).collect();
    let count = u8::try_from(chunks.len()).map_err(|_| Error::invalid("the ICC profile is too large to embed in a JPEG (over 255 segments)"))?;
    for (i, chunk) in chunks.iter().enumerate() {
      segment(0xE2, &[ICC_JPEG_TAG, &[i as u8 + 1, count], chunk]);
    }
  }
  out.extend_from_slice(&encoded[at..]);
  Ok(out)
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
  out.extend_from_slice(&(data.len() as u32).to_be_bytes());
  out.extend_from_slice(kind);
  out.extend_from_slice(data);
  let mut crc = crc32fast::Hasher::new();
  crc.update(kind);
  crc.update(data);
  out.extend_from_slice(&crc.finalize().to_be_bytes());
}

fn png(encoded: &[u8], kept: &Kept) -> Result<Vec<u8>> {
  // Signature (8) and IHDR (4 length + 4 type + 13 data + 4 CRC).
  const AFTER_IHDR: usize = 33;
  if encoded.len() < AFTER_IHDR || &encoded[12..16] != b"IHDR" {
    return Err(Error::internal("the PNG encoder wrote no IHDR first"));
  }
  let mut out = Vec::with_capacity(encoded.len() + kept.exif.as_ref().map_or(0, Vec::len) + kept.icc.as_ref().map_or(0, Vec::len) + 64);
  out.extend_from_slice(&encoded[..AFTER_IHDR]);
  if let Some(icc) = kept.icc.as_deref() {
    // Name, its NUL, compression method 0 (zlib), the compressed profile.
    let mut body = b"icc\0\0".to_vec();
    body.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(icc, 6));
    png_chunk(&mut out, b"iCCP", &body);
  }
  if let Some(exif) = kept.exif.as_deref() {
    png_chunk(&mut out, b"eXIf", exif);
  }
  out.extend_from_slice(&encoded[AFTER_IHDR..]);
  Ok(out)
}

/// VP8X flags.
const WEBP_ICC: u8 = 0x20;
const WEBP_ALPHA: u8 = 0x10;
const WEBP_EXIF: u8 = 0x08;

fn webp(encoded: &[u8], kept: &Kept) -> Result<Vec<u8>> {
  let bad = || Error::internal("the WebP encoder wrote an unexpected container");
  if encoded.len() < 20 || &encoded[..4] != b"RIFF" || &encoded[8..12] != b"WEBP" {
    return Err(bad());
  }
  // The encoder's chunks, and what the VP8X header must say of them.
  let mut chunks: Vec<(&[u8], &[u8])> = Vec::new();
  let mut at = 12;
  while at + 8 <= encoded.len() {
    let kind = &encoded[at..at + 4];
    let len = u32::from_le_bytes([encoded[at + 4], encoded[at + 5], encoded[at + 6], encoded[at + 7]]) as usize;
    let body = encoded.get(at + 8..at + 8 + len).ok_or_else(bad)?;
    chunks.push((kind, body));
    at += 8 + len + (len & 1);
  }
  let (mut flags, mut size) = (0u8, None);
  for (kind, body) in &chunks {
    match *kind {
      b"VP8X" if body.len() >= 10 => {
        flags |= body[0] & WEBP_ALPHA;
        size = Some((read_u24(&body[4..7]) + 1, read_u24(&body[7..10]) + 1));
      }
      b"VP8L" if body.len() >= 5 && body[0] == 0x2F => {
        let bits = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
        size = size.or(Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)));
        if bits >> 28 & 1 == 1 {
          flags |= WEBP_ALPHA;
        }
      }
      b"VP8 " if body.len() >= 10 => {
        size = size.or(Some((u32::from(u16::from_le_bytes([body[6], body[7]]) & 0x3FFF), u32::from(u16::from_le_bytes([body[8], body[9]]) & 0x3FFF))));
      }
      b"ALPH" => flags |= WEBP_ALPHA,
      _ => {}
    }
  }
  let (w, h) = size.ok_or_else(bad)?;
  if kept.icc.is_some() {
    flags |= WEBP_ICC;
  }
  if kept.exif.is_some() {
    flags |= WEBP_EXIF;
  }
  let mut body = Vec::with_capacity(encoded.len() + kept.exif.as_ref().map_or(0, Vec::len) + kept.icc.as_ref().map_or(0, Vec::len) + 64);
  let mut chunk = |kind: &[u8], data: &[u8]| {
    body.extend_from_slice(kind);
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    if data.len() & 1 == 1 {
      body.push(0);
    }
  };
  let mut vp8x = vec![flags, 0, 0, 0];
  vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
  vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
  chunk(b"VP8X", &vp8x);
  if let Some(icc) = kept.icc.as_deref() {
    chunk(b"ICCP", icc);
  }
  for (kind, data) in chunks.iter().filter(|(k, _)| *k != b"VP8X") {
    chunk(kind, data);
  }
  if let Some(exif) = kept.exif.as_deref() {
    chunk(b"EXIF", exif);
  }
  let mut out = Vec::with_capacity(body.len() + 12);
  out.extend_from_slice(b"RIFF");
  out.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
  out.extend_from_slice(b"WEBP");
  out.extend_from_slice(&body);
  Ok(out)
}

fn read_u24(b: &[u8]) -> u32 {
  u32::from_le_bytes([b[0], b[1], b[2], 0])
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::pool::Cancel;
  use crate::tasks::image::decode::Pixels;
  use crate::tasks::image::{encode, meta, Encode};

  /// A big-endian TIFF block whose IFD0 holds one entry: Orientation = 6.
  fn tiff() -> Vec<u8> {
    let mut t = b"MM\0\x2A\0\0\0\x08\0\x01".to_vec();
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    t.extend_from_slice(&[0, 0, 0, 0]);
    t
  }

  #[test]
  fn orientation_is_reset_only_when_oriented() {
    let with_prefix = [b"Exif\0\0".as_slice(), &tiff()].concat();
    assert_eq!(crate::tasks::image::header::exif_orientation(&Kept::exif_from(&with_prefix, true)), Some(1));
    assert_eq!(crate::tasks::image::header::exif_orientation(&Kept::exif_from(&with_prefix, false)), Some(6));
  }

  #[test]
  fn every_format_carries_both_blocks_where_metadata_finds_them() {
    let icc: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect(); // two JPEG segments
    let kept = Kept { exif: Some(tiff()), icc: Some(icc.clone()) };
    for (channels, format) in [(3, Format::Jpeg), (3, Format::Png), (4, Format::Png), (3, Format::Webp), (4, Format::Webp)] {
      let img = Pixels { data: vec![90; 16 * 8 * channels], width: 16, height: 8, channels: channels as u8 };
      let settings = Encode { lossless: channels == 4, ..Encode::default() };
      let encoded = encode::encode(&img, format, &settings, &Cancel::never()).unwrap();
      let out = embed(encoded, format, &kept).unwrap();
      let h = crate::tasks::image::header::read(&out).unwrap_or_else(|e| panic!("{format:?} {channels}: {e}"));
      assert_eq!((h.width, h.height, h.has_alpha), (16, 8, channels == 4), "{format:?} {channels}");
      let d = meta::details(&out, format);
      assert_eq!(d.icc.as_deref(), Some(icc.as_slice()), "{format:?} {channels}: ICC");
      let exif = d.exif.unwrap_or_else(|| panic!("{format:?}: no EXIF"));
      assert_eq!(exif.strip_prefix(b"Exif\0\0").unwrap_or(&exif), tiff().as_slice(), "{format:?}");
      crate::tasks::image::decode::decode(&out, &h, None).unwrap_or_else(|e| panic!("{format:?} {channels} decodes: {e}"));
    }
  }
}
