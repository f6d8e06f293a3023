//! Remote calls: `rusque.remote()` on a web server sends `resize`,
//! `metadata` and `hash` calls to the fleet, and a Worker whose jobs include
//! `remoteJobs()` answers them in the Rust loop. Everything both sides must
//! agree on is here: the job classes, the keys a call uses, the arguments of
//! its queue entry and the bytes of its reply. The caller reaches it through
//! the glue (src/remote.rs), the worker through job.rs and worker.rs.
//!
//! A call is: the input bytes at `<ns>:rusque:call:<id>` (with a TTL), and a
//! node-resque entry `{"class":"rusque:resize","queue":...,"args":[{"call":
//! id,"reply":caller,"ttl":secs,"options":{...}}]}` on the queue. The worker
//! answers by pushing one element onto the caller's reply list
//! `<ns>:rusque:reply:<caller>` (lua/step-rust.lua, ack mode 3), only while
//! the input key exists, and deletes that key in the same step: a caller
//! that gave up (timeout, abort) deletes the input first, so no answer is
//! left behind for nobody, and a running worker that finds the input gone
//! stops the task.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::job::{KeyOutput, Kind};
use super::keys::Keys;
use super::result::metadata_json;
use rusque_core::error::{Code, Error, Result};
use rusque_core::spec::values::whole;
use rusque_core::spec::{check_keys, describe, fields};
use rusque_core::tasks::image::composite::{bytes_only, Source};
use rusque_core::tasks::image::meta::Details;
use rusque_core::tasks::image::{Encoded, Format, Metadata, OutputInfo};
use rusque_core::tasks::Output;
use rusque_core::Task;

/// The job class of each task's remote calls: the names on the queue, which
/// node-resque's tools show and `remoteJobs()` defines.
pub const CLASSES: [(Kind, &str); 3] = [(Kind::Resize, "rusque:resize"), (Kind::Metadata, "rusque:metadata"), (Kind::Hash, "rusque:hash")];

/// The class of `kind`'s remote calls.
pub fn class_of(kind: Kind) -> &'static str {
  CLASSES.iter().find(|(k, _)| *k == kind).map_or("", |(_, c)| c)
}

/// The largest reply a worker pushes: a result over it (with its header) is
/// answered with ERR_LIMIT_EXCEEDED instead. Half of Redis's default
/// `proto-max-bulk-len` (512 MiB).
pub const MAX_REPLY_BYTES: usize = 256 * 1024 * 1024;

/// How long a reply list lives after its last push, at least: a caller that
/// died is not waited for.
pub const MIN_TTL_SECONDS: u64 = 1;

/// A remote job's argument. Only its field names are read from this type.
#[derive(Deserialize)]
#[allow(dead_code)]
struct CallArgs {
  call: Option<Value>,
  reply: Option<Value>,
  ttl: Option<Value>,
  options: Option<Value>,
}

/// One remote call, as a worker reads it from its entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
  pub id: String,
  /// The input key (also the sign that the caller still waits).
  pub input: String,
  /// The caller's reply list.
  pub reply: String,
  /// Seconds the reply list lives after the push.
  pub ttl: u64,
  /// The task's options (an object).
  pub options: Value,
}

/// Ids of calls and callers: 1 to 64 of `[0-9A-Za-z_-]`, so that no entry
/// can name a key outside the call layout.
fn id(m: &Map<String, Value>, k: &str) -> Result<String> {
  match m.get(k) {
    Some(Value::String(s)) if (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => Ok(s.clone()),
    Some(v) => Err(Error::invalid(format!("a remote call's {k} must be 1 to 64 letters, digits, '-' or '_', got {}", describe(v)))),
    None => Err(Error::invalid(format!("a remote call's args need {k}"))),
  }
}

impl Call {
  /// The call a remote job's args name, under the layout `keys`.
  pub fn parse(keys: &Keys, args: &[Value]) -> Result<Call> {
    let Some(Value::Object(m)) = args.first() else {
      return Err(Error::invalid("a remote call's args must be [{ call, reply, ttl, options }] (send it with rusque.remote())"));
    };
    check_keys("remote call", m, fields::<CallArgs>(), &[])?;
    let (call, caller) = (id(m, "call")?, id(m, "reply")?);
    let ttl = match m.get("ttl") {
      None | Some(Value::Null) => MIN_TTL_SECONDS,
      Some(t) => whole(t)
        .filter(|&t| (MIN_TTL_SECONDS..=1_000_000_000).contains(&t))
        .ok_or_else(|| Error::invalid(format!("a remote call's ttl must be a positive integer of seconds, got {}", describe(t))))?,
    };
    let options = match m.get("options") {
      None | Some(Value::Null) => Value::Object(Map::new()),
      Some(v @ Value::Object(_)) => v.clone(),
      Some(v) => return Err(Error::invalid(format!("a remote call's options must be an object, got {}", describe(v)))),
    };
    Ok(Call { input: keys.call_input(&call), reply: keys.call_reply(&caller), id: call, ttl, options })
  }

  /// The queue entry of a call (node-resque's shape), for the caller.
  pub fn entry(kind: Kind, queue: &str, call: &str, caller: &str, ttl: u64, options: Value) -> String {
    json!({ "class": class_of(kind), "queue": queue, "args": [{ "call": call, "reply": caller, "ttl": ttl, "options": options }] }).to_string()
  }

  /// The reply to push for the task's `result`, and what the worker's
  /// `success` event reports of it.
  pub fn answer(&self, result: Result<Output>) -> (Value, KeyOutput) {
    self.answer_within(result, MAX_REPLY_BYTES)
  }

  /// `answer`, with replies over `max` bytes answered by ERR_LIMIT_EXCEEDED.
  fn answer_within(&self, result: Result<Output>, max: usize) -> (Value, KeyOutput) {
    let mut bytes = encode(&self.id, result);
    if bytes.len() > max {
      let e = Error::new(
        Code::LimitExceeded,
        format!("the result is {} bytes, over the {max} bytes a remote call's reply may hold; ask for a smaller output", bytes.len()),
      );
      bytes = encode(&self.id, Err(e));
    }
    (head(&bytes), KeyOutput { key: self.reply.clone(), bytes, ttl: Some(self.ttl), gate: Some(self.input.clone()) })
  }
}

/// A reply's header (what the worker's `success` event reports of it).
fn head(reply: &[u8]) -> Value {
  let header = reply.iter().position(|&b| b == b'\n').map_or(reply, |n| &reply[..n]);
  serde_json::from_slice::<Value>(header).unwrap_or(Value::Null)
}

/// The reply that replaces `reply` when Redis refused to store it (out of
/// memory, an ACL...): the same call answered with ERR_REDIS_REJECTED, so
/// its caller rejects now rather than at its timeout. With its header.
pub fn refused(reply: &[u8], why: &str) -> (Value, Vec<u8>) {
  let call = head(reply).get("call").and_then(Value::as_str).unwrap_or_default().to_string();
  let e = Error::new(Code::RedisRejected, format!("Redis refused to store this call's answer ({} bytes): {why}", reply.len()));
  let bytes = encode(&call, Err(e));
  (head(&bytes), bytes)
}

/// A call's task options for its entry (a JSON object), checked by the
/// spec as a local call's are: `composite` overlays given as bytes (named
/// `{ buffer: n }`, the n-th of `buffers`) travel as base64, and an overlay
/// named by path, key or base64 is refused as resize() refuses it (the
/// worker would otherwise read its own files or keys for the caller).
pub fn call_options(kind: Kind, options: Value, buffers: &[&[u8]]) -> Result<Value> {
  use base64::Engine;
  let mut options = if options.is_null() { Value::Object(Map::new()) } else { options };
  if let Task::Resize(o) = rusque_core::spec::task(kind, &options, &[])? {
    for (i, overlay) in o.steps.composite.iter().enumerate() {
      match overlay.input {
        Source::Buffer(n) if n < buffers.len() => {}
        Source::Buffer(n) => return Err(Error::internal(format!("an overlay names buffer {n}, of {} passed", buffers.len()))),
        _ => return Err(bytes_only(i)),
      }
    }
  }
  if let Some(Value::Array(overlays)) = options.get_mut("composite") {
    for overlay in overlays {
      let Some(input) = overlay.get_mut("input") else { continue };
      if let Some(n) = input.get("buffer").and_then(Value::as_u64) {
        let bytes = usize::try_from(n).ok().and_then(|n| buffers.get(n)).ok_or_else(|| Error::internal(format!("an overlay names buffer {n}, of {} passed", buffers.len())))?;
        *input = json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) });
      }
    }
  }
  Ok(options)
}

/// A worker's check of a call's overlays: only bytes (base64) travel in a
/// call. An entry naming a path or a key (written by hand: the caller sends
/// neither) is refused, whatever the worker's roots and key policy allow
/// its native jobs.
pub fn check_call_task(task: &Task) -> Result<()> {
  if let Task::Resize(o) = task {
    if let Some(i) = o.steps.composite.iter().position(|c| !matches!(c.input, Source::Base64(_))) {
      return Err(bytes_only(i));
    }
  }
  Ok(())
}

/// A reply: one line of JSON (`{"call":id, ...}`), a newline, then the
/// result's bytes (a resize's image; a metadata's EXIF, ICC and XMP blocks
/// one after the other, their sizes in the JSON).
pub fn encode(call: &str, result: Result<Output>) -> Vec<u8> {
  let (what, body) = match result {
    Err(e) => (json!({ "error": { "code": e.code.as_str(), "message": e.message } }), Vec::new()),
    Ok(Output::Bytes(b)) => (json!({ "bytes": b.len() }), b),
    Ok(Output::Image(e)) => (json!({ "image": super::result::info_json(&e.info) }), e.bytes),
    Ok(Output::Text(t)) => (json!({ "text": t }), Vec::new()),
    Ok(Output::Metadata(m)) => {
      let d = &m.details;
      let body = [&d.exif, &d.icc, &d.xmp].into_iter().flatten().flat_map(|b| b.iter().copied()).collect();
      (json!({ "metadata": metadata_json(&m) }), body)
    }
  };
  // The call's id first, written by hand: serde_json sorts an object's
  // keys, and a caller's give-up finds its reply by this prefix
  // (lua/call-cancel.lua).
  let mut out = reply_prefix(call).into_bytes();
  if let Value::Object(w) = what {
    for (k, v) in w {
      out.push(b',');
      out.extend(Value::String(k).to_string().into_bytes());
      out.push(b':');
      out.extend(v.to_string().into_bytes());
    }
  }
  out.extend(b"}\n");
  out.extend(body);
  out
}

/// What a reply's start is, for the caller's cleanup to find a call's reply.
pub fn reply_prefix(call: &str) -> String {
  format!("{{\"call\":{}", Value::String(call.to_string()))
}

fn bad(what: &str) -> Error {
  Error::new(Code::RedisRejected, format!("a remote call's reply is malformed ({what}): is another program writing to rusque's reply keys?"))
}

/// A reply read back: the call's id and its result, as the local call
/// would have returned it.
pub fn decode(reply: &[u8]) -> Result<(String, Result<Output>)> {
  let n = reply.iter().position(|&b| b == b'\n').ok_or_else(|| bad("no header"))?;
  let (head, body) = (&reply[..n], &reply[n + 1..]);
  let head: Map<String, Value> = serde_json::from_slice(head).map_err(|_| bad("header is not a JSON object"))?;
  let call = head.get("call").and_then(Value::as_str).ok_or_else(|| bad("no call id"))?.to_string();
  let result = if let Some(e) = head.get("error") {
    let code = e.get("code").and_then(Value::as_str).and_then(|c| Code::ALL.iter().find(|k| k.as_str() == c)).copied().unwrap_or(Code::Internal);
    Err(Error::new(code, e.get("message").and_then(Value::as_str).unwrap_or("").to_string()))
  } else if head.contains_key("bytes") {
    Ok(Output::Bytes(body.to_vec()))
  } else if let Some(t) = head.get("text").and_then(Value::as_str) {
    Ok(Output::Text(t.to_string()))
  } else if let Some(i) = head.get("image") {
    Ok(Output::Image(Encoded { bytes: body.to_vec(), info: info_of(i).ok_or_else(|| bad("image info"))? }))
  } else if let Some(m) = head.get("metadata") {
    Ok(Output::Metadata(metadata_of(m, body).ok_or_else(|| bad("metadata"))?))
  } else {
    return Err(bad("no result"));
  };
  Ok((call, result))
}

fn u32_of(v: &Value, k: &str) -> Option<u32> {
  v.get(k)?.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn info_of(i: &Value) -> Option<OutputInfo> {
  Some(OutputInfo {
    format: Format::parse(i.get("format")?.as_str()?)?,
    width: u32_of(i, "width")?,
    height: u32_of(i, "height")?,
    channels: u8::try_from(u32_of(i, "channels")?).ok()?,
    size: usize::try_from(i.get("size")?.as_u64()?).ok()?,
    pages: match (i.get("pages"), i.get("pageHeight")) {
      (None, None) => None,
      _ => Some((u32_of(i, "pages")?, u32_of(i, "pageHeight")?)),
    },
  })
}

/// `metadata_json`'s fields back into Metadata, the blocks cut from `body`.
fn metadata_of(m: &Value, body: &[u8]) -> Option<Metadata> {
  let mut rest = body;
  let mut block = |k: &str| -> Option<Option<Vec<u8>>> {
    let Some(n) = m.get(k) else { return Some(None) };
    let n = usize::try_from(n.as_u64()?).ok()?;
    if n > rest.len() {
      return None;
    }
    let (b, r) = rest.split_at(n);
    rest = r;
    Some(Some(b.to_vec()))
  };
  let (exif, icc, xmp) = (block("exifSize")?, block("iccSize")?, block("xmpSize")?);
  let opt_u32 = |k: &str| m.get(k).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
  let details = Details {
    exif,
    icc,
    xmp,
    density: m.get("density").and_then(Value::as_f64),
    is_progressive: m.get("isProgressive")?.as_bool()?,
    pages: opt_u32("pages"),
    delay: m.get("delay").and_then(|d| serde_json::from_value(d.clone()).ok()),
    loop_count: opt_u32("loop"),
    chroma_subsampling: m.get("chromaSubsampling").and_then(Value::as_str).map(String::from),
  };
  Some(Metadata {
    format: Format::parse(m.get("format")?.as_str()?)?,
    width: u32_of(m, "width")?,
    height: u32_of(m, "height")?,
    channels: u8::try_from(u32_of(m, "channels")?).ok()?,
    has_alpha: m.get("hasAlpha")?.as_bool()?,
    orientation: u8::try_from(u32_of(m, "orientation")?).ok()?,
    size: usize::try_from(m.get("size")?.as_u64()?).ok()?,
    details,
  })
}

#[cfg(test)]
mod tests {
  use super::*;
  use rusque_core::tasks::image;

  fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
  }

  #[test]
  fn every_output_comes_back_as_it_went() {
    let jpeg = fixture("320x240.jpg");
    let meta = image::metadata(&jpeg).expect("metadata");
    assert!(meta.details.exif.is_some() && meta.details.icc.is_some() && meta.details.xmp.is_some());
    let info = OutputInfo { format: Format::Png, width: 3, height: 2, channels: 4, size: 5, pages: None };
    for out in [
      Output::Bytes(vec![0, b'\n', 255]),
      Output::Text("abc\n".into()),
      Output::Image(Encoded { bytes: vec![1, 2, 3, 4, 5], info }),
      // An animation's info: its frames and the height of one.
      Output::Image(Encoded { bytes: vec![6], info: OutputInfo { height: 6, pages: Some((3, 2)), ..info } }),
      Output::Metadata(meta),
    ] {
      let bytes = encode("c1", Ok(out.clone()));
      assert!(bytes.starts_with(reply_prefix("c1").as_bytes()), "{}: the give-up finds it by its prefix", String::from_utf8_lossy(&bytes[..20]));
      let (call, back) = decode(&bytes).expect("decodes");
      assert_eq!(call, "c1");
      assert_eq!(back.expect("ok"), out);
    }
    let bytes = encode("c2", Err(Error::corrupt("bad\nbytes")));
    assert!(bytes.starts_with(reply_prefix("c2").as_bytes()));
    let e = decode(&bytes).expect("decodes").1.unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (Code::CorruptInput, "bad\nbytes"));

    assert_eq!(decode(b"{\"call\":1}\n").unwrap_err().code, Code::RedisRejected);
    assert_eq!(decode(b"no newline").unwrap_err().code, Code::RedisRejected);
  }

  #[test]
  fn an_answer_over_the_limit_is_an_error_and_is_gated_by_the_input_key() {
    let call = Call::parse(&Keys::new("ns"), &[json!({ "call": "c", "reply": "r", "ttl": 7 })]).expect("parses");
    let (event, out) = call.answer_within(Ok(Output::Bytes(vec![1; 100])), 50);
    assert_eq!(event["error"]["code"], "ERR_LIMIT_EXCEEDED");
    assert!(out.bytes.len() <= 300, "the error replaces the bytes");
    let e = decode(&out.bytes).expect("decodes").1.unwrap_err();
    assert!(e.message.contains("over the 50 bytes"), "{}", e.message);
    assert_eq!((out.key.as_str(), out.ttl, out.gate.as_deref()), ("ns:rusque:reply:r", Some(7), Some("ns:rusque:call:c")));
    let (event, out) = call.answer_within(Ok(Output::Bytes(vec![1; 10])), 50);
    assert_eq!(event, json!({ "call": "c", "bytes": 10 }));
    assert_eq!(decode(&out.bytes).expect("decodes").1.expect("ok"), Output::Bytes(vec![1; 10]));
  }

  #[test]
  fn a_caller_sends_overlays_as_bytes_only() {
    let with = |input: Value| call_options(Kind::Resize, json!({ "width": 10, "composite": [{ "input": { "buffer": 0 } }, { "input": input }] }), &[b"ab", b"cd"]);
    for input in [json!({ "key": "secret" }), json!({ "path": "/etc/passwd" }), json!({ "base64": "AAAA" })] {
      let e = with(input.clone()).unwrap_err();
      assert_eq!(e.code, Code::InvalidArg, "{input}");
      assert!(e.message.starts_with("composite[1].input: a path, key or base64"), "{}", e.message);
    }
    let sent = with(json!({ "buffer": 1 })).expect("buffers travel");
    assert_eq!(sent["composite"][0]["input"], json!({ "base64": "YWI=" }));
    assert_eq!(sent["composite"][1]["input"], json!({ "base64": "Y2Q=" }));
    assert_eq!(with(json!({ "buffer": 2 })).unwrap_err().code, Code::Internal);
  }

  #[test]
  fn a_refused_answer_becomes_a_small_error_for_the_same_call() {
    let answer = encode("c9", Ok(Output::Bytes(vec![7; 1000])));
    let (event, bytes) = refused(&answer, "OOM command not allowed");
    assert!(bytes.len() < 200 && bytes.starts_with(reply_prefix("c9").as_bytes()));
    assert_eq!(event["error"]["code"], "ERR_REDIS_REJECTED");
    let (call, e) = decode(&bytes).expect("decodes");
    let e = e.unwrap_err();
    assert_eq!((call.as_str(), e.code), ("c9", Code::RedisRejected));
    assert!(e.message.contains(&format!("({} bytes)", answer.len())) && e.message.contains("OOM"), "{}", e.message);
  }

  #[test]
  fn calls_name_only_their_own_keys() {
    let keys = Keys::new("resque");
    let entry: Value = serde_json::from_str(&Call::entry(Kind::Hash, "rusque", "a1", "w9", 30, json!({ "algorithm": "md5" }))).unwrap();
    assert_eq!(entry["class"], "rusque:hash");
    let call = Call::parse(&keys, entry["args"].as_array().unwrap()).expect("parses");
    assert_eq!(call, Call { id: "a1".into(), input: "resque:rusque:call:a1".into(), reply: "resque:rusque:reply:w9".into(), ttl: 30, options: json!({ "algorithm": "md5" }) });
    for bad in [json!([{ "call": "../x", "reply": "w" }]), json!([{ "call": "a", "reply": "w:x" }]), json!([{ "reply": "w" }]), json!([{ "call": "a", "reply": "w", "input": {} }]), json!(["x"])] {
      assert_eq!(Call::parse(&keys, bad.as_array().unwrap()).unwrap_err().code, Code::InvalidArg, "{bad}");
    }
  }
}
