//! How reading an event file fails.

/// Why bytes could not be read as a TensorBoard event file. Every variant names the byte offset
/// at which the offending record starts.
#[derive(Debug, thiserror::Error)]
pub enum TbError {
    /// The bytes end inside a record (a partial write, or a file cut short).
    #[error(
        "truncated record at byte offset {offset}: its {part} needs {needed} bytes from there, \
         only {available} remain"
    )]
    Truncated {
        /// Where the record starts.
        offset: usize,
        /// Which part is cut short: `"length header"` or `"payload"`.
        part: &'static str,
        /// Bytes the record needs from `offset` (as far as its header tells).
        needed: u64,
        /// Bytes left from `offset` to the end.
        available: usize,
    },
    /// A CRC does not match: of the 8 length bytes (then the length itself cannot be trusted),
    /// or of the payload (then the record is corrupt).
    #[error(
        "record at byte offset {offset}: {part} CRC mismatch (stored {stored:#010x}, \
         computed {computed:#010x})"
    )]
    Crc {
        /// Where the record starts (its payload starts 12 bytes later).
        offset: usize,
        /// `"length"` or `"payload"`.
        part: &'static str,
        /// The masked CRC stored in the file.
        stored: u32,
        /// The masked CRC of the bytes as read.
        computed: u32,
    },
    /// The framing is intact but the payload is not a `tensorflow.Event`.
    #[error("record at byte offset {offset}: not a tensorflow.Event protocol buffer: {source}")]
    Protobuf {
        /// Where the record starts.
        offset: usize,
        /// What the protobuf decoder objected to.
        #[source]
        source: prost::DecodeError,
    },
    /// [`super::EventLog::from_bytes`] only: the first record (at byte offset 0) is not a
    /// `file_version` event, or there is no record at all.
    #[error("byte offset 0: no file_version event starts the file, so it is not an event file")]
    MissingFileVersion,
}
