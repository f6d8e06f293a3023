//! Digests of whole buffers, as lowercase hex.

use sha2::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
  Sha256,
  Sha512,
  Blake3,
  Md5,
}

fn hex(bytes: &[u8]) -> String {
  const DIGITS: &[u8; 16] = b"0123456789abcdef";
  let mut s = String::with_capacity(bytes.len() * 2);
  for &b in bytes {
    s.push(DIGITS[usize::from(b >> 4)] as char);
    s.push(DIGITS[usize::from(b & 15)] as char);
  }
  s
}

pub fn hash(data: &[u8], algorithm: Algorithm) -> String {
  match algorithm {
    Algorithm::Sha256 => hex(&sha2::Sha256::digest(data)),
    Algorithm::Sha512 => hex(&sha2::Sha512::digest(data)),
    Algorithm::Md5 => hex(&md5::Md5::digest(data)),
    Algorithm::Blake3 => hex(blake3::hash(data).as_bytes()),
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn known_digests() {
    assert_eq!(hash(b"abc", Algorithm::Sha256), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(hash(b"", Algorithm::Md5), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(hash(b"", Algorithm::Blake3), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
  }
}
