#![no_main]

use libfuzzer_sys::fuzz_target;

// Header-only path for every format: JPEG marker walk and EXIF, image crate
// headers for PNG, WebP and GIF.
fuzz_target!(|data: &[u8]| rusque_fuzz::check_metadata(data));
