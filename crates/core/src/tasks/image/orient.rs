//! EXIF orientation (1-8) applied to decoded pixels, so output is upright.

use super::decode::Pixels;

/// Returns the pixels as they should be displayed for `orientation`.
pub fn apply(pixels: Pixels, orientation: u8) -> Pixels {
  if !(2..=8).contains(&orientation) {
    return pixels;
  }
  let (w, h) = (pixels.width as usize, pixels.height as usize);
  let c = usize::from(pixels.channels);
  let (dw, dh) = if orientation >= 5 { (h, w) } else { (w, h) };
  let src = &pixels.data;
  let mut out = vec![0u8; src.len()];
  for dy in 0..dh {
    for dx in 0..dw {
      let (sx, sy) = match orientation {
        2 => (w - 1 - dx, dy),
        3 => (w - 1 - dx, h - 1 - dy),
        4 => (dx, h - 1 - dy),
        5 => (dy, dx),
        6 => (dy, h - 1 - dx),
        7 => (w - 1 - dy, h - 1 - dx),
        _ => (w - 1 - dy, dx),
      };
      let s = (sy * w + sx) * c;
      let d = (dy * dw + dx) * c;
      out[d..d + c].copy_from_slice(&src[s..s + c]);
    }
  }
  Pixels { data: out, width: dw as u32, height: dh as u32, channels: pixels.channels }
}

#[cfg(test)]
mod tests {
  use super::*;

  // A 2x3 single-channel-like image (3 channels, value in the first byte):
  //  1 2
  //  3 4
  //  5 6
  fn sample() -> Pixels {
    let vals = [1u8, 2, 3, 4, 5, 6];
    let data = vals.iter().flat_map(|&v| [v, 0, 0]).collect();
    Pixels { data, width: 2, height: 3, channels: 3 }
  }

  fn firsts(p: &Pixels) -> Vec<u8> {
    p.data.chunks(3).map(|c| c[0]).collect()
  }

  #[test]
  fn every_orientation() {
    let cases: [(u8, (u32, u32), [u8; 6]); 8] = [
      (1, (2, 3), [1, 2, 3, 4, 5, 6]),
      (2, (2, 3), [2, 1, 4, 3, 6, 5]),
      (3, (2, 3), [6, 5, 4, 3, 2, 1]),
      (4, (2, 3), [5, 6, 3, 4, 1, 2]),
      (5, (3, 2), [1, 3, 5, 2, 4, 6]),
      (6, (3, 2), [5, 3, 1, 6, 4, 2]),
      (7, (3, 2), [6, 4, 2, 5, 3, 1]),
      (8, (3, 2), [2, 4, 6, 1, 3, 5]),
    ];
    for (o, size, expected) in cases {
      let p = apply(sample(), o);
      assert_eq!((p.width, p.height), size, "orientation {o}");
      assert_eq!(firsts(&p), expected, "orientation {o}");
    }
  }
}
