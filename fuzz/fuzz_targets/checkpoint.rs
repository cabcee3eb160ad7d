//! Any text as the body of `checkpoint.json` (its digest line is computed here, so that the
//! fuzzer reaches the parser and the structural checks rather than stopping at the checksum):
//! reading it never panics, and what is accepted writes out and reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_train::Checkpoint;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let text = format!("{}\n{body}", makemore_files::sha256_hex(body.as_bytes()));
    if let Ok(c) = Checkpoint::from_text(&text, Path::new("fuzz/checkpoint.json")) {
        let again = c.to_text().expect("an accepted checkpoint serializes");
        Checkpoint::from_text(&again, Path::new("fuzz")).expect("and reads back");
        let _ = c.records();
        let _ = c.first_non_finite();
    }
});
