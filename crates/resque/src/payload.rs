//! Job payloads as resque stores them, and the records rusque writes back
//! (failures), all as JSON strings byte-compatible with node-resque.

use serde_json::{json, Map, Value};

/// A queue entry: `{"class": ..., "queue": ..., "args": [...]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
  pub class: String,
  pub args: Vec<Value>,
  /// The entry as parsed, written back verbatim in failure records.
  pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(pub String);

/// How deeply JSON may nest. The JS loop's claim script decodes entries with
/// Redis's cjson, which refuses deeper nesting (its default limit), so both
/// loops draw the line at the same depth: an entry nested deeper is not
/// valid JSON to either.
pub const MAX_JSON_DEPTH: usize = 1000;

/// Parses JSON nested up to [`MAX_JSON_DEPTH`] levels (serde_json alone stops
/// at 128, where JavaScript's JSON.parse has no limit).
pub fn parse_json(text: &str) -> Result<Value, String> {
  if depth(text.as_bytes()) > MAX_JSON_DEPTH {
    return Err(format!("nesting deeper than {MAX_JSON_DEPTH} levels"));
  }
  let mut de = serde_json::Deserializer::from_str(text);
  de.disable_recursion_limit();
  let mut values = de.into_iter::<Value>();
  match values.next() {
    None => Err("EOF while parsing a value".into()),
    Some(Err(e)) => Err(e.to_string()),
    Some(Ok(v)) => match values.next() {
      None => Ok(v),
      Some(_) => Err(format!("trailing characters at byte {}", values.byte_offset())),
    },
  }
}

/// The deepest nesting of arrays and objects in `text` (strings skipped).
fn depth(text: &[u8]) -> usize {
  let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
  for &b in text {
    if in_string {
      match b {
        _ if escaped => escaped = false,
        b'\\' => escaped = true,
        b'"' => in_string = false,
        _ => {}
      }
      continue;
    }
    match b {
      b'"' => in_string = true,
      b'[' | b'{' => {
        depth += 1;
        max = max.max(depth);
      }
      b']' | b'}' => depth = depth.saturating_sub(1),
      _ => {}
    }
  }
  max
}

pub fn parse(entry: &str) -> Result<Payload, PayloadError> {
  let raw: Value = parse_json(entry).map_err(|e| PayloadError(format!("queue entry is not valid JSON: {e}")))?;
  let obj = raw.as_object().ok_or_else(|| PayloadError("queue entry is not a JSON object".into()))?;
  // The JS loop's claim script files such entries with these same words.
  let class = match obj.get("class") {
    Some(Value::String(c)) if !c.is_empty() => c.clone(),
    _ => return Err(PayloadError("queue entry has no \"class\" string naming the job".into())),
  };
  let args = match obj.get("args") {
    None | Some(Value::Null) => Vec::new(),
    Some(Value::Array(a)) => a.clone(),
    Some(other) => vec![other.clone()],
  };
  Ok(Payload { class, args, raw })
}

/// node-resque's failure record for the `<ns>:failed` list.
///
/// `backtrace` is an empty array, never null: node-resque's
/// `Queue#retryStuckJobs` (run by a Scheduler with `retryStuckJobs: true`)
/// reads `backtrace[1]` of every failed record and throws on null.
///
/// node-resque finds a record again (`removeFailed`, `retryAndRemoveFailed`)
/// by `JSON.stringify(JSON.parse(record))`, so the record is written as
/// JavaScript would write it: whole numbers without a fraction (`100`, not
/// `100.0`).
pub fn failure(worker: &str, queue: &str, payload: &Value, exception: &str, error: &str, failed_at: &str) -> String {
  json!({
    "worker": worker,
    "queue": queue,
    "payload": js_numbers(payload),
    "exception": exception,
    "error": error,
    "backtrace": [],
    "failed_at": failed_at,
  })
  .to_string()
}

/// `v` with every float that holds a whole number below 2^53 written as an
/// integer, as `JSON.stringify` writes it.
fn js_numbers(v: &Value) -> Value {
  match v {
    Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
      Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => json!(f as i64),
      _ => v.clone(),
    },
    Value::Array(a) => Value::Array(a.iter().map(js_numbers).collect()),
    Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), js_numbers(v))).collect()),
    _ => v.clone(),
  }
}

/// The payload to record for an entry that could not be parsed: the raw text.
pub fn unparsable(entry: &str) -> Value {
  serde_json::from_str(entry).unwrap_or_else(|_| Value::String(entry.to_string()))
}

/// A worker's ping value, node-resque's `{time, name, queues}` (time in
/// unix seconds), which its Scheduler and our recovery read.
pub fn ping(name: &str, queues: &str, now_seconds: u64) -> String {
  Value::Object(ping_fields(name, queues, now_seconds)).to_string()
}

/// The ping a worker's heartbeat thread writes (crate::alive): node-resque's
/// fields, which node-resque parses as before, and `rusque: {lag}`: how many
/// ms the worker's JS thread is behind its check-in timer. Present only in
/// pings from that thread, so it also says "written by a native thread".
pub fn ping_alive(name: &str, queues: &str, now_seconds: u64, lag_ms: u64) -> String {
  let mut m = ping_fields(name, queues, now_seconds);
  m.insert("rusque".into(), json!({ "lag": lag_ms }));
  Value::Object(m).to_string()
}

fn ping_fields(name: &str, queues: &str, now_seconds: u64) -> Map<String, Value> {
  let mut m = Map::new();
  m.insert("time".into(), json!(now_seconds));
  m.insert("name".into(), json!(name));
  m.insert("queues".into(), json!(queues));
  m
}

/// The UTC calendar date and time of a unix time: (year, month, day, hour, minute, second).
pub fn civil(unix_seconds: u64) -> (i64, u64, i64, u64, u64, u64) {
  let days = (unix_seconds / 86_400) as i64;
  let secs = unix_seconds % 86_400;
  // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
  let z = days + 719_468;
  let era = z.div_euclid(146_097);
  let doe = z - era * 146_097;
  let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  let mp = (5 * doy + 2) / 153;
  let day = doy - (153 * mp + 2) / 5 + 1;
  let month = if mp < 10 { mp + 3 } else { mp - 9 };
  let year = yoe + era * 400 + i64::from(month <= 2);
  (year, month as u64, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// JavaScript's `new Date().toString()` for a UTC clock, as node-resque
/// writes `run_at` and `failed_at`: "Fri Nov 27 2026 05:30:00 GMT+0000 (Coordinated Universal Time)".
pub fn js_date_string(unix_seconds: u64) -> String {
  const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
  const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  let (year, month, day, h, m, s) = civil(unix_seconds);
  format!(
    "{} {} {:02} {} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
    DAYS[((unix_seconds / 86_400) % 7) as usize],
    MONTHS[(month - 1) as usize],
    day,
    year,
    h,
    m,
    s
  )
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn failure_records_write_whole_numbers_as_javascript_does() {
    let payload: Value = serde_json::from_str(r#"{"class":"x","args":[{"n":100.0,"m":-3.0,"f":1.5,"i":7,"big":1e300}]}"#).unwrap();
    let record = failure("w", "q", &payload, "Error", "e", "t");
    assert!(record.contains(r#""n":100"#) && !record.contains("100.0"), "{record}");
    assert!(record.contains(r#""m":-3,"#) || record.contains(r#""m":-3}"#), "{record}");
    assert!(record.contains(r#""f":1.5"#) && record.contains(r#""i":7"#), "{record}");
  }

  #[test]
  fn parses_resque_entries() {
    let p = parse(r#"{"class":"thumb","queue":"img","args":[{"width":10}]}"#).unwrap();
    assert_eq!(p.class, "thumb");
    assert_eq!(p.args, vec![json!({"width": 10})]);
    assert!(parse("not json").unwrap_err().0.contains("not valid JSON"));
    assert!(parse(r#"{"queue":"q"}"#).unwrap_err().0.contains("no \"class\""));
    assert!(parse(r#"[1,2]"#).is_err());
    assert!(parse(r#"{"class":5}"#).unwrap_err().0.contains("no \"class\" string"));
    assert!(parse(r#"{"class":null,"args":[]}"#).unwrap_err().0.contains("no \"class\" string"));
    assert!(parse(r#"{"class":""}"#).unwrap_err().0.contains("no \"class\" string"));
    // args that are not an array are one argument, as the JS loop passes them.
    assert_eq!(parse(r#"{"class":"c","args":"x"}"#).unwrap().args, vec![json!("x")]);
  }

  #[test]
  fn nesting_up_to_cjsons_limit_parses() {
    let nested = |n: usize| format!("{{\"class\":\"c\",\"args\":[{}1{}]}}", "[".repeat(n), "]".repeat(n));
    // The entry's own object and args array are two levels.
    // On a thread with the default 2 MiB stack, as the loop's I/O threads have.
    let deep = std::thread::Builder::new().stack_size(2 << 20).spawn(move || parse(&nested(998)).map(|p| p.class)).unwrap().join().unwrap();
    assert_eq!(deep.unwrap(), "c");
    let e = parse(&nested(999)).unwrap_err();
    assert!(e.0.contains("not valid JSON") && e.0.contains("1000 levels"), "{}", e.0);
    assert_eq!(depth(br#"{"a":"[[[[\"{{"}"#), 1);
    assert!(parse_json("{} x").is_err());
    assert!(parse_json("").is_err());
    assert_eq!(parse_json(" [1] ").unwrap(), json!([1]));
  }

  #[test]
  fn date_matches_javascript() {
    // new Date(1795757400000).toString() in a UTC zone
    assert_eq!(js_date_string(1_795_757_400), "Fri Nov 27 2026 05:30:00 GMT+0000 (Coordinated Universal Time)");
    assert_eq!(js_date_string(0), "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)");
  }

  #[test]
  fn failure_record_shape() {
    let f: Value = serde_json::from_str(&failure("w", "q", &json!({"class":"x"}), "Error", "boom", "then")).unwrap();
    assert_eq!(f["worker"], "w");
    assert_eq!(f["payload"]["class"], "x");
    assert_eq!(f["error"], "boom");
    assert_eq!(f["backtrace"], json!([]), "an array, which node-resque's retryStuckJobs indexes");
  }
}
