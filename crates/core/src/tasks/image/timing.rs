//! The timing of an animated GIF or WebP read from its container alone, no
//! pixel decoded: how many frames, each one's delay and the loop count
//! (sharp's `pages`, `delay` and `loop`). `metadata()` reports it, and an
//! animated resize checks `limitInputPixels` against width x height x
//! frames with it before decoding. The walks count the frames the file
//! really holds (each takes bytes: at least 12 in a GIF, 24 in a WebP), so a
//! count cannot claim more than the file could hold; every step advances,
//! and a structure that ends early gives what was read up to there.

use super::Format;

/// One animation's timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
  /// Frames, at least 1.
  pub pages: u32,
  /// Milliseconds each frame shows, one entry per frame.
  pub delay: Vec<u32>,
  /// Times the animation plays; 0 means forever (sharp's `loop`).
  pub loop_count: u32,
  /// A WebP chunk runs past the end of the data: frames are missing.
  pub truncated: bool,
}

/// The timing of a GIF, or of an animated WebP; None for other formats and
/// for a still WebP.
pub fn read(data: &[u8], format: Format) -> Option<Timing> {
  match format {
    Format::Gif => Some(gif(data)),
    Format::Webp => webp(data),
    _ => None,
  }
}

/// Frames an animated decode of `data` yields: 1 for a still image.
pub fn frames(data: &[u8], format: Format) -> u32 {
  read(data, format).map_or(1, |t| t.pages.max(1))
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
  Some(u16::from_le_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn le24(d: &[u8], at: usize) -> Option<u32> {
  Some(u32::from_le_bytes([*d.get(at)?, *d.get(at + 1)?, *d.get(at + 2)?, 0]))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
  Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// The ANIM and ANMF chunks of a WebP (VP8X) file; None without ANIM.
fn webp(data: &[u8]) -> Option<Timing> {
  let mut pos = 12;
  let mut delay = Vec::new();
  let mut loop_count = None;
  let mut truncated = false;
  while let (Some(kind), Some(len)) = (data.get(pos..pos + 4), le32(data, pos + 4)) {
    let Some(body) = data.get(pos + 8..pos + 8 + len as usize) else {
      truncated = true;
      break;
    };
    match kind {
      b"ANIM" => loop_count = Some(le16(body, 4).map_or(0, u32::from)),
      b"ANMF" => delay.push(le24(body, 12).unwrap_or(0)),
      _ => {}
    }
    // Chunks are padded to an even length.
    pos += 8 + len as usize + (len as usize & 1);
  }
  let loop_count = loop_count?;
  // A chunk header cut short is missing data too.
  truncated |= pos < data.len();
  Some(Timing { pages: (delay.len() as u32).max(1), delay: if delay.is_empty() { vec![0] } else { delay }, loop_count, truncated })
}

/// The blocks of a GIF: image descriptors, graphic control extensions
/// (delays, in hundredths of a second) and the NETSCAPE2.0 loop block.
fn gif(data: &[u8]) -> Timing {
  let mut loop_count = 1;
  let mut delay = Vec::new();
  let mut next_delay = 0u32;
  // Header (6), logical screen descriptor (7), then the global colour table.
  let Some(&flags) = data.get(10) else { return Timing { pages: 1, delay: vec![0], loop_count, truncated: false } };
  let mut pos = 13 + if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
  // Skips data sub-blocks (length-prefixed, ended by a zero length).
  let skip_blocks = |mut p: usize| -> Option<usize> {
    loop {
      let n = usize::from(*data.get(p)?);
      p += 1 + n;
      if n == 0 {
        return Some(p);
      }
    }
  };
  loop {
    match data.get(pos) {
      Some(0x21) => {
        let Some(&label) = data.get(pos + 1) else { break };
        let body = pos + 2;
        if label == 0xF9 {
          next_delay = u32::from(le16(data, body + 2).unwrap_or(0)) * 10;
        } else if label == 0xFF && data.get(body..body + 12) == Some(b"\x0bNETSCAPE2.0") && data.get(body + 13) == Some(&1) {
          // The block counts repeats after the first play; sharp (libvips)
          // reports plays: 0 stays "forever", n becomes n + 1.
          loop_count = le16(data, body + 14).map_or(loop_count, |n| if n == 0 { 0 } else { u32::from(n) + 1 });
        }
        let Some(p) = skip_blocks(body) else { break };
        pos = p;
      }
      Some(0x2C) => {
        delay.push(std::mem::take(&mut next_delay));
        let Some(&f) = data.get(pos + 9) else { break };
        let table = if f & 0x80 != 0 { 3 << ((f & 7) + 1) } else { 0 };
        // Descriptor (10), local colour table, LZW minimum code size (1), then the data.
        let Some(p) = skip_blocks(pos + 10 + table + 1) else { break };
        pos = p;
      }
      _ => break,
    }
  }
  if delay.is_empty() {
    delay.push(0);
  }
  // A GIF cut short shows as a frame its decoder cannot finish.
  Timing { pages: delay.len() as u32, delay, loop_count, truncated: false }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// A GIF of `frames` 2x2 frames with these delays (hundredths) and an
  /// optional NETSCAPE loop block (repeats).
  pub(crate) fn gif_bytes(delays: &[u8], repeats: Option<u16>) -> Vec<u8> {
    let mut g = b"GIF89a\x02\0\x02\0\x80\0\0".to_vec();
    g.extend_from_slice(&[0, 0, 0, 255, 255, 255]); // 2-entry global table
    if let Some(n) = repeats {
      g.extend_from_slice(b"\x21\xFF\x0bNETSCAPE2.0\x03\x01");
      g.extend_from_slice(&n.to_le_bytes());
      g.push(0);
    }
    for &delay in delays {
      g.extend_from_slice(&[0x21, 0xF9, 4, 0, delay, 0, 0, 0]);
      g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2, 2, 0x44, 0x01, 0]);
    }
    g.push(0x3B);
    g
  }

  #[test]
  fn gif_frames_delays_and_loop() {
    let g = gif_bytes(&[7, 12], Some(0));
    assert_eq!(read(&g, Format::Gif), Some(Timing { pages: 2, delay: vec![70, 120], loop_count: 0, truncated: false }));
    assert_eq!(read(&gif_bytes(&[1], Some(2)), Format::Gif).map(|t| t.loop_count), Some(3), "2 repeats are 3 plays");
    assert_eq!(read(&gif_bytes(&[1], None), Format::Gif).map(|t| t.loop_count), Some(1), "no loop block: one play");
    assert_eq!(frames(&g, Format::Gif), 2);
    // Cut anywhere: no panic, never more frames than were complete plus one.
    for cut in 0..g.len() {
      assert!(frames(&g[..cut], Format::Gif) <= 2);
    }
  }

  #[test]
  fn webp_frames_need_an_anim_chunk() {
    let mut w = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x02\0\0\0\0\0\0\0\0\0".to_vec();
    assert_eq!(read(&w, Format::Webp), None, "still");
    w.extend_from_slice(b"ANIM\x06\0\0\0\0\0\0\0\x03\0");
    for ms in [100u32, 40] {
      let mut body = vec![0u8; 16];
      body[12..15].copy_from_slice(&ms.to_le_bytes()[..3]);
      w.extend_from_slice(b"ANMF\x10\0\0\0");
      w.extend_from_slice(&body);
    }
    assert_eq!(read(&w, Format::Webp), Some(Timing { pages: 2, delay: vec![100, 40], loop_count: 3, truncated: false }));
    assert_eq!(frames(&w, Format::Webp), 2);
    assert!(read(&w[..w.len() - 1], Format::Webp).is_some_and(|t| t.truncated && t.pages == 1));
    assert!(read(&w[..w.len() - 20], Format::Webp).is_some_and(|t| t.truncated && t.pages == 1), "a chunk header cut");
    assert_eq!(frames(&w, Format::Png), 1);
  }
}
