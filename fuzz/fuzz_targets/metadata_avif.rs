#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};
use rusque_core::tasks::image::{header, Format};

// The AVIF header walk (ISOBMFF boxes: ftyp, meta, pitm, iprp/ipco/ipma,
// ispe, auxC) on its own, so the fuzzer's time goes to it; inputs that do not
// sniff as AVIF leave the corpus.
fuzz_target!(|data: &[u8]| -> Corpus {
  if header::sniff(data) != Some(Format::Avif) {
    return Corpus::Reject;
  }
  rusque_fuzz::check_metadata(data);
  Corpus::Keep
});
