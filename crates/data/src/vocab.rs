//! The character vocabulary: the boundary token at 0, the rest sorted; encoding and decoding.

use serde::{Deserialize, Serialize};

/// Character-level vocabulary: the boundary token at index 0, then every other character that
/// occurs in the corpus, in sorted order.
///
/// ```
/// use makemore_data::Vocabulary;
/// let v = Vocabulary::from_items(&["bob".to_string(), "al".to_string()], '.').unwrap();
/// assert_eq!(v.tokens(), &['.', 'a', 'b', 'l', 'o']);
/// let ids = v.encode("blob").unwrap();
/// assert_eq!(ids, [2, 3, 4, 2]);
/// assert_eq!(v.decode(&ids).unwrap(), "blob");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocabulary {
    tokens: Vec<char>,
}

/// Encoding or decoding failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VocabularyError {
    /// A character is not in the vocabulary.
    #[error("character {0:?} is not in the vocabulary")]
    UnknownChar(char),
    /// A token index is out of range.
    #[error("token {index} is out of range for a vocabulary of {len}")]
    UnknownToken {
        /// The index.
        index: u32,
        /// The vocabulary size.
        len: usize,
    },
    /// An item holds the boundary token.
    #[error("an item contains the boundary token {0:?}")]
    BoundaryInItem(char),
    /// A serialized vocabulary is malformed.
    #[error("malformed vocabulary: {0}")]
    Malformed(String),
}

impl Vocabulary {
    /// Builds the vocabulary of `items` with `boundary` at index 0.
    pub fn from_items(items: &[String], boundary: char) -> Result<Self, VocabularyError> {
        let mut chars: Vec<char> = items.iter().flat_map(|i| i.chars()).collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.binary_search(&boundary).is_ok() {
            return Err(VocabularyError::BoundaryInItem(boundary));
        }
        let mut tokens = Vec::with_capacity(chars.len() + 1);
        tokens.push(boundary);
        tokens.extend(chars);
        Ok(Self { tokens })
    }

    /// Checks a deserialized vocabulary: non-empty, no duplicates, sorted after the boundary.
    pub fn validate(&self) -> Result<(), VocabularyError> {
        let Some((_, rest)) = self.tokens.split_first() else {
            return Err(VocabularyError::Malformed("no tokens".into()));
        };
        if rest.windows(2).any(|w| w[0] >= w[1]) || rest.contains(&self.tokens[0]) {
            return Err(VocabularyError::Malformed(
                "tokens after the boundary must be unique and sorted".into(),
            ));
        }
        Ok(())
    }

    /// Number of tokens, boundary included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always false: a vocabulary holds at least the boundary token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The boundary token (index 0).
    pub fn boundary(&self) -> char {
        self.tokens[0]
    }

    /// All tokens, by index.
    pub fn tokens(&self) -> &[char] {
        &self.tokens
    }

    /// Index of one character.
    pub fn index_of(&self, c: char) -> Result<u32, VocabularyError> {
        if c == self.tokens[0] {
            return Ok(0);
        }
        self.tokens[1..]
            .binary_search(&c)
            .map(|i| i as u32 + 1)
            .map_err(|_| VocabularyError::UnknownChar(c))
    }

    /// Encodes a string, one token per character.
    pub fn encode(&self, s: &str) -> Result<Vec<u32>, VocabularyError> {
        s.chars().map(|c| self.index_of(c)).collect()
    }

    /// Decodes token indices back to a string.
    pub fn decode(&self, ids: &[u32]) -> Result<String, VocabularyError> {
        ids.iter()
            .map(|&i| {
                self.tokens
                    .get(i as usize)
                    .copied()
                    .ok_or(VocabularyError::UnknownToken {
                        index: i,
                        len: self.tokens.len(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    /// Random items (1..20 of them, 1..=12 characters each) drawn from letters, digits, spaces,
    /// accented and non-Latin characters: anything but the boundary token and a line end.
    fn random_items(rng: &mut ChaCha8Rng) -> Vec<String> {
        const CHARS: &[char] = &[
            'a', 'b', 'z', 'A', 'Q', '0', '9', ' ', '-', '\'', 'é', 'ß', 'ø', 'ж', 'λ', '中', '😀',
        ];
        let count = 1 + rng.next_u32() as usize % 19;
        (0..count)
            .map(|_| {
                let len = 1 + rng.next_u32() as usize % 12;
                (0..len)
                    .map(|_| CHARS[rng.next_u32() as usize % CHARS.len()])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..256 {
            let items = random_items(&mut rng);
            let v = Vocabulary::from_items(&items, '.').unwrap();
            v.validate().unwrap();
            for item in &items {
                let ids = v.encode(item).unwrap();
                assert!(ids.iter().all(|&i| i > 0 && (i as usize) < v.len()));
                assert_eq!(&v.decode(&ids).unwrap(), item);
            }
        }
    }

    #[test]
    fn unknown_char_and_token() {
        let v = Vocabulary::from_items(&["ab".into()], '.').unwrap();
        assert_eq!(v.encode("abc"), Err(VocabularyError::UnknownChar('c')));
        assert!(v.decode(&[5]).is_err());
    }
}
