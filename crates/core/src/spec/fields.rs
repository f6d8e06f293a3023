//! The names a spec type accepts, read from its serde derive (so no second
//! hand-written list exists), and the refusal of any other key, with a
//! "did you mean" suggestion for a near miss such as `widht`.

use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The error the capturing deserializer returns: it carries the field names.
#[derive(Debug)]
struct Captured(&'static [&'static str]);

impl fmt::Display for Captured {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("field names captured")
  }
}

impl std::error::Error for Captured {}

impl de::Error for Captured {
  fn custom<T: fmt::Display>(_: T) -> Self {
    Captured(&[])
  }
}

/// A deserializer that reads nothing: a derived struct hands it its field
/// names (`deserialize_struct`), which it returns as its error.
struct Capture;

impl<'de> de::Deserializer<'de> for Capture {
  type Error = Captured;

  fn deserialize_any<V: Visitor<'de>>(self, _: V) -> std::result::Result<V::Value, Captured> {
    Err(Captured(&[]))
  }

  fn deserialize_struct<V: Visitor<'de>>(
    self,
    _: &'static str,
    fields: &'static [&'static str],
    _: V,
  ) -> std::result::Result<V::Value, Captured> {
    Err(Captured(fields))
  }

  serde::forward_to_deserialize_any! {
    bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
    unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
  }
}

/// The keys a derived spec struct accepts, as written in JSON (camelCase).
pub fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
  match T::deserialize(Capture) {
    Err(Captured(f)) => f,
    Ok(_) => &[],
  }
}

/// Refuses a key of `map` that is neither in `fields` nor in `also`, naming
/// it, the nearest accepted name and `fields` (what `owner` takes).
pub fn check_keys(owner: &str, map: &Map<String, Value>, fields: &[&str], also: &[&str]) -> Result<()> {
  let Some(key) = map.keys().find(|k| !fields.contains(&k.as_str()) && !also.contains(&k.as_str())) else { return Ok(()) };
  let quoted = serde_json::to_string(key).unwrap_or_default();
  let hint = suggest(key, fields.iter().chain(also)).map(|s| format!(" (did you mean \"{s}\"?)")).unwrap_or_default();
  let takes = if fields.is_empty() { "no options".to_string() } else { fields.join(", ") };
  Err(Error::invalid(format!("unknown option {quoted}{hint}: {owner} takes {takes}")))
}

/// The accepted name nearest to `key`, if it is near enough to be a typo.
fn suggest<'a>(key: &str, names: impl Iterator<Item = &'a &'a str>) -> Option<&'a str> {
  let key = key.to_ascii_lowercase();
  let most = (key.chars().count() / 3).max(1);
  names
    .map(|n| (distance(&key, &n.to_ascii_lowercase()), *n))
    .filter(|(d, _)| *d <= most)
    .min_by_key(|(d, _)| *d)
    .map(|(_, n)| n)
}

/// Edit distance counting a swap of two neighbours as one edit (optimal
/// string alignment), so `widht` is one edit from `width`.
fn distance(a: &str, b: &str) -> usize {
  let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
  let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
  for (i, row) in d.iter_mut().enumerate() {
    row[0] = i;
  }
  for j in 0..=b.len() {
    d[0][j] = j;
  }
  for i in 1..=a.len() {
    for j in 1..=b.len() {
      let cost = usize::from(a[i - 1] != b[j - 1]);
      d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
      if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
        d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
      }
    }
  }
  d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[derive(serde::Deserialize)]
  #[serde(rename_all = "camelCase")]
  #[allow(dead_code)]
  struct Two {
    width: Option<u32>,
    auto_orient: Option<bool>,
  }

  #[test]
  fn names_come_from_the_derive() {
    assert_eq!(fields::<Two>(), ["width", "autoOrient"]);
  }

  #[test]
  fn near_misses_are_suggested() {
    let m = json!({ "widht": 1 });
    let e = check_keys("resize", m.as_object().unwrap(), &["width", "height"], &[]).unwrap_err();
    assert_eq!(e.message, "unknown option \"widht\" (did you mean \"width\"?): resize takes width, height");
    let m = json!({ "animated": true });
    let e = check_keys("resize", m.as_object().unwrap(), &["width", "height"], &[]).unwrap_err();
    assert_eq!(e.message, "unknown option \"animated\": resize takes width, height");
    let m = json!({ "x": 1 });
    assert!(check_keys("metadata", m.as_object().unwrap(), &[], &[]).unwrap_err().message.ends_with("metadata takes no options"));
    let m = json!({ "inptu": 1, "width": 1 });
    assert!(check_keys("resize", m.as_object().unwrap(), &["width"], &["input"]).unwrap_err().message.contains("did you mean \"input\""));
    assert_eq!(distance("widht", "width"), 1);
    assert_eq!(distance("", "abc"), 3);
  }
}
