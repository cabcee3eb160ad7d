//! Image summaries (`Summary.Value.image`): an encoded PNG with its size, which TensorBoard's
//! Images tab shows per tag and step.

use super::proto;
use super::{EventLog, TbImage};

/// The PNG signature, then the IHDR chunk's length and type: the first 16 bytes of every PNG.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// Where IHDR's color type byte is: signature (8), chunk length (4), chunk type (4), width (4),
/// height (4), bit depth (1).
const PNG_COLOR_TYPE_AT: usize = 25;

/// `Summary.Image.colorspace` values.
const GRAYSCALE: u32 = 1;
const GRAYSCALE_ALPHA: u32 = 2;
const RGB: u32 = 3;
const RGBA: u32 = 4;

/// The `Summary.Image` colorspace of a PNG, read from its header (PNG color types 0, 4, 2 or 3,
/// 6); RGB when the bytes are not a PNG that says.
pub(super) fn png_colorspace(png: &[u8]) -> u32 {
    if !png.starts_with(&PNG_SIGNATURE) {
        return RGB;
    }
    match png.get(PNG_COLOR_TYPE_AT) {
        Some(0) => GRAYSCALE,
        Some(4) => GRAYSCALE_ALPHA,
        Some(6) => RGBA,
        _ => RGB, // 2 (truecolor) and 3 (palette) both decode to RGB
    }
}

fn to_i32(x: u32) -> i32 {
    i32::try_from(x).unwrap_or(i32::MAX)
}

fn to_u32(x: i32) -> u32 {
    u32::try_from(x).unwrap_or(0)
}

impl TbImage {
    pub(super) fn to_proto(&self) -> proto::Image {
        proto::Image {
            height: to_i32(self.height),
            width: to_i32(self.width),
            colorspace: to_i32(self.colorspace),
            encoded_image_string: self.png.clone(),
        }
    }

    pub(super) fn from_proto(i: proto::Image) -> Self {
        TbImage {
            height: to_u32(i.height),
            width: to_u32(i.width),
            colorspace: to_u32(i.colorspace),
            png: i.encoded_image_string,
        }
    }
}

impl EventLog {
    /// Appends an image event: `png`, an encoded PNG of `width` by `height` pixels, under `tag`
    /// (its colorspace is read from the PNG's header).
    pub fn push_image(
        &mut self,
        tag: &str,
        step: i64,
        wall_time: f64,
        png: &[u8],
        height: u32,
        width: u32,
    ) {
        let image = TbImage {
            height,
            width,
            colorspace: png_colorspace(png),
            png: png.to_vec(),
        };
        self.push_value(
            tag,
            step,
            wall_time,
            proto::value::Kind::Image(image.to_proto()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensorboard::{read_events, ValueData};

    /// The first 26 bytes of a PNG of `width` x `height` and color type `color`.
    fn png_header(width: u32, height: u32, color: u8) -> Vec<u8> {
        let mut b = PNG_SIGNATURE.to_vec();
        b.extend_from_slice(&13u32.to_be_bytes());
        b.extend_from_slice(b"IHDR");
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&[8, color]);
        b
    }

    #[test]
    fn an_image_round_trips() {
        let png = png_header(3, 2, 0);
        let mut log = EventLog::new(1.0);
        log.push_scalar("loss/train", 5, 2.0, 1.5);
        log.push_image("saturation_map/layer 2 (Tanh)", 5, 2.0, &png, 2, 3);
        let events = read_events(log.as_bytes()).expect("valid file");
        assert_eq!(events.len(), 3);
        let image = events[2]
            .image("saturation_map/layer 2 (Tanh)")
            .expect("an image");
        assert_eq!(
            image,
            &TbImage {
                height: 2,
                width: 3,
                colorspace: GRAYSCALE,
                png: png.clone(),
            }
        );
        assert_eq!(events[2].step, 5);
        assert!(matches!(events[2].values()[0].data, ValueData::Image(_)));
        assert_eq!(events[2].image("other"), None);
        assert_eq!(events[1].image("loss/train"), None, "a scalar is no image");
        // Read back and cut, the image event is kept byte for byte.
        let mut back = EventLog::from_bytes(log.as_bytes()).expect("valid file");
        back.truncate_after(5);
        assert_eq!(back.as_bytes(), log.as_bytes());
    }

    #[test]
    fn the_colorspace_is_the_pngs() {
        let cases = [
            (0, GRAYSCALE),
            (4, GRAYSCALE_ALPHA),
            (2, RGB),
            (3, RGB),
            (6, RGBA),
        ];
        for (color, space) in cases {
            assert_eq!(png_colorspace(&png_header(1, 1, color)), space, "{color}");
        }
        assert_eq!(png_colorspace(b"not a png"), RGB);
    }
}
