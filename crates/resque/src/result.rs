//! A native job's result as JSON: what the success event carries, what the
//! Redis result and a `key`/`path` output hold. Both loops build it here
//! (through `Spec::finish`), so they report a task's output alike.
//!
//! Metadata keeps sharp's names and meanings with one difference: the EXIF,
//! ICC and XMP blocks are not copied into the JSON (a profile alone can be
//! hundreds of KiB, and base64 in every success event and Redis result would
//! cost more than most jobs read); their sizes in bytes are reported as
//! `exifSize`, `iccSize` and `xmpSize` when present, beside `hasProfile`.
//! `metadata()` in JS returns the blocks themselves, as Buffers.

use serde_json::{json, Map, Value};

use rusque_core::tasks::image::{Metadata, OutputInfo};
use rusque_core::tasks::Output;

/// The bytes a `key`/`path` output stores, and the result's JSON.
pub fn of(output: Output) -> (Vec<u8>, Value) {
  match output {
    Output::Bytes(b) => {
      let n = b.len();
      (b, json!({ "size": n }))
    }
    Output::Image(e) => {
      let v = info_json(&e.info);
      (e.bytes, v)
    }
    Output::Text(t) => (t.clone().into_bytes(), Value::String(t)),
    Output::Metadata(m) => {
      let v = metadata_json(&m);
      (v.to_string().into_bytes(), v)
    }
  }
}

/// sharp's `info` of a resize's output (`resolveWithObject: true`).
pub fn info_json(i: &OutputInfo) -> Value {
  let mut v = json!({ "size": i.size, "format": i.format.name(), "width": i.width, "height": i.height, "channels": i.channels });
  if let Some((pages, page_height)) = i.pages {
    v["pages"] = json!(pages);
    v["pageHeight"] = json!(page_height);
  }
  v
}

/// `metadata()`'s fields as JSON; an optional field is absent when the
/// format has none, as in `metadata()`.
pub fn metadata_json(m: &Metadata) -> Value {
  let d = &m.details;
  let mut o = Map::new();
  let mut put = |k: &str, v: Value| {
    o.insert(k.to_string(), v);
  };
  put("format", json!(m.format.name()));
  put("width", json!(m.width));
  put("height", json!(m.height));
  put("channels", json!(m.channels));
  put("hasAlpha", json!(m.has_alpha));
  put("orientation", json!(m.orientation));
  put("size", json!(m.size));
  if let Some(v) = d.density {
    put("density", json!(v));
  }
  if let Some(v) = &d.chroma_subsampling {
    put("chromaSubsampling", json!(v));
  }
  put("isProgressive", json!(d.is_progressive));
  if let Some(v) = d.pages {
    put("pages", json!(v));
  }
  if let Some(v) = &d.delay {
    put("delay", json!(v));
  }
  if let Some(v) = d.loop_count {
    put("loop", json!(v));
  }
  put("hasProfile", json!(m.has_profile()));
  for (k, v) in [("exifSize", &d.exif), ("iccSize", &d.icc), ("xmpSize", &d.xmp)] {
    if let Some(b) = v {
      put(k, json!(b.len()));
    }
  }
  Value::Object(o)
}

#[cfg(test)]
mod tests {
  use super::*;
  use rusque_core::tasks::image::{self, Format};

  #[test]
  fn metadata_reports_block_sizes_not_bytes() {
    let jpeg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/images/320x240.jpg")).expect("fixture");
    let v = metadata_json(&image::metadata(&jpeg).expect("metadata"));
    assert_eq!(v["density"], json!(72.0));
    assert_eq!(v["chromaSubsampling"], json!("4:4:4"));
    assert_eq!((v["hasProfile"].clone(), v["isProgressive"].clone()), (json!(true), json!(false)));
    assert_eq!((v["exifSize"].clone(), v["iccSize"].clone(), v["xmpSize"].clone()), (json!(11399), json!(3144), json!(2565)));
    for absent in ["exif", "icc", "xmp", "pages", "delay", "loop"] {
      assert!(v.get(absent).is_none(), "{absent}");
    }
  }

  #[test]
  fn resize_info_beside_size() {
    let info = OutputInfo { format: Format::Png, width: 3, height: 2, channels: 4, size: 99, pages: None };
    assert_eq!(info_json(&info), json!({ "size": 99, "format": "png", "width": 3, "height": 2, "channels": 4 }));
    let info = OutputInfo { format: Format::Gif, width: 3, height: 6, channels: 4, size: 99, pages: Some((3, 2)) };
    let v = json!({ "size": 99, "format": "gif", "width": 3, "height": 6, "channels": 4, "pages": 3, "pageHeight": 2 });
    assert_eq!(info_json(&info), v);
  }
}
