//! For benchmark/ only, not part of the API (not in index.js nor the docs):
//! the resize pipeline's stages timed alone (rusque_core's image::stages).
//! A napi function rather than a Rust bench binary so that the stages run
//! from the very build, profile and libjpeg-turbo SIMD level the benchmark
//! measures end to end, in the same run, beside sharp.

use napi_derive::napi;
use rusque_core::tasks::image::stages;
use rusque_core::Task;

use crate::error::{self, invalid, to_napi};
use crate::spec::TaskSpec;

/// Median milliseconds per stage (image::stages::StageTimes).
#[napi(object)]
pub struct BenchStages {
  pub header: f64,
  pub decode: f64,
  pub colour: f64,
  pub dct_scale: u32,
  pub orient: f64,
  pub resample: f64,
  pub profile: f64,
  pub embed: f64,
  pub encode: f64,
  pub encode_colour: f64,
  pub pipeline: f64,
}

/// Runs on the calling (JS) thread and blocks it: `reps` of each stage.
#[napi(js_name = "__benchStages")]
pub fn bench_stages(input: &[u8], spec: &TaskSpec, reps: u32) -> error::Result<BenchStages> {
  let Task::Resize(opts) = &spec.task else { return Err(invalid("__benchStages times resizes only".into())) };
  let t = stages::stages(input, opts, reps).map_err(to_napi)?;
  let ms = |ns: i64| ns as f64 / 1e6;
  Ok(BenchStages {
    header: ms(t.header),
    decode: ms(t.decode),
    colour: ms(t.colour),
    dct_scale: t.dct_scale,
    orient: ms(t.orient),
    resample: ms(t.resample),
    profile: ms(t.profile),
    embed: ms(t.embed),
    encode: ms(t.encode),
    encode_colour: ms(t.encode_colour),
    pipeline: ms(t.pipeline),
  })
}
