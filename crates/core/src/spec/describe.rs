//! How a value is named in a message: JavaScript's view of a JSON value
//! ("number 0", "a string (\"x\")", "an array"), so a message reads the same
//! whether the value came from resize() or from a job in Redis. The only
//! port of this description in Rust; lib/args.js keeps the JS one for what
//! only JS sees (buffers, signals, functions).

use serde_json::Value;

/// lib/args.js's describe() of the same value, as JSON.parse gives it to JS.
pub fn describe(v: &Value) -> String {
  match v {
    Value::Null => "null".into(),
    Value::Array(_) => "an array".into(),
    Value::Object(_) => "an instance of Object".into(),
    Value::Bool(b) => format!("boolean {b}"),
    Value::Number(n) => format!("number {}", js_number(n.as_f64().unwrap_or(f64::NAN))),
    Value::String(s) => describe_str(s),
  }
}

/// `a string ("...")`: JSON.stringify(s.slice(0, 40)), 40 UTF-16 units, a
/// split pair's lone half written as an escape.
pub fn describe_str(s: &str) -> String {
  let units: Vec<u16> = s.encode_utf16().take(40).collect();
  let (whole, lone) = match units.last() {
    Some(&u) if (0xd800..0xdc00).contains(&u) && String::from_utf16(&units).is_err() => (&units[..units.len() - 1], Some(u)),
    _ => (&units[..], None),
  };
  let mut json = serde_json::to_string(&String::from_utf16_lossy(whole)).unwrap_or_default();
  if let Some(u) = lone {
    json.insert_str(json.len() - 1, &format!("\\u{u:04x}"));
  }
  format!("a string ({json})")
}

/// JavaScript's Number#toString for a finite number: the shortest digits,
/// in plain notation from 1e-6 up to 1e21 and exponent notation outside.
pub fn js_number(f: f64) -> String {
  // JSON carries neither NaN nor the infinities.
  if f == 0.0 || !f.is_finite() {
    return "0".into();
  }
  if f < 0.0 {
    return format!("-{}", js_number(-f));
  }
  let sci = format!("{f:e}");
  let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
  let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
  let k = digits.len() as i64;
  let n = exp.parse::<i64>().unwrap_or(0) + 1;
  if k <= n && n <= 21 {
    format!("{digits}{}", "0".repeat((n - k) as usize))
  } else if 0 < n && n <= 21 {
    format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
  } else if -6 < n && n <= 0 {
    format!("0.{}{digits}", "0".repeat((-n) as usize))
  } else {
    let sign = if n - 1 < 0 { '-' } else { '+' };
    let rest = if k > 1 { format!(".{}", &digits[1..]) } else { String::new() };
    format!("{}{rest}e{sign}{}", &digits[..1], (n - 1).abs())
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::json;

  #[test]
  fn reads_like_javascript() {
    assert_eq!(describe(&json!(0)), "number 0");
    assert_eq!(describe(&json!(1.5)), "number 1.5");
    assert_eq!(describe(&json!(1e21)), "number 1e+21");
    assert_eq!(describe(&json!(1e-7)), "number 1e-7");
    assert_eq!(describe(&json!(123456.0)), "number 123456");
    assert_eq!(describe(&json!("upper left")), "a string (\"upper left\")");
    assert_eq!(describe(&json!([1])), "an array");
    assert_eq!(describe(&json!({})), "an instance of Object");
    assert_eq!(describe(&json!(true)), "boolean true");
    assert_eq!(describe(&json!("x".repeat(50))), format!("a string (\"{}\")", "x".repeat(40)));
  }
}
