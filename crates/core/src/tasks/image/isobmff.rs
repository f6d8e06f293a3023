//! The AVIF header, read from its ISO base media file format (HEIF) boxes
//! without decoding: the `ftyp` brand says AVIF, the primary item (`pitm`)
//! gets its size from the `ispe` property `ipma` associates with it, and an
//! auxiliary item of type alpha (`auxC`) means the image has alpha.
//!
//! Every walk reads box headers in sequence and advances by each box's size
//! (at least its header), within its parent's bounds, so a hostile file
//! costs one pass over its bytes and ends with a coded error, not a hang.

use crate::error::{Error, Result};

/// The brands that name AVIF: still images and image sequences.
const BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];

/// The URNs of an alpha auxiliary image (AVIF's, and HEIF's older one).
const ALPHA_URNS: [&[u8]; 2] = [b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", b"urn:mpeg:hevc:2015:auxid:1"];

/// What the header says: stored size (before `irot`/`imir`), alpha, and
/// the primary item's rotation and mirror as an EXIF orientation (1-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvifHeader {
  pub width: u32,
  pub height: u32,
  pub has_alpha: bool,
  pub orientation: u8,
}

/// HEIF applies `irot` (anticlockwise quarter turns) then `imir` (axis 0:
/// left-right, 1: top-bottom); the EXIF orientation with the same effect.
fn orientation(turns: u8, mirror: Option<u8>) -> u8 {
  const TABLE: [[u8; 3]; 4] = [[1, 2, 4], [8, 7, 5], [3, 4, 2], [6, 5, 7]];
  TABLE[usize::from(turns & 3)][mirror.map_or(0, |axis| 1 + usize::from(axis & 1))]
}

/// Whether `data` starts with a `ftyp` box naming an AVIF brand (major or compatible).
pub fn is_avif(data: &[u8]) -> bool {
  let Some(ftyp) = boxes(data).next().and_then(|b| b.ok()).filter(|b| &b.kind == b"ftyp") else { return false };
  let brands = ftyp.body.get(..4).into_iter().chain(ftyp.body.get(8..).into_iter().flat_map(|c| c.chunks_exact(4)));
  brands.into_iter().any(|b| BRANDS.iter().any(|brand| b == *brand))
}

struct Bx<'a> {
  kind: [u8; 4],
  body: &'a [u8],
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
  Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn be16(d: &[u8], at: usize) -> Option<u16> {
  Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn truncated(what: &str) -> Error {
  Error::corrupt(format!("AVIF {what} is truncated or malformed: the file is corrupt"))
}

/// The boxes laid end to end in `data`.
fn boxes(data: &[u8]) -> impl Iterator<Item = Result<Bx<'_>>> {
  let mut pos = 0usize;
  std::iter::from_fn(move || {
    if pos >= data.len() {
      return None;
    }
    let parse = || -> Option<(Bx<'_>, usize)> {
      let size32 = be32(data, pos)?;
      let kind: [u8; 4] = data.get(pos + 4..pos + 8)?.try_into().ok()?;
      let (header, size) = match size32 {
        0 => (8, data.len() - pos),
        1 => (16, usize::try_from(u64::from_be_bytes(data.get(pos + 8..pos + 16)?.try_into().ok()?)).ok()?),
        n => (8, n as usize),
      };
      let end = pos.checked_add(size).filter(|&e| size >= header && e <= data.len())?;
      Some((Bx { kind, body: &data[pos + header..end] }, end))
    };
    match parse() {
      Some((b, end)) => {
        pos = end;
        Some(Ok(b))
      }
      None => {
        pos = data.len();
        Some(Err(truncated("box structure")))
      }
    }
  })
}

/// The first child of `kind` among `data`'s boxes.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<Bx<'a>>> {
  for b in boxes(data) {
    let b = b?;
    if &b.kind == kind {
      return Ok(Some(b));
    }
  }
  Ok(None)
}

/// A FullBox's body after its version and flags.
fn full<'a>(b: &Bx<'a>) -> Result<(u8, u32, &'a [u8])> {
  let vf = be32(b.body, 0).ok_or_else(|| truncated(&String::from_utf8_lossy(&b.kind)))?;
  Ok(((vf >> 24) as u8, vf & 0xFF_FFFF, &b.body[4..]))
}

/// The `meta` box's parts both the header and the decoder read: the body,
/// the primary item, the item properties and their associations.
struct Meta<'a> {
  body: &'a [u8],
  primary: u32,
  properties: Vec<Bx<'a>>,
  associations: Vec<(u32, u16)>,
}

impl<'a> Meta<'a> {
  fn read(data: &'a [u8]) -> Result<Meta<'a>> {
    let meta = child(data, b"meta")?.ok_or_else(|| truncated("file (no meta box)"))?;
    let (_, _, body) = full(&meta)?;
    let pitm = child(body, b"pitm")?.ok_or_else(|| truncated("meta box (no primary item)"))?;
    let (version, _, pitm) = full(&pitm)?;
    let primary = if version == 0 { be16(pitm, 0).map(u32::from) } else { be32(pitm, 0) }.ok_or_else(|| truncated("pitm box"))?;
    let iprp = child(body, b"iprp")?.ok_or_else(|| truncated("meta box (no item properties)"))?;
    let ipco = child(iprp.body, b"ipco")?.ok_or_else(|| truncated("iprp box (no property container)"))?;
    let properties: Vec<Bx<'_>> = boxes(ipco.body).collect::<Result<_>>()?;
    let ipma = child(iprp.body, b"ipma")?.ok_or_else(|| truncated("iprp box (no property associations)"))?;
    Ok(Meta { body, primary, properties, associations: associations(&ipma)? })
  }

  /// Each (item, property) association whose property exists.
  fn associated(&self) -> impl Iterator<Item = (u32, &Bx<'a>)> + '_ {
    self.associations.iter().filter_map(|&(item, index)| Some((item, self.properties.get(usize::from(index.checked_sub(1)?))?)))
  }

  /// `item`'s property of `kind`.
  fn property(&self, item: u32, kind: &[u8; 4]) -> Option<&Bx<'a>> {
    self.associated().find(|(i, p)| *i == item && &p.kind == kind).map(|(_, p)| p)
  }
}

/// An `auxC` property naming the alpha URN.
fn is_alpha(p: &Bx<'_>) -> bool {
  &p.kind == b"auxC" && full(p).is_ok_and(|(_, _, urn)| ALPHA_URNS.iter().any(|u| urn.strip_suffix(&[0]).unwrap_or(urn).starts_with(u)))
}

pub fn read(data: &[u8]) -> Result<AvifHeader> {
  let meta = Meta::read(data)?;
  let ispe = meta.property(meta.primary, b"ispe").ok_or_else(|| truncated("primary item (no ispe size property)"))?;
  let (_, _, size) = full(ispe)?;
  let (width, height) = (be32(size, 0), be32(size, 4));
  let (Some(width), Some(height)) = (width, height) else { return Err(truncated("ispe box")) };
  // Alpha: any item with an alpha auxC property (a file holds one image,
  // so an alpha plane is the primary item's).
  let has_alpha = meta.associated().any(|(_, p)| is_alpha(p));
  let turns = meta.property(meta.primary, b"irot").and_then(|p| p.body.first()).map_or(0, |b| b & 3);
  let mirror = meta.property(meta.primary, b"imir").and_then(|p| p.body.first()).map(|b| b & 1);
  Ok(AvifHeader { width, height, has_alpha, orientation: orientation(turns, mirror) })
}

/// The coded data of an AVIF's primary image and of its alpha plane, if
/// any: AV1 bitstreams (OBUs), each gathered from its `iloc` extents.
pub struct Coded<'a> {
  pub colour: Vec<&'a [u8]>,
  pub alpha: Option<Vec<&'a [u8]>>,
}

/// Finds the primary item's and the alpha item's data. Only what AVIF still
/// images use is read: items of type `av01` stored in the file (`iloc`
/// construction method 0); a grid or an `idat`-stored item is refused as
/// unsupported.
pub fn coded(data: &[u8]) -> Result<Coded<'_>> {
  use crate::error::Code;
  let unsupported = |what: &str| Error::new(Code::UnsupportedFormat, format!("AVIF {what} is not supported"));
  let meta = Meta::read(data)?;
  let primary = meta.primary;
  let types = item_types(meta.body)?;
  let type_of = |item: u32| types.iter().find(|(i, _)| *i == item).map(|(_, t)| *t);
  if type_of(primary) != Some(*b"av01") {
    return Err(unsupported(&format!("primary item of type {:?} (only single AV1 images are read; grids are not)", type_of(primary).map(|t| String::from_utf8_lossy(&t).into_owned()))));
  }
  let alpha_item = meta.associated().find(|&(item, p)| item != primary && type_of(item) == Some(*b"av01") && is_alpha(p)).map(|(item, _)| item);
  let iloc = child(meta.body, b"iloc")?.ok_or_else(|| truncated("meta box (no item locations)"))?;
  let locations = locations(&iloc)?;
  let extents = |item: u32| -> Result<Vec<&[u8]>> {
    let (method, extents) = locations.iter().find(|(i, _, _)| *i == item).map(|(_, m, e)| (*m, e)).ok_or_else(|| truncated("iloc box (no location for an item)"))?;
    if method != 0 {
      return Err(unsupported("item stored inside the meta box (iloc construction method 1 or 2)"));
    }
    let pieces: Vec<&[u8]> = extents
      .iter()
      .map(|&(offset, length)| {
        let start = usize::try_from(offset).ok();
        let end = start.zip(usize::try_from(length).ok()).and_then(|(s, l)| s.checked_add(l));
        start.zip(end).and_then(|(s, e)| data.get(s..e)).ok_or_else(|| truncated("image data (an iloc extent lies past the end)"))
      })
      .collect::<Result<_>>()?;
    // Overlapping extents could add up to far more than the file: the
    // decoder gathers them into one buffer.
    if pieces.iter().map(|p| p.len()).sum::<usize>() > data.len() {
      return Err(truncated("iloc box (an item's extents overlap)"));
    }
    Ok(pieces)
  };
  Ok(Coded { colour: extents(primary)?, alpha: alpha_item.map(extents).transpose()? })
}

/// `iinf`'s (item, type) pairs (from `infe` boxes of version 2 and 3).
fn item_types(meta: &[u8]) -> Result<Vec<(u32, [u8; 4])>> {
  let iinf = child(meta, b"iinf")?.ok_or_else(|| truncated("meta box (no item information)"))?;
  let (version, _, body) = full(&iinf)?;
  let skip = if version == 0 { 2 } else { 4 };
  let entries = body.get(skip..).ok_or_else(|| truncated("iinf box"))?;
  let mut out = Vec::new();
  for infe in boxes(entries) {
    let infe = infe?;
    if &infe.kind != b"infe" {
      continue;
    }
    let (version, _, d) = full(&infe)?;
    let parsed = match version {
      2 => be16(d, 0).map(u32::from).zip(d.get(4..8)),
      3 => be32(d, 0).zip(d.get(6..10)),
      _ => continue,
    };
    let (item, kind) = parsed.ok_or_else(|| truncated("infe box"))?;
    out.push((item, kind.try_into().map_err(|_| truncated("infe box"))?));
  }
  Ok(out)
}

/// More extents than any writer splits a still image's items into.
const MAX_EXTENTS: u64 = 4096;

/// `iloc`'s items: (item, construction method, [(offset, length)]).
fn locations(iloc: &Bx<'_>) -> Result<Vec<(u32, u8, Vec<(u64, u64)>)>> {
  let bad = || truncated("iloc box");
  let (version, _, d) = full(iloc)?;
  let mut at = 0usize;
  // A big-endian unsigned field of `n` bytes (iloc's variable sizes are 0, 4 or 8).
  let mut uint = |n: usize| -> Result<u64> {
    if !matches!(n, 0 | 2 | 4 | 8) {
      return Err(bad());
    }
    let bytes = d.get(at..at + n).ok_or_else(bad)?;
    at += n;
    Ok(bytes.iter().fold(0u64, |v, &b| v << 8 | u64::from(b)))
  };
  let sizes = uint(2)?;
  let (offset_size, length_size, base_size) = ((sizes >> 12) as usize, (sizes >> 8 & 15) as usize, (sizes >> 4 & 15) as usize);
  let index_size = if version >= 1 { (sizes & 15) as usize } else { 0 };
  let id_size = if version < 2 { 2 } else { 4 };
  let count = uint(id_size)?;
  let mut out = Vec::new();
  // Extents whose fields are all 0 bytes wide cost no bytes to list, so
  // their count is bounded here rather than by the box's size.
  let mut listed = 0u64;
  for _ in 0..count {
    let item = uint(id_size)? as u32;
    let method = if version >= 1 { (uint(2)? & 15) as u8 } else { 0 };
    uint(2)?; // data reference index
    let base = uint(base_size)?;
    let extents = uint(2)?;
    listed += extents;
    if listed > MAX_EXTENTS {
      return Err(Error::corrupt(format!("AVIF iloc box lists more than {MAX_EXTENTS} extents: the file is corrupt")));
    }
    let mut list = Vec::new();
    for _ in 0..extents {
      uint(index_size)?;
      let offset = uint(offset_size)?;
      let length = uint(length_size)?;
      list.push((base.checked_add(offset).ok_or_else(bad)?, length));
    }
    out.push((item, method, list));
  }
  Ok(out)
}

/// `ipma`'s (item, property index) pairs; the index is 1-based into `ipco`.
fn associations(ipma: &Bx<'_>) -> Result<Vec<(u32, u16)>> {
  let bad = || truncated("ipma box");
  let (version, flags, d) = full(ipma)?;
  let count = be32(d, 0).ok_or_else(bad)?;
  let mut at = 4;
  let mut out = Vec::new();
  for _ in 0..count {
    let item = if version < 1 {
      at += 2;
      be16(d, at - 2).map(u32::from)
    } else {
      at += 4;
      be32(d, at - 4)
    }
    .ok_or_else(bad)?;
    let n = *d.get(at).ok_or_else(bad)?;
    at += 1;
    for _ in 0..n {
      let index = if flags & 1 == 1 {
        at += 2;
        be16(d, at - 2).ok_or_else(bad)? & 0x7FFF
      } else {
        at += 1;
        u16::from(*d.get(at - 1).ok_or_else(bad)? & 0x7F)
      };
      out.push((item, index));
    }
  }
  Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
  use super::*;
  use crate::error::Code;

  fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
  }
  fn fullbx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    bx(kind, &[&[0, 0, 0, 0][..], body].concat())
  }

  /// A minimal AVIF header: ftyp, and meta with pitm, iprp (ispe, optional
  /// alpha auxC, associated with items 1 and 2).
  pub(crate) fn header(width: u32, height: u32, alpha: bool) -> Vec<u8> {
    let mut ispe = width.to_be_bytes().to_vec();
    ispe.extend_from_slice(&height.to_be_bytes());
    let mut ipco = fullbx(b"ispe", &ispe);
    let mut ipma = vec![0, 0, 0, if alpha { 2 } else { 1 }, 0, 1, 1, 0x81];
    if alpha {
      ipco.extend(fullbx(b"auxC", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha\0"));
      ipma.extend_from_slice(&[0, 2, 2, 0x81, 0x82]);
    }
    let iprp = bx(b"iprp", &[bx(b"ipco", &ipco), fullbx(b"ipma", &ipma)].concat());
    let meta = fullbx(b"meta", &[fullbx(b"pitm", &[0, 1]), iprp].concat());
    [bx(b"ftyp", b"avif\0\0\0\0mif1miaf"), meta].concat()
  }

  #[test]
  fn reads_the_primary_items_size_and_alpha() {
    assert!(is_avif(&header(3, 2, false)));
    assert_eq!(read(&header(640, 480, false)).unwrap(), AvifHeader { width: 640, height: 480, has_alpha: false, orientation: 1 });
    assert_eq!(read(&header(7, 9, true)).unwrap(), AvifHeader { width: 7, height: 9, has_alpha: true, orientation: 1 });
    // A compatible brand suffices; HEIC does not.
    assert!(is_avif(&bx(b"ftyp", b"mif1\0\0\0\0mif1avif")));
    assert!(!is_avif(&bx(b"ftyp", b"heic\0\0\0\0mif1heic")));
  }

  #[test]
  fn rotation_then_mirror_as_exif_orientation() {
    assert_eq!([0, 1, 2, 3].map(|t| orientation(t, None)), [1, 8, 3, 6]);
    assert_eq!([0, 1, 2, 3].map(|t| orientation(t, Some(0))), [2, 7, 4, 5]);
    assert_eq!([0, 1, 2, 3].map(|t| orientation(t, Some(1))), [4, 5, 2, 7]);
  }

  /// `header` plus iinf (item 1 of `kind`), iloc (item 1: `extents` of
  /// (offset into the mdat's 64 bytes, length), construction method
  /// `method`) and the mdat.
  fn with_items(kind: &[u8; 4], method: u8, extents: &[(u32, u32)]) -> Vec<u8> {
    // The iloc's size does not depend on the offsets: lay out once to find the mdat.
    let mdat = (written(kind, method, extents).len() - 64) as u32;
    written(kind, method, &extents.iter().map(|&(o, l)| (o + mdat, l)).collect::<Vec<_>>())
  }

  fn written(kind: &[u8; 4], method: u8, extents: &[(u32, u32)]) -> Vec<u8> {
    let h = header(4, 4, false);
    let infe = bx(b"infe", &[&[2, 0, 0, 0, 0, 1, 0, 0][..], kind, b"\0"].concat());
    let iinf = fullbx(b"iinf", &[&[0, 1][..], &infe].concat());
    let mut iloc = vec![1, 0, 0, 0, 0x44, 0x00, 0, 1, 0, 1, 0, method, 0, 0];
    iloc.extend_from_slice(&(extents.len() as u16).to_be_bytes());
    for (o, l) in extents {
      iloc.extend_from_slice(&o.to_be_bytes());
      iloc.extend_from_slice(&l.to_be_bytes());
    }
    // The meta box is the header's second box: append iinf and iloc inside it.
    let ftyp = u32::from_be_bytes(h[..4].try_into().unwrap()) as usize;
    let mut meta = h[ftyp + 8..].to_vec();
    meta.extend(iinf);
    meta.extend(bx(b"iloc", &iloc));
    [&h[..ftyp], &bx(b"meta", &meta), &bx(b"mdat", &[7; 64])].concat()
  }

  #[test]
  fn finds_the_items_data_and_refuses_what_it_does_not_read() {
    let file = with_items(b"av01", 0, &[(0, 40), (40, 24)]);
    let found = coded(&file).unwrap();
    assert_eq!(found.colour, [&[7; 40][..], &[7; 24][..]]);
    assert!(found.alpha.is_none());
    let code = |kind, method, extents: &[(u32, u32)]| coded(&with_items(kind, method, extents)).err().map(|e| e.code);
    assert_eq!(code(b"grid", 0, &[(0, 64)]), Some(Code::UnsupportedFormat));
    assert_eq!(code(b"av01", 1, &[(0, 8)]), Some(Code::UnsupportedFormat), "stored in idat");
    assert_eq!(code(b"av01", 0, &[(0, 65)]), Some(Code::CorruptInput), "past the end");
    // Overlapping extents, each within the file, adding up to more than it.
    let size = file.len() as u32;
    assert_eq!(code(b"av01", 0, &[(0, 64); 2]), None, "{size} bytes");
    assert_eq!(code(b"av01", 0, &vec![(0, 64); size as usize / 32]), Some(Code::CorruptInput));
    // Thousands of extents are refused before they are listed.
    assert_eq!(code(b"av01", 0, &vec![(0, 0); 5000]), Some(Code::CorruptInput));
  }

  #[test]
  fn every_truncation_is_a_coded_error() {
    let h = header(640, 480, true);
    for cut in 0..h.len() {
      assert_eq!(read(&h[..cut]).unwrap_err().code, Code::CorruptInput, "cut {cut}");
    }
    // A box claiming more than the file.
    let mut bad = h.clone();
    bad[3] = 0xFF;
    assert!(!is_avif(&bad[..8]) || read(&bad).is_err());
  }
}
