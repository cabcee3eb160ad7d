//! Reading a one-item-per-line corpus: UTF-8, `\r\n`, trimming, blank lines, item length, and
//! every error naming the file and line.

use std::path::{Path, PathBuf};

/// The longest item (in characters) a corpus may hold. Names are a few dozen characters; a
/// "line" of megabytes is almost certainly a file that is not a one-item-per-line corpus.
pub const MAX_ITEM_CHARS: usize = 1_000;

/// A corpus: one item per line, trimmed, blank lines skipped.
///
/// ```
/// use makemore_data::Corpus;
/// let c = Corpus::from_text("anna\r\n\n  bob \n", "inline", '.', None).unwrap();
/// assert_eq!(c.items, vec!["anna", "bob"]);
/// assert_eq!(c.blank_lines, 1);
/// ```
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Where the corpus came from (a path, or a label for in-memory text).
    pub source: String,
    /// The items, in file order.
    pub items: Vec<String>,
    /// How many blank (or whitespace-only) lines were skipped.
    pub blank_lines: usize,
}

/// Why a corpus could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The path does not exist.
    #[error("{path}: no such file")]
    NotFound {
        /// The path asked for.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("{path}: is a directory, expected a text file with one item per line")]
    IsDirectory {
        /// The path asked for.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        /// The path asked for.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is UTF-16 (it starts with UTF-16's byte-order mark), as some editors save "Unicode"
    /// text.
    #[error(
        "{source_name}: is {encoding} (it starts with the byte-order mark {bom}); save it as UTF-8"
    )]
    Utf16 {
        /// Where the text came from.
        source_name: String,
        /// The encoding the mark is of: UTF-16 or UTF-32.
        encoding: &'static str,
        /// The byte-order mark found, in hex.
        bom: &'static str,
    },
    /// The text holds a NUL character, which no text editor writes: a binary file, or UTF-16
    /// without its byte-order mark.
    #[error("{source_name}: line {line}: a NUL byte; this is a binary file or UTF-16 without a byte-order mark, not UTF-8 text")]
    Nul {
        /// Where the text came from.
        source_name: String,
        /// The 1-based line of the first NUL.
        line: usize,
    },
    /// The bytes are not UTF-8.
    #[error("{source_name}: line {line}: invalid UTF-8 at byte offset {offset}")]
    InvalidUtf8 {
        /// The file.
        source_name: String,
        /// 1-based line of the bad byte.
        line: usize,
        /// 0-based byte offset of the first invalid byte in the file.
        offset: usize,
    },
    /// No item at all (empty file or only blank lines).
    #[error("{source_name}: no items (the file is empty or has only blank lines)")]
    Empty {
        /// The file.
        source_name: String,
    },
    /// An item contains the boundary token.
    #[error("{source_name}: line {line}: item {item:?} contains the boundary token {boundary:?}")]
    BoundaryInItem {
        /// The file.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// The offending item.
        item: String,
        /// The boundary token.
        boundary: char,
    },
    /// An item is longer than the limit.
    #[error("{source_name}: line {line}: item has {len} characters, more than the limit of {max}")]
    ItemTooLong {
        /// The file.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl Corpus {
    /// Reads a corpus file. `max_item_chars` defaults to [`MAX_ITEM_CHARS`].
    pub fn load(
        path: &Path,
        boundary: char,
        max_item_chars: Option<usize>,
    ) -> Result<Self, CorpusError> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CorpusError::NotFound {
                path: path.to_owned(),
            },
            _ => CorpusError::Unreadable {
                path: path.to_owned(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            return Err(CorpusError::IsDirectory {
                path: path.to_owned(),
            });
        }
        // A FIFO or a device may never end: only a file is read.
        if !meta.is_file() {
            return Err(CorpusError::Unreadable {
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a regular file (a device, FIFO or socket)",
                ),
            });
        }
        let bytes = std::fs::read(path).map_err(|e| CorpusError::Unreadable {
            path: path.to_owned(),
            source: e,
        })?;
        Self::from_bytes(
            &bytes,
            &path.display().to_string(),
            boundary,
            max_item_chars,
        )
    }

    /// Parses a corpus from bytes; `source_name` is used in error messages.
    pub fn from_bytes(
        bytes: &[u8],
        source_name: &str,
        boundary: char,
        max_item_chars: Option<usize>,
    ) -> Result<Self, CorpusError> {
        let utf16 = match bytes {
            [0xFF, 0xFE, 0, 0, ..] => Some(("UTF-32", "FF FE 00 00")),
            [0, 0, 0xFE, 0xFF, ..] => Some(("UTF-32", "00 00 FE FF")),
            [0xFF, 0xFE, ..] => Some(("UTF-16", "FF FE")),
            [0xFE, 0xFF, ..] => Some(("UTF-16", "FE FF")),
            _ => None,
        };
        if let Some((encoding, bom)) = utf16 {
            return Err(CorpusError::Utf16 {
                source_name: source_name.to_owned(),
                encoding,
                bom,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let offset = e.valid_up_to();
            CorpusError::InvalidUtf8 {
                source_name: source_name.to_owned(),
                line: 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count(),
                offset,
            }
        })?;
        Self::from_text(text, source_name, boundary, max_item_chars)
    }

    /// Parses a corpus from text; `source_name` is used in error messages.
    pub fn from_text(
        text: &str,
        source_name: &str,
        boundary: char,
        max_item_chars: Option<usize>,
    ) -> Result<Self, CorpusError> {
        let max = max_item_chars.unwrap_or(MAX_ITEM_CHARS);
        let mut items = Vec::new();
        let mut blank_lines = 0;
        // Whatever an editor wrote: a UTF-8 byte-order mark is not part of the first item, and
        // lines end in "\n", "\r\n" or (classic Mac OS) "\r"; a final line without an end is
        // still a line. Trailing and leading whitespace is trimmed below.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if let Some(at) = text.find('\0') {
            return Err(CorpusError::Nul {
                source_name: source_name.to_owned(),
                line: 1 + text[..at].matches('\n').count(),
            });
        }
        let unified;
        let text = if text.contains('\r') {
            unified = text.replace("\r\n", "\n").replace('\r', "\n");
            unified.as_str()
        } else {
            text
        };
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            // A byte-order mark inside the file (two files joined) is not part of an item.
            let item = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            if item.is_empty() {
                blank_lines += 1;
                continue;
            }
            if item.contains(boundary) {
                return Err(CorpusError::BoundaryInItem {
                    source_name: source_name.to_owned(),
                    line,
                    item: item.to_owned(),
                    boundary,
                });
            }
            let len = item.chars().count();
            if len > max {
                return Err(CorpusError::ItemTooLong {
                    source_name: source_name.to_owned(),
                    line,
                    len,
                    max,
                });
            }
            items.push(item.to_owned());
        }
        if items.is_empty() {
            return Err(CorpusError::Empty {
                source_name: source_name.to_owned(),
            });
        }
        Ok(Self {
            source: source_name.to_owned(),
            items,
            blank_lines,
        })
    }

    /// The number of characters in the longest item.
    pub fn longest_item(&self) -> usize {
        self.items
            .iter()
            .map(|i| i.chars().count())
            .max()
            .unwrap_or(0)
    }

    /// Total number of characters over all items.
    pub fn total_chars(&self) -> usize {
        self.items.iter().map(|i| i.chars().count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_editors_line_ends_and_a_byte_order_mark_give_the_same_items() {
        let plain = Corpus::from_text("anna\nbob\ncy", "t", '.', None).unwrap();
        for text in [
            "\u{feff}anna\nbob\ncy",
            "anna\r\nbob\r\ncy\r\n",
            "anna\rbob\rcy\r",
            "\u{feff}anna \t\r\n  bob\r\n\r\ncy  ",
            "anna\n\u{feff}bob\ncy\n",
        ] {
            let c = Corpus::from_text(text, "t", '.', None).unwrap();
            assert_eq!(c.items, plain.items, "{text:?}");
        }
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("anna\n".encode_utf16().flat_map(u16::to_le_bytes));
        let e = Corpus::from_bytes(&utf16, "names16.txt", '.', None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "names16.txt: is UTF-16 (it starts with the byte-order mark FF FE); save it as UTF-8"
        );
        let mut no_bom = Vec::new();
        no_bom.extend("anna\nbob\n".encode_utf16().flat_map(u16::to_le_bytes));
        let e = Corpus::from_bytes(&no_bom, "names16.txt", '.', None).unwrap_err();
        assert!(
            e.to_string().starts_with("names16.txt: line 1: a NUL byte"),
            "{e}"
        );
        let utf32 = [0xFF, 0xFE, 0, 0, b'a', 0, 0, 0];
        let e = Corpus::from_bytes(&utf32, "n32.txt", '.', None).unwrap_err();
        assert!(e.to_string().starts_with("n32.txt: is UTF-32"), "{e}");
        // A lone carriage return still ends a line: errors name the right one.
        let e = Corpus::from_text("ok\rbad.item\r", "t", '.', None).unwrap_err();
        assert!(e.to_string().starts_with("t: line 2:"), "{e}");
    }

    #[test]
    fn crlf_and_blank_lines() {
        let c = Corpus::from_text("a\r\nb\r\n\r\n   \nc", "t", '.', None).unwrap();
        assert_eq!(c.items, ["a", "b", "c"]);
        assert_eq!(c.blank_lines, 2);
    }

    #[test]
    fn invalid_utf8_reports_line_and_offset() {
        let err = Corpus::from_bytes(b"ab\ncd\n\xffx", "f.txt", '.', None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.txt: line 3: invalid UTF-8 at byte offset 6"
        );
    }

    #[test]
    fn boundary_in_item_names_line() {
        let err = Corpus::from_text("ab\nc.d\n", "f.txt", '.', None).unwrap_err();
        assert!(err.to_string().starts_with("f.txt: line 2: item \"c.d\""));
    }

    #[test]
    fn too_long() {
        let err = Corpus::from_text("abc\nabcdef\n", "f", '.', Some(4)).unwrap_err();
        assert!(matches!(
            err,
            CorpusError::ItemTooLong {
                line: 2,
                len: 6,
                max: 4,
                ..
            }
        ));
    }

    #[test]
    fn empty_and_only_blank() {
        assert!(matches!(
            Corpus::from_text("", "f", '.', None),
            Err(CorpusError::Empty { .. })
        ));
        assert!(matches!(
            Corpus::from_text("\n \n\n", "f", '.', None),
            Err(CorpusError::Empty { .. })
        ));
    }

    #[test]
    fn unicode_items() {
        let c = Corpus::from_text("zoë\nrené\n", "f", '.', None).unwrap();
        assert_eq!(c.longest_item(), 4);
    }
}
