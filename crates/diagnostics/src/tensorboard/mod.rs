//! TensorBoard event files, written and read without TensorFlow: the TFRecord framing, the
//! `tensorflow.Event` protocol buffers inside it (scalars, histograms and images), and the
//! in-memory [`EventLog`] a training run keeps so that it can rewrite the whole file at each
//! checkpoint and cut it back to the checkpoint's step on resume.
//!
//! ```
//! use makemore_diagnostics::tensorboard::{read_events, EventLog, TbHistogram};
//!
//! let mut log = EventLog::new(1_700_000_000.0);
//! log.push_scalar("loss/train", 0, 1_700_000_001.0, 2.5);
//! let h = TbHistogram::from_bins(-1.0, 1.0, &[1, 3, 4, 0], 0.5, 2.0);
//! log.push_histogram("activations/layer 2 (Tanh)", 0, 1_700_000_001.0, &h);
//! log.push_scalar("loss/train", 10, 1_700_000_002.0, 2.1);
//! // `log.as_bytes()` is the whole file; write it atomically (temp file + rename).
//!
//! // On resume from a checkpoint taken at step 0: read the file back, drop what came later.
//! let mut resumed = EventLog::from_bytes(log.as_bytes())?;
//! resumed.truncate_after(0);
//! assert_eq!(resumed.last_step(), Some(0));
//! let events = read_events(resumed.as_bytes())?;
//! assert_eq!(events.len(), 3); // file_version, one scalar, one histogram
//! assert_eq!(events[1].scalar("loss/train"), Some(2.5));
//! assert_eq!(events[2].histogram("activations/layer 2 (Tanh)"), Some(&h));
//! # Ok::<(), makemore_diagnostics::tensorboard::TbError>(())
//! ```
//!
//! Each record is framed as TFRecord: the payload length as a little-endian `u64`, the masked
//! CRC-32C of those 8 bytes, the payload, the masked CRC-32C of the payload (see
//! [`masked_crc32c`]). The first event of a file carries `file_version: "brain.Event:2"`; with
//! version 2 TensorBoard purges data only on an explicit restart marker, never merely because
//! steps go backwards between tags.
//!
//! Scalars are written as `Summary.Value.simple_value`, histograms as `Summary.Value.histo`
//! (a `HistogramProto`) and images as `Summary.Value.image` (an encoded PNG, see
//! [`EventLog::push_image`]), without plugin metadata: TensorBoard's `EventAccumulator` reads
//! them as Scalars, Histograms and Images, and its plugin loader migrates them to the scalar,
//! histogram and image plugins itself.

mod error;
mod framing;
mod image;
mod proto;
mod records;

pub use error::TbError;
pub use framing::masked_crc32c;
use framing::{frame, next_record};
use prost::Message;

/// The `file_version` string of the first event of every file written here.
pub const FILE_VERSION: &str = "brain.Event:2";

/// The name TensorFlow and TensorBoard give an event file:
/// `events.out.tfevents.{secs:010}.{host}.{pid}.0`.
///
/// TensorBoard only requires `tfevents` in the name, and reads the files of a directory in
/// name order, so the zero-padded time keeps later runs later. Characters of `host` other than
/// ASCII letters, digits, `-` and `_` (and `.`) are replaced by `_` so that the name stays one
/// path component; an empty `host` becomes `localhost`.
pub fn event_file_name(wall_time_secs: u64, host: &str, pid: u32) -> String {
    let host: String = if host.is_empty() {
        "localhost".to_owned()
    } else {
        host.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("events.out.tfevents.{wall_time_secs:010}.{host}.{pid}.0")
}

/// A histogram as TensorBoard's `HistogramProto` holds it.
///
/// Bucket `i` counts `bucket[i]` values in `(bucket_limit[i - 1], bucket_limit[i]]`; the first
/// bucket has no stored left edge. TensorBoard takes `min` as the left edge of the first
/// non-empty bucket and `max` as the right edge of the last non-empty one (both its histogram
/// dashboard, which drops empty buckets at either end, and its distribution compressor do so),
/// so `min` and `max` must lie inside those buckets for the picture to be right.
#[derive(Debug, Clone, PartialEq)]
pub struct TbHistogram {
    /// The smallest value, or a lower bound on it inside the first non-empty bucket.
    pub min: f64,
    /// The largest value, or an upper bound on it inside the last non-empty bucket.
    pub max: f64,
    /// How many values (the sum of `bucket`).
    pub num: f64,
    /// The sum of the values.
    pub sum: f64,
    /// The sum of the squares of the values.
    pub sum_squares: f64,
    /// The right edge of each bucket, increasing.
    pub bucket_limit: Vec<f64>,
    /// The count in each bucket; as long as `bucket_limit`.
    pub bucket: Vec<f64>,
}

impl TbHistogram {
    /// A histogram of `counts.len()` equal-width bins over `[lo, hi]`, bin `i` covering
    /// `[lo + i·w, lo + (i+1)·w]` with `w = (hi - lo) / counts.len()`. `sum` and `sum_squares`
    /// are the sum of the values and of their squares (TensorBoard keeps them but does not draw
    /// them).
    ///
    /// `bucket_limit[i]` is the right edge of bin `i` (the last one exactly `hi`). Since the
    /// format stores no left edge, `min` is set to the left edge of the first non-empty bin
    /// (`lo` when bin 0 holds values) and `max` to the right edge of the last non-empty bin
    /// (`hi` when the last bin holds values): the tightest bounds the bins give, and what makes
    /// TensorBoard draw each bin where it is. If you know the exact extremes, you may overwrite
    /// `min` and `max` with them.
    ///
    /// If `hi <= lo` (all values equal), or either is not finite, every count goes into one
    /// zero-width bucket at `lo`, with `min == max == lo`: how TensorBoard's own histogram
    /// summary represents a constant tensor. If no bin holds a value, the bins are kept, `num`
    /// is 0, `min = lo` and `max = hi`.
    pub fn from_bins(lo: f64, hi: f64, counts: &[u64], sum: f64, sum_squares: f64) -> Self {
        let num: f64 = counts.iter().map(|&c| c as f64).sum();
        let degenerate = !(lo.is_finite() && hi.is_finite() && hi > lo);
        if degenerate && !counts.is_empty() {
            return TbHistogram {
                min: lo,
                max: lo,
                num,
                sum,
                sum_squares,
                bucket_limit: vec![lo],
                bucket: vec![num],
            };
        }
        let n = counts.len();
        let bucket_limit: Vec<f64> = (1..=n)
            .map(|i| {
                if i == n {
                    hi
                } else {
                    lo + (hi - lo) * (i as f64 / n as f64)
                }
            })
            .collect();
        let left_edge = |i: usize| if i == 0 { lo } else { bucket_limit[i - 1] };
        let first = counts.iter().position(|&c| c > 0);
        let last = counts.iter().rposition(|&c| c > 0);
        let (min, max) = match (first, last) {
            (Some(f), Some(l)) => (left_edge(f), bucket_limit[l]),
            _ => (lo, hi),
        };
        TbHistogram {
            min,
            max,
            num,
            sum,
            sum_squares,
            bucket: counts.iter().map(|&c| c as f64).collect(),
            bucket_limit,
        }
    }

    fn to_proto(&self) -> proto::HistogramProto {
        proto::HistogramProto {
            min: self.min,
            max: self.max,
            num: self.num,
            sum: self.sum,
            sum_squares: self.sum_squares,
            bucket_limit: self.bucket_limit.clone(),
            bucket: self.bucket.clone(),
        }
    }

    fn from_proto(h: proto::HistogramProto) -> Self {
        TbHistogram {
            min: h.min,
            max: h.max,
            num: h.num,
            sum: h.sum,
            sum_squares: h.sum_squares,
            bucket_limit: h.bucket_limit,
            bucket: h.bucket,
        }
    }
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the Unix epoch when the event was written.
    pub wall_time: f64,
    /// The training step (0 for the file_version event).
    pub step: i64,
    /// What the event carries.
    pub kind: EventKind,
}

/// What an [`Event`] carries.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The file's version string, e.g. `"brain.Event:2"`.
    FileVersion(String),
    /// Summary values (scalars, histograms, ...).
    Summary(Vec<SummaryValue>),
    /// Something this module does not decode (a graph, a session log, ...). [`EventLog`] keeps
    /// such records byte for byte.
    Other,
}

/// One tagged value of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryValue {
    /// The tag, e.g. `"loss/train"`; TensorBoard groups tags by their part before the first `/`.
    pub tag: String,
    /// The value.
    pub data: ValueData,
}

/// The data of a [`SummaryValue`].
#[derive(Debug, Clone, PartialEq)]
pub enum ValueData {
    /// A scalar (`simple_value`).
    Scalar(f32),
    /// A histogram (`histo`).
    Histogram(TbHistogram),
    /// An image (`image`).
    Image(TbImage),
    /// Some other kind of value (audio, a tensor, ...), not decoded here.
    Other,
}

/// An image summary (`Summary.Image`): an encoded image and its size.
#[derive(Debug, Clone, PartialEq)]
pub struct TbImage {
    /// Pixels down.
    pub height: u32,
    /// Pixels across.
    pub width: u32,
    /// 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA.
    pub colorspace: u32,
    /// The encoded image (PNG).
    pub png: Vec<u8>,
}

impl Event {
    /// The file_version string, if this is the file_version event.
    pub fn file_version(&self) -> Option<&str> {
        match &self.kind {
            EventKind::FileVersion(v) => Some(v),
            _ => None,
        }
    }

    /// The summary values, empty unless this is a summary event.
    pub fn values(&self) -> &[SummaryValue] {
        match &self.kind {
            EventKind::Summary(v) => v,
            _ => &[],
        }
    }

    /// The first scalar under `tag` in this event.
    pub fn scalar(&self, tag: &str) -> Option<f32> {
        self.values().iter().find_map(|v| match &v.data {
            ValueData::Scalar(x) if v.tag == tag => Some(*x),
            _ => None,
        })
    }

    /// The first histogram under `tag` in this event.
    pub fn histogram(&self, tag: &str) -> Option<&TbHistogram> {
        self.values().iter().find_map(|v| match &v.data {
            ValueData::Histogram(h) if v.tag == tag => Some(h),
            _ => None,
        })
    }

    /// The first image under `tag` in this event.
    pub fn image(&self, tag: &str) -> Option<&TbImage> {
        self.values().iter().find_map(|v| match &v.data {
            ValueData::Image(i) if v.tag == tag => Some(i),
            _ => None,
        })
    }

    fn from_proto(e: proto::Event) -> Self {
        let kind = match e.what {
            Some(proto::event::What::FileVersion(v)) => EventKind::FileVersion(v),
            Some(proto::event::What::Summary(s)) => EventKind::Summary(
                s.value
                    .into_iter()
                    .map(|v| SummaryValue {
                        tag: v.tag,
                        data: match v.kind {
                            Some(proto::value::Kind::SimpleValue(x)) => ValueData::Scalar(x),
                            Some(proto::value::Kind::Histo(h)) => {
                                ValueData::Histogram(TbHistogram::from_proto(h))
                            }
                            Some(proto::value::Kind::Image(i)) => {
                                ValueData::Image(TbImage::from_proto(i))
                            }
                            None => ValueData::Other,
                        },
                    })
                    .collect(),
            ),
            None => EventKind::Other,
        };
        Event {
            wall_time: e.wall_time,
            step: e.step,
            kind,
        }
    }
}

/// Reads every record of an event file, checking both CRCs of each, and decodes it.
///
/// Unlike TensorBoard, which stops silently at the first bad record, this fails: with
/// [`TbError::Truncated`] if the bytes end inside a record, [`TbError::Crc`] if a
/// CRC does not match, [`TbError::Protobuf`] if a payload is not an
/// Event. Empty input gives no events.
pub fn read_events(bytes: &[u8]) -> Result<Vec<Event>, TbError> {
    let mut events = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let (payload, next) = next_record(bytes, offset)?;
        events.push(Event::from_proto(decode(payload, offset)?));
        offset = next;
    }
    Ok(events)
}

/// An event file kept in memory: the encoded records, in order, starting with the file_version
/// event, and for each its step.
///
/// The intended use: push scalars and histograms as training goes; at each checkpoint and at
/// the end, write [`as_bytes`](Self::as_bytes) as the whole file, atomically; on resume, read
/// the file back with [`from_bytes`](Self::from_bytes), [`truncate_after`](Self::truncate_after)
/// the checkpoint's step, and go on pushing.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLog {
    bytes: Vec<u8>,
    records: Vec<RecordInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct RecordInfo {
    start: usize,
    end: usize,
    step: i64,
    file_version: bool,
}

impl EventLog {
    /// A log holding only the file_version event (`"brain.Event:2"`), stamped `wall_time`
    /// (seconds since the Unix epoch).
    pub fn new(wall_time: f64) -> Self {
        let mut log = EventLog {
            bytes: Vec::new(),
            records: Vec::new(),
        };
        log.push(proto::Event {
            wall_time,
            step: 0,
            what: Some(proto::event::What::FileVersion(FILE_VERSION.to_owned())),
        });
        log
    }

    /// Appends a scalar event.
    pub fn push_scalar(&mut self, tag: &str, step: i64, wall_time: f64, value: f32) {
        self.push_value(tag, step, wall_time, proto::value::Kind::SimpleValue(value));
    }

    /// Appends a histogram event.
    pub fn push_histogram(&mut self, tag: &str, step: i64, wall_time: f64, h: &TbHistogram) {
        self.push_value(
            tag,
            step,
            wall_time,
            proto::value::Kind::Histo(h.to_proto()),
        );
    }

    /// The whole file: every record, framed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The whole file, taking it out of the log.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// How many events the log holds, the file_version event included.
    pub fn len_events(&self) -> usize {
        self.records.len()
    }

    /// Reads an event file back: every record is checked (both CRCs, the protobuf) and kept byte
    /// for byte, including events this module does not decode.
    ///
    /// Fails as [`read_events`] does, and with [`TbError::MissingFileVersion`] if the first
    /// record is not a file_version event (an empty input included).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TbError> {
        let mut records = Vec::new();
        let mut offset = 0;
        while offset < bytes.len() {
            let (payload, next) = next_record(bytes, offset)?;
            let event = decode(payload, offset)?;
            records.push(RecordInfo {
                start: offset,
                end: next,
                step: event.step,
                file_version: matches!(event.what, Some(proto::event::What::FileVersion(_))),
            });
            offset = next;
        }
        if !records.first().is_some_and(|r| r.file_version) {
            return Err(TbError::MissingFileVersion);
        }
        Ok(EventLog {
            bytes: bytes.to_vec(),
            records,
        })
    }

    /// Drops every event whose step is greater than `step`, except file_version events; the rest
    /// keep their order.
    pub fn truncate_after(&mut self, step: i64) {
        if self
            .records
            .iter()
            .all(|r| r.file_version || r.step <= step)
        {
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len());
        let mut records = Vec::with_capacity(self.records.len());
        for r in self
            .records
            .iter()
            .filter(|r| r.file_version || r.step <= step)
        {
            let start = bytes.len();
            bytes.extend_from_slice(&self.bytes[r.start..r.end]);
            records.push(RecordInfo {
                start,
                end: bytes.len(),
                ..*r
            });
        }
        self.bytes = bytes;
        self.records = records;
    }

    /// The largest step of any event other than file_version, or `None` if there is none.
    pub fn last_step(&self) -> Option<i64> {
        self.records
            .iter()
            .filter(|r| !r.file_version)
            .map(|r| r.step)
            .max()
    }

    fn push_value(&mut self, tag: &str, step: i64, wall_time: f64, kind: proto::value::Kind) {
        self.push(proto::Event {
            wall_time,
            step,
            what: Some(proto::event::What::Summary(proto::Summary {
                value: vec![proto::Value {
                    tag: tag.to_owned(),
                    kind: Some(kind),
                }],
            })),
        });
    }

    fn push(&mut self, event: proto::Event) {
        let payload = event.encode_to_vec();
        let start = self.bytes.len();
        frame(&payload, &mut self.bytes);
        self.records.push(RecordInfo {
            start,
            end: self.bytes.len(),
            step: event.step,
            file_version: matches!(event.what, Some(proto::event::What::FileVersion(_))),
        });
    }
}

fn decode(payload: &[u8], offset: usize) -> Result<proto::Event, TbError> {
    proto::Event::decode(payload).map_err(|source| TbError::Protobuf { offset, source })
}

#[cfg(test)]
mod tests {
    use super::framing::HEADER_LEN;
    use super::*;

    fn sample_log() -> EventLog {
        let mut log = EventLog::new(100.0);
        for (i, step) in [0i64, 10, 20].into_iter().enumerate() {
            log.push_scalar("loss/train", step, 101.0 + i as f64, 3.0 - i as f32);
        }
        let h = TbHistogram::from_bins(-1.0, 1.0, &[1, 2, 3, 4], 0.5, 2.5);
        log.push_histogram("activations/layer 2 (Tanh)", 0, 110.0, &h);
        log.push_histogram("activations/layer 2 (Tanh)", 10, 111.0, &h);
        log
    }

    #[test]
    fn crc32c_known_vector() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    #[allow(clippy::manual_rotate)]
    fn masked_crc_known_values() {
        // Values from TensorBoard's own `pywrap_tensorflow.masked_crc32c`.
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
        assert_eq!(masked_crc32c(&24u64.to_le_bytes()), 0x224B_7FA3);
        assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
        // The formula as TFRecord documents it, spelled out rather than as a rotation.
        let crc = 0xE306_9283u32;
        assert_eq!(
            masked_crc32c(b"123456789"),
            ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn file_version_record_bytes() {
        let log = EventLog::new(1.5);
        let b = log.as_bytes();
        // Event { wall_time (field 1, fixed64) = 1.5, file_version (field 3) = "brain.Event:2" };
        // step 0 is the proto3 default and is not written.
        let mut payload = vec![0x09];
        payload.extend_from_slice(&1.5f64.to_le_bytes());
        payload.extend_from_slice(&[0x1a, 13]);
        payload.extend_from_slice(b"brain.Event:2");
        assert_eq!(&b[..8], &(payload.len() as u64).to_le_bytes());
        assert_eq!(&b[8..12], &masked_crc32c(&b[..8]).to_le_bytes());
        assert_eq!(&b[12..12 + payload.len()], &payload[..]);
        assert_eq!(
            &b[12 + payload.len()..],
            &masked_crc32c(&payload).to_le_bytes()
        );
        assert_eq!(log.len_events(), 1);
        assert_eq!(log.last_step(), None);
    }

    #[test]
    fn scalar_record_bytes() {
        let mut log = EventLog::new(0.0);
        let start = log.as_bytes().len();
        log.push_scalar("a", 3, 2.0, 0.5);
        let payload = &log.as_bytes()[start + 12..log.as_bytes().len() - 4];
        // wall_time, step = 3 (varint), summary (field 5) { value (field 1) { tag "a",
        // simple_value (field 2, fixed32) 0.5 } }.
        let mut want = vec![0x09];
        want.extend_from_slice(&2.0f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 3, 0x2a, 10, 0x0a, 8, 0x0a, 1, b'a', 0x15]);
        want.extend_from_slice(&0.5f32.to_le_bytes());
        assert_eq!(payload, &want[..]);
    }

    #[test]
    fn histogram_buckets_are_packed() {
        let h = TbHistogram {
            min: 0.0,
            max: 0.0,
            num: 0.0,
            sum: 0.0,
            sum_squares: 0.0,
            bucket_limit: vec![1.0, 2.0],
            bucket: vec![3.0, 4.0],
        };
        let bytes = h.to_proto().encode_to_vec();
        // Only the two packed fields (6 and 7, wire type 2), 16 bytes each.
        let mut want = vec![0x32, 16];
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&2.0f64.to_le_bytes());
        want.extend_from_slice(&[0x3a, 16]);
        want.extend_from_slice(&3.0f64.to_le_bytes());
        want.extend_from_slice(&4.0f64.to_le_bytes());
        assert_eq!(bytes, want);
    }

    #[test]
    fn round_trip() {
        let log = sample_log();
        assert_eq!(log.len_events(), 6);
        assert_eq!(log.last_step(), Some(20));
        let events = read_events(log.as_bytes()).unwrap();
        assert_eq!(events.len(), 6);
        assert_eq!(events[0].file_version(), Some(FILE_VERSION));
        assert_eq!(events[0].wall_time, 100.0);
        let scalars: Vec<(i64, f32)> = events
            .iter()
            .filter_map(|e| e.scalar("loss/train").map(|v| (e.step, v)))
            .collect();
        assert_eq!(scalars, vec![(0, 3.0), (10, 2.0), (20, 1.0)]);
        assert_eq!(events[2].wall_time, 102.0);
        let h = events[5].histogram("activations/layer 2 (Tanh)").unwrap();
        assert_eq!(events[5].step, 10);
        assert_eq!(
            *h,
            TbHistogram::from_bins(-1.0, 1.0, &[1, 2, 3, 4], 0.5, 2.5)
        );
        assert_eq!(events[5].scalar("activations/layer 2 (Tanh)"), None);

        let back = EventLog::from_bytes(log.as_bytes()).unwrap();
        assert_eq!(back, log);
    }

    #[test]
    fn flipped_payload_byte_fails_payload_crc() {
        let log = sample_log();
        let second = log.records[1];
        let mut bytes = log.as_bytes().to_vec();
        bytes[second.start + HEADER_LEN + 3] ^= 0x01;
        for err in [
            read_events(&bytes).unwrap_err(),
            EventLog::from_bytes(&bytes).unwrap_err(),
        ] {
            assert!(
                matches!(err, TbError::Crc { offset, part: "payload", .. } if offset == second.start),
                "{err}"
            );
            assert!(err
                .to_string()
                .contains(&format!("offset {}", second.start)));
        }
    }

    #[test]
    fn flipped_length_byte_fails_length_crc() {
        let log = sample_log();
        let third = log.records[2];
        let mut bytes = log.as_bytes().to_vec();
        bytes[third.start] ^= 0x40;
        let err = read_events(&bytes).unwrap_err();
        assert!(
            matches!(err, TbError::Crc { offset, part: "length", .. } if offset == third.start),
            "{err}"
        );
    }

    #[test]
    fn flipped_crc_byte_fails() {
        let log = sample_log();
        let mut bytes = log.as_bytes().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x80;
        let err = read_events(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                TbError::Crc {
                    part: "payload",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn truncated_tail_names_offset() {
        let log = sample_log();
        let last = *log.records.last().unwrap();
        for cut in [last.start + 5, last.start + HEADER_LEN + 2, last.end - 1] {
            let err = EventLog::from_bytes(&log.as_bytes()[..cut]).unwrap_err();
            match &err {
                TbError::Truncated {
                    offset, available, ..
                } => {
                    assert_eq!(*offset, last.start);
                    assert_eq!(*available, cut - last.start);
                }
                other => panic!("expected Truncated, got {other}"),
            }
            assert!(err
                .to_string()
                .contains(&format!("byte offset {}", last.start)));
        }
    }

    #[test]
    fn not_an_event_payload_fails_protobuf() {
        // A well-framed record whose payload is not a valid protobuf (field 0 is illegal).
        let payload = [0x00u8, 0x01];
        let mut bytes = (payload.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&masked_crc32c(&bytes.clone()).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&masked_crc32c(&payload).to_le_bytes());
        let err = read_events(&bytes).unwrap_err();
        assert!(matches!(err, TbError::Protobuf { offset: 0, .. }), "{err}");
    }

    #[test]
    fn from_bytes_needs_file_version_first() {
        assert!(matches!(
            EventLog::from_bytes(&[]),
            Err(TbError::MissingFileVersion)
        ));
        let log = sample_log();
        let first = log.records[0];
        assert!(matches!(
            EventLog::from_bytes(&log.as_bytes()[first.end..]),
            Err(TbError::MissingFileVersion)
        ));
        assert_eq!(read_events(&[]).unwrap(), vec![]);
    }

    #[test]
    fn truncate_after_keeps_file_version_and_earlier_steps() {
        let mut log = EventLog::from_bytes(sample_log().as_bytes()).unwrap();
        log.truncate_after(10);
        assert_eq!(log.last_step(), Some(10));
        let events = read_events(log.as_bytes()).unwrap();
        let steps: Vec<i64> = events.iter().map(|e| e.step).collect();
        assert_eq!(steps, vec![0, 0, 10, 0, 10]);
        assert!(events[0].file_version().is_some());

        // Appending after truncation gives the same bytes as never having logged the rest.
        log.push_scalar("loss/train", 20, 102.0, 1.0);
        let mut fresh = EventLog::new(100.0);
        fresh.push_scalar("loss/train", 0, 101.0, 3.0);
        fresh.push_scalar("loss/train", 10, 102.0, 2.0);
        let h = TbHistogram::from_bins(-1.0, 1.0, &[1, 2, 3, 4], 0.5, 2.5);
        fresh.push_histogram("activations/layer 2 (Tanh)", 0, 110.0, &h);
        fresh.push_histogram("activations/layer 2 (Tanh)", 10, 111.0, &h);
        fresh.push_scalar("loss/train", 20, 102.0, 1.0);
        assert_eq!(log.as_bytes(), fresh.as_bytes());
        assert_eq!(EventLog::from_bytes(log.as_bytes()).unwrap(), log);

        log.truncate_after(-1);
        assert_eq!(log.len_events(), 1);
        assert_eq!(log.last_step(), None);
        assert_eq!(log.as_bytes(), EventLog::new(100.0).as_bytes());
    }

    #[test]
    fn from_bins_edges() {
        let h = TbHistogram::from_bins(-1.0, 1.0, &[1, 2, 3, 4], 0.5, 2.5);
        assert_eq!(h.bucket_limit, vec![-0.5, 0.0, 0.5, 1.0]);
        assert_eq!(h.bucket, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            (h.min, h.max, h.num, h.sum, h.sum_squares),
            (-1.0, 1.0, 10.0, 0.5, 2.5)
        );

        // The last limit is exactly `hi` even when the width does not divide evenly.
        let h = TbHistogram::from_bins(0.0, 1.0, &[1, 1, 1], 1.0, 1.0);
        assert_eq!(h.bucket_limit.len(), 3);
        assert_eq!(h.bucket_limit[2], 1.0);
        assert!((h.bucket_limit[0] - 1.0 / 3.0).abs() < 1e-15);

        // Empty bins at either end: min and max bound the occupied bins.
        let h = TbHistogram::from_bins(0.0, 4.0, &[0, 2, 0, 1, 0], 0.0, 0.0);
        assert_eq!(h.bucket_limit, vec![0.8, 1.6, 2.4, 3.2, 4.0]);
        assert_eq!((h.min, h.max), (0.8, 3.2));

        // All values equal: one zero-width bucket.
        let h = TbHistogram::from_bins(2.0, 2.0, &[5, 0, 0], 10.0, 20.0);
        assert_eq!(h.bucket_limit, vec![2.0]);
        assert_eq!(h.bucket, vec![5.0]);
        assert_eq!((h.min, h.max, h.num), (2.0, 2.0, 5.0));

        // No values.
        let h = TbHistogram::from_bins(-1.0, 1.0, &[0, 0], 0.0, 0.0);
        assert_eq!((h.min, h.max, h.num), (-1.0, 1.0, 0.0));
        assert_eq!(h.bucket_limit, vec![0.0, 1.0]);
        let h = TbHistogram::from_bins(0.0, 0.0, &[], 0.0, 0.0);
        assert!(h.bucket.is_empty() && h.bucket_limit.is_empty());
    }

    #[test]
    fn file_name() {
        assert_eq!(
            event_file_name(1_700_000_000, "box", 42),
            "events.out.tfevents.1700000000.box.42.0"
        );
        assert_eq!(
            event_file_name(7, "a/b c", 1),
            "events.out.tfevents.0000000007.a_b_c.1.0"
        );
        assert_eq!(
            event_file_name(7, "", 1),
            "events.out.tfevents.0000000007.localhost.1.0"
        );
    }
}
