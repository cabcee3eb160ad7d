//! Any bytes as a corpus file: parsing never panics, and whatever parses round-trips through the
//! vocabulary and becomes windows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use makemore_data::{Corpus, Vocabulary, Windows};

fuzz_target!(|data: &[u8]| {
    let Ok(corpus) = Corpus::from_bytes(data, "fuzz", '.', Some(64)) else {
        return;
    };
    assert!(!corpus.items.is_empty());
    let vocab = Vocabulary::from_items(&corpus.items, '.').expect("a parsed corpus has no boundary token");
    for item in &corpus.items {
        assert_eq!(item.trim(), item);
        let ids = vocab.encode(item).expect("every character is in the vocabulary");
        assert_eq!(&vocab.decode(&ids).expect("ids decode"), item);
    }
    let w = Windows::build(&corpus.items, &vocab, 3).expect("windows build");
    assert_eq!(w.len(), corpus.items.iter().map(|i| i.chars().count() + 1).sum::<usize>());
});
