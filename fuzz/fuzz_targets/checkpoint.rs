//! Any text as `checkpoint.json`: reading it never panics, and what is accepted has a digest
//! that matches and weights that verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_model::Checkpoint;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Checkpoint::from_text(text, Path::new("fuzz/checkpoint.json")) {
        let again = c.to_text().expect("an accepted checkpoint serializes");
        Checkpoint::from_text(&again, Path::new("fuzz")).expect("and reads back");
    }
});
