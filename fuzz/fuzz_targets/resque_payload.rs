#![no_main]

use libfuzzer_sys::{fuzz_target, Corpus};

// A queue entry as it sits in Redis, through the worker's parsing: the
// payload, each native task's spec from its args, and the failure record
// written back for it. Nothing may panic, and every record must be JSON.
fuzz_target!(|data: &[u8]| -> Corpus {
  // Redis hands the worker strings; invalid UTF-8 is refused before parsing.
  let Ok(entry) = std::str::from_utf8(data) else { return Corpus::Reject };
  rusque_fuzz::check_resque_entry(entry);
  Corpus::Keep
});
