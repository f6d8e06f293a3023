//! Colour management: pixels tagged with an embedded ICC profile (Display P3
//! from phones, Adobe RGB from cameras) are converted to sRGB, because the
//! output is written without a profile and viewers assume sRGB.

use super::decode::Pixels;

/// Converts `pixels` from the colour space of `icc` to sRGB in place. Profiles
/// that are sRGB already, unreadable, or not RGB leave the pixels untouched.
pub fn to_srgb(pixels: &mut Pixels, icc: &[u8]) {
  let Some(input) = qcms::Profile::new_from_slice(icc, false) else { return };
  if input.is_sRGB() {
    return;
  }
  let mut output = qcms::Profile::new_sRGB();
  output.precache_output_transform();
  let data_type = if pixels.channels == 4 { qcms::DataType::RGBA8 } else { qcms::DataType::RGB8 };
  if let Some(transform) = qcms::Transform::new(&input, &output, data_type, qcms::Intent::Perceptual) {
    transform.apply(&mut pixels.data);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn garbage_profile_leaves_pixels_alone() {
    let mut p = Pixels { data: vec![10, 20, 30], width: 1, height: 1, channels: 3 };
    to_srgb(&mut p, b"not an icc profile");
    assert_eq!(p.data, vec![10, 20, 30]);
  }
}
