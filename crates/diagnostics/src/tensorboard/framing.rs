//! TFRecord framing: a record is its payload length (little-endian `u64`), the masked CRC-32C
//! of those 8 bytes, the payload, and the masked CRC-32C of the payload.

use super::error::TbError;

/// Added to the rotated CRC by [`masked_crc32c`] (TFRecord's mask delta).
const MASK_DELTA: u32 = 0xa282_ead8;
/// Length (8 bytes) plus its CRC (4 bytes).
pub(super) const HEADER_LEN: usize = 12;
/// The payload's CRC.
const FOOTER_LEN: usize = 4;

/// The masked CRC-32C (Castagnoli) TFRecord stores: `((crc >> 15) | (crc << 17)) + 0xa282ead8`,
/// wrapping. Masking keeps a CRC of data that itself contains CRCs from being degenerate.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(MASK_DELTA)
}

/// Checks the record starting at `offset` and returns its payload and where the next begins.
pub(super) fn next_record(bytes: &[u8], offset: usize) -> Result<(&[u8], usize), TbError> {
    let rest = &bytes[offset..];
    if rest.len() < HEADER_LEN {
        return Err(TbError::Truncated {
            offset,
            part: "length header",
            needed: HEADER_LEN as u64,
            available: rest.len(),
        });
    }
    let (len_bytes, crc_bytes) = (&rest[..8], &rest[8..HEADER_LEN]);
    let stored = u32::from_le_bytes(crc_bytes.try_into().expect("4 bytes"));
    let computed = masked_crc32c(len_bytes);
    if stored != computed {
        return Err(TbError::Crc {
            part: "length",
            offset,
            stored,
            computed,
        });
    }
    let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    let needed = len.saturating_add((HEADER_LEN + FOOTER_LEN) as u64);
    if (rest.len() as u64) < needed {
        return Err(TbError::Truncated {
            offset,
            part: "payload",
            needed,
            available: rest.len(),
        });
    }
    // `len` fits: it is less than `rest.len()`.
    let end = HEADER_LEN + len as usize;
    let payload = &rest[HEADER_LEN..end];
    let stored = u32::from_le_bytes(rest[end..end + FOOTER_LEN].try_into().expect("4 bytes"));
    let computed = masked_crc32c(payload);
    if stored != computed {
        return Err(TbError::Crc {
            part: "payload",
            offset,
            stored,
            computed,
        });
    }
    Ok((payload, offset + end + FOOTER_LEN))
}

/// Appends `payload` to `out` as one record.
pub(super) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = (payload.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
}
