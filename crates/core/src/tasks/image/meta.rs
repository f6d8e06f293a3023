//! What `metadata()` reports beyond the basic header, still without decoding
//! pixels: embedded EXIF, ICC and XMP blocks, density, progressive/interlaced
//! storage, JPEG chroma subsampling, and for animations the frame count,
//! per-frame delays and loop count. Names and meanings follow sharp's
//! `metadata()`. Every walk advances through the data and stops at its end,
//! so a hostile file costs at most one pass over its bytes; a structure that
//! ends early reports what was read up to there.

use std::io::Cursor;

use image::ImageDecoder;

use super::Format;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
  /// Raw EXIF block (for JPEG with its `Exif\0\0` prefix, as sharp gives it).
  pub exif: Option<Vec<u8>>,
  pub icc: Option<Vec<u8>>,
  pub xmp: Option<Vec<u8>>,
  /// Pixels per inch; JPEG and PNG report 72 when the file does not say.
  pub density: Option<f64>,
  /// Progressive JPEG or interlaced PNG.
  pub is_progressive: bool,
  /// Frames of an animated (or multi-frame) GIF, PNG or WebP.
  pub pages: Option<u32>,
  /// Per-frame delay in milliseconds, one entry per page.
  pub delay: Option<Vec<u32>>,
  /// Times to play an animation; 0 means forever.
  pub loop_count: Option<u32>,
  /// JPEG only: '4:2:0', '4:4:4', ... ('4:4:4:4' for CMYK).
  pub chroma_subsampling: Option<String>,
}

/// The details of an image whose header already read as `format`.
pub fn details(data: &[u8], format: Format) -> Details {
  let mut d = match format {
    Format::Jpeg => jpeg(data),
    Format::Png => png(data),
    Format::Webp => webp(data),
    Format::Gif => gif(data),
    // The header's size and alpha are all that is read (isobmff.rs).
    Format::Avif => Details::default(),
  };
  // As libvips (so sharp) does: an EXIF resolution, when complete, wins
  // over JFIF's and pHYs's (WebP's is ignored: sharp reports no density).
  if let Some(dpi) = d.exif.as_deref().filter(|_| format != Format::Webp).and_then(exif_density) {
    d.density = Some(dpi);
  }
  d
}

/// Pixels per inch from EXIF IFD0's XResolution and ResolutionUnit (both
/// needed): unit 2 is inches, 3 centimetres, 1 "none" (read as per mm, as
/// libvips does). Rounded as sharp rounds; None when 25 or less (sharp
/// reports no density then).
fn exif_density(exif: &[u8]) -> Option<f64> {
  let t = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
  let le = match t.get(..4)? {
    b"II*\0" => true,
    b"MM\0*" => false,
    _ => return None,
  };
  let u16_at = |at: usize| if le { le16(t, at) } else { be16(t, at) };
  let u32_at = |at: usize| if le { le32(t, at) } else { be32(t, at) };
  let ifd = u32_at(4)? as usize;
  let (mut xres, mut unit) = (None, None);
  for i in 0..usize::from(u16_at(ifd)?) {
    let e = ifd + 2 + 12 * i;
    match (u16_at(e)?, u16_at(e + 2)?) {
      (0x011A, 5) => {
        let at = u32_at(e + 8)? as usize;
        let (num, den) = (u32_at(at)?, u32_at(at + 4)?);
        xres = (den != 0).then(|| f64::from(num) / f64::from(den));
      }
      (0x0128, 3) => unit = u16_at(e + 8),
      _ => {}
    }
  }
  let dpi = match unit? {
    1 => xres? * 25.4,
    2 => xres?,
    3 => xres? * 2.54,
    _ => return None,
  }
  .round();
  (dpi > 25.0).then_some(dpi)
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
  Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
  Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
  Some(u16::from_le_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
  Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

const XMP_JPEG: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

fn jpeg(data: &[u8]) -> Details {
  let mut d = Details { density: Some(72.0), ..Details::default() };
  for (marker, seg) in super::header::jpeg_segments(data) {
    match marker {
      0xE0 if seg.starts_with(b"JFIF\0") && seg.len() >= 12 => {
        let x = f64::from(be16(seg, 8).unwrap_or(0));
        match seg[7] {
          1 if x > 0.0 => d.density = Some(x),
          2 if x > 0.0 => d.density = Some((x * 2.54).round()),
          _ => {}
        }
      }
      0xE1 if seg.starts_with(b"Exif\0\0") && d.exif.is_none() => d.exif = Some(seg.to_vec()),
      0xE1 if seg.starts_with(XMP_JPEG) && d.xmp.is_none() => d.xmp = Some(seg[XMP_JPEG.len()..].to_vec()),
      0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
        d.is_progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
        d.chroma_subsampling = subsampling(seg);
      }
      _ => {}
    }
  }
  d.icc = super::header::jpeg_icc(data);
  d
}

/// sharp's chroma subsampling name from a SOF segment's component table.
fn subsampling(sof: &[u8]) -> Option<String> {
  let n = usize::from(*sof.get(5)?);
  let factors: Vec<(u8, u8)> = (0..n).map(|i| sof.get(6 + 3 * i + 1).map(|b| (b >> 4, b & 15))).collect::<Option<_>>()?;
  if n < 3 {
    return None;
  }
  let (yh, yv) = factors[0];
  let (ch, cv) = factors[1];
  if ch == 0 || cv == 0 {
    return None;
  }
  let name = match (yh / ch, yv / cv) {
    (1, 1) => "4:4:4",
    (2, 1) => "4:2:2",
    (2, 2) => "4:2:0",
    (1, 2) => "4:4:0",
    (4, 1) => "4:1:1",
    (4, 2) => "4:1:0",
    _ => return None,
  };
  Some(if n == 4 { format!("{name}:4") } else { name.to_string() })
}

const XMP_PNG: &[u8] = b"XML:com.adobe.xmp\0";

/// Most bytes an XMP packet may inflate to: a bomb stops here (no XMP).
const MAX_XMP: usize = 16 << 20;

fn inflate(z: &[u8]) -> Option<Vec<u8>> {
  miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(z, MAX_XMP).ok()
}

fn png(data: &[u8]) -> Details {
  let mut d = Details { density: Some(72.0), ..Details::default() };
  let mut pos = 8;
  let mut frames = 0u32;
  let mut delays = Vec::new();
  let mut animated = false;
  while let (Some(len), Some(kind)) = (be32(data, pos), data.get(pos + 4..pos + 8)) {
    let Some(body) = data.get(pos + 8..pos + 8 + len as usize) else { break };
    match kind {
      b"IHDR" => d.is_progressive = body.get(12) == Some(&1),
      b"pHYs" if body.get(8) == Some(&1) => {
        if let Some(ppm) = be32(body, 0).filter(|&p| p > 0) {
          d.density = Some((f64::from(ppm) * 0.0254).round());
        }
      }
      b"eXIf" if d.exif.is_none() => d.exif = Some(body.to_vec()),
      b"iTXt" if d.xmp.is_none() && body.starts_with(XMP_PNG) => {
        // keyword\0, compression flag, method, language\0, translated keyword\0, text.
        let rest = &body[XMP_PNG.len()..];
        let mut nul = rest.iter().enumerate().skip(2).filter(|(_, &b)| b == 0).map(|(i, _)| i);
        if let (Some(_), Some(end), Some(&flag)) = (nul.next(), nul.next(), rest.first()) {
          d.xmp = if flag == 0 { Some(rest[end + 1..].to_vec()) } else { inflate(&rest[end + 1..]) };
        }
      }
      // libvips (so sharp) writes XMP as zTXt: keyword\0, method, zlib data.
      b"zTXt" if d.xmp.is_none() && body.starts_with(XMP_PNG) => d.xmp = body.get(XMP_PNG.len() + 1..).and_then(inflate),
      b"acTL" => {
        animated = true;
        d.loop_count = be32(body, 4);
      }
      b"fcTL" => {
        frames += 1;
        let num = be16(body, 20).unwrap_or(0);
        let den = match be16(body, 22).unwrap_or(0) {
          0 => 100,
          n => n,
        };
        delays.push((u32::from(num) * 1000 + u32::from(den) / 2) / u32::from(den));
      }
      b"IEND" => break,
      _ => {}
    }
    pos += 12 + len as usize;
  }
  if animated {
    d.pages = Some(frames);
    d.delay = Some(delays);
  }
  if let Ok(mut decoder) = image::codecs::png::PngDecoder::new(Cursor::new(data)) {
    d.icc = decoder.icc_profile().ok().flatten();
  }
  d
}

fn webp(data: &[u8]) -> Details {
  let mut d = Details::default();
  let mut pos = 12;
  while let (Some(kind), Some(len)) = (data.get(pos..pos + 4), le32(data, pos + 4)) {
    let Some(body) = data.get(pos + 8..pos + 8 + len as usize) else { break };
    match kind {
      b"ICCP" if d.icc.is_none() => d.icc = Some(body.to_vec()),
      b"EXIF" if d.exif.is_none() => d.exif = Some(body.to_vec()),
      b"XMP " if d.xmp.is_none() => d.xmp = Some(body.to_vec()),
      _ => {}
    }
    // Chunks are padded to an even length.
    pos += 8 + len as usize + (len as usize & 1);
  }
  with_timing(d, data, Format::Webp)
}

fn gif(data: &[u8]) -> Details {
  with_timing(Details::default(), data, Format::Gif)
}

/// `d` with the animation's pages, delays and loop count (timing.rs).
fn with_timing(mut d: Details, data: &[u8], format: Format) -> Details {
  if let Some(t) = super::timing::read(data, format) {
    (d.pages, d.delay, d.loop_count) = (Some(t.pages), Some(t.delay), Some(t.loop_count));
  }
  d
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn jpeg_segments() {
    let mut j = vec![0xFF, 0xD8];
    let seg = |j: &mut Vec<u8>, marker: u8, body: &[u8]| {
      j.extend_from_slice(&[0xFF, marker]);
      j.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
      j.extend_from_slice(body);
    };
    seg(&mut j, 0xE0, b"JFIF\0\x01\x02\x02\x00\x76\x00\x76\0\0");
    seg(&mut j, 0xE1, b"Exif\0\0MM\0*");
    seg(&mut j, 0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>");
    seg(&mut j, 0xC2, &[8, 0, 16, 0, 16, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    j.extend_from_slice(&[0xFF, 0xDA]);
    let d = details(&j, Format::Jpeg);
    assert_eq!(d.density, Some(300.0), "118 dots per cm");
    assert_eq!(d.exif.as_deref(), Some(&b"Exif\0\0MM\0*"[..]));
    assert_eq!(d.xmp.as_deref(), Some(&b"<x:xmpmeta/>"[..]));
    assert!(d.is_progressive);
    assert_eq!(d.chroma_subsampling.as_deref(), Some("4:2:0"));
    assert_eq!((d.pages, d.icc), (None, None));
  }

  #[test]
  fn exif_resolution_wins_over_jfif() {
    // Big-endian TIFF, IFD0 at 8 with XResolution (rational at 38) and ResolutionUnit.
    let tiff = |unit: u16, num: u32| {
      let mut t = b"MM\0*\0\0\0\x08\0\x02".to_vec();
      t.extend_from_slice(&[0x01, 0x1A, 0, 5, 0, 0, 0, 1, 0, 0, 0, 38]);
      t.extend_from_slice(&[0x01, 0x28, 0, 3, 0, 0, 0, 1]);
      t.extend_from_slice(&unit.to_be_bytes());
      t.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
      t.extend_from_slice(&num.to_be_bytes());
      t.extend_from_slice(&1u32.to_be_bytes());
      t
    };
    assert_eq!(exif_density(&tiff(2, 300)), Some(300.0));
    assert_eq!(exif_density(&tiff(3, 118)), Some(300.0), "118 per cm");
    assert_eq!(exif_density(&[b"Exif\0\0".as_slice(), &tiff(2, 240)].concat()), Some(240.0));
    assert_eq!(exif_density(&tiff(7, 300)), None, "unknown unit");
    assert_eq!(exif_density(&tiff(2, 300)[..40]), None, "cut short");
  }

  #[test]
  fn png_chunks() {
    let chunk = |kind: &[u8], body: &[u8]| {
      let mut c = (body.len() as u32).to_be_bytes().to_vec();
      c.extend_from_slice(kind);
      c.extend_from_slice(body);
      c.extend_from_slice(&[0; 4]);
      c
    };
    let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
    p.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 1]));
    p.extend(chunk(b"pHYs", &[0, 0, 0x0E, 0xC4, 0, 0, 0x0E, 0xC4, 1]));
    p.extend(chunk(b"acTL", &[0, 0, 0, 2, 0, 0, 0, 5]));
    p.extend(chunk(b"fcTL", &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 10, 0, 0]));
    p.extend(chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x/>"));
    p.extend(chunk(b"IEND", &[]));
    let d = details(&p, Format::Png);
    assert!(d.is_progressive, "Adam7");
    assert_eq!(d.density, Some(96.0), "3780 per metre");
    assert_eq!((d.pages, d.delay.as_deref(), d.loop_count), (Some(1), Some(&[100][..]), Some(5)));
    assert_eq!(d.xmp.as_deref(), Some(&b"<x/>"[..]));
  }

  /// The repository's photos, against what sharp 0.35's metadata() reports for them.
  #[test]
  fn fixtures_read_as_sharp_reads_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let read = |name: &str, format| details(&std::fs::read(dir.join(name)).expect("fixture"), format);
    let len = |b: &Option<Vec<u8>>| b.as_ref().map(Vec::len);
    let d = read("320x240.jpg", Format::Jpeg);
    assert_eq!((len(&d.exif), len(&d.icc), len(&d.xmp)), (Some(11399), Some(3144), Some(2565)));
    assert_eq!((d.density, d.chroma_subsampling.as_deref(), d.is_progressive), (Some(72.0), Some("4:4:4"), false));
    assert!(d.xmp.as_deref().unwrap_or_default().starts_with(b"<?xpacket"));
    let d = read("Landscape_2.jpg", Format::Jpeg);
    assert_eq!((len(&d.exif), len(&d.icc), len(&d.xmp)), (Some(126), Some(1960), None));
    assert_eq!(d.chroma_subsampling.as_deref(), Some("4:2:0"));
    let d = read("16-bit-grey-alpha.png", Format::Png);
    assert_eq!((len(&d.icc), len(&d.xmp), d.density), (Some(348), Some(490), Some(72.0)));
    assert_eq!(read("50020484-00001.png", Format::Png).density, Some(300.0));
    assert_eq!(read("grey-8bit-alpha.png", Format::Png).density, Some(96.0));
    let d = read("Crash_test.gif", Format::Gif);
    assert_eq!((d.pages, d.delay.as_deref(), d.loop_count), (Some(1), Some(&[0][..]), Some(1)));
    let d = read("4.webp", Format::Webp);
    assert_eq!((d.pages, d.density, d.icc.is_some()), (None, None, false));
  }
}
