//! Any text as `vocab.json`: reading it never panics, and an accepted vocabulary encodes and
//! decodes its own tokens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_data::Vocabulary;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(v) = serde_json::from_str::<Vocabulary>(text) else {
        return;
    };
    if v.validate().is_ok() {
        let word: String = v.tokens().iter().skip(1).collect();
        let ids = v.encode(&word).expect("its own tokens encode");
        assert_eq!(v.decode(&ids).expect("and decode"), word);
    }
});
