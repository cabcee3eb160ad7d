//! Which units of an activation layer saturate, example by example: the lecture's picture of a
//! batch (rows) by the layer's neurons (columns), white where |h| passes the threshold.
//!
//! ```
//! use makemore_diagnostics::UnitMap;
//!
//! // Two examples, three units; unit 2 is saturated for both (dead), unit 0 for one.
//! let h = [0.99f32, 0.1, -0.995, 0.2, 0.3, 0.98];
//! let map = UnitMap::new(&h, 3, |x| x.abs() > 0.97);
//! assert_eq!((map.rows, map.units), (2, 3));
//! assert_eq!(map.dead, [2]);
//! assert_eq!(map.cells().unwrap(), [true, false, true, false, false, true]);
//! assert_eq!(map.white_fraction(), Some(0.5));
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Rows of a layer's output kept per record for the map: the lecture's picture shows one batch
/// of 32 examples, and the lecture's batch is 32, so there the map is the whole batch.
pub const MAP_ROWS: usize = 32;

/// Bits per byte of the packed map.
const BITS: usize = 8;

/// The saturation of every unit on the first [`MAP_ROWS`] examples of a recorded batch, and the
/// units that are saturated on every example of the whole batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitMap {
    /// Examples in the map (the first ones of the batch).
    pub rows: usize,
    /// Units (the layer's width).
    pub units: usize,
    /// `rows x units` cells, row-major, packed 8 to a byte, most significant bit first, 1 where
    /// saturated (or zero, for relu); base64.
    pub bits: String,
    /// Units saturated (or zero) on every example of the batch, not only the map's rows: the
    /// dead units, by index (the record's `dead_units` counts them).
    pub dead: Vec<usize>,
}

impl UnitMap {
    /// The map of `values` (`[batch, units]`, row-major) under `saturated`: the first
    /// [`MAP_ROWS`] rows, and the dead units over every row.
    pub fn new(values: &[f32], units: usize, saturated: impl Fn(f32) -> bool) -> Self {
        let batch = values.len().checked_div(units).unwrap_or(0);
        let rows = batch.min(MAP_ROWS);
        let mut packed = vec![0u8; (rows * units).div_ceil(BITS)];
        for (i, &v) in values[..rows * units].iter().enumerate() {
            if saturated(v) {
                packed[i / BITS] |= 0x80 >> (i % BITS);
            }
        }
        let dead = (0..units)
            .filter(|&u| batch > 0 && (0..batch).all(|b| saturated(values[b * units + u])))
            .collect();
        Self {
            rows,
            units,
            bits: STANDARD.encode(packed),
            dead,
        }
    }

    /// Every cell, row-major, true where saturated; `None` where `bits` does not decode to
    /// `rows x units` cells (a damaged record).
    pub fn cells(&self) -> Option<Vec<bool>> {
        let packed = STANDARD.decode(&self.bits).ok()?;
        let n = self.rows.checked_mul(self.units)?;
        if packed.len() != n.div_ceil(BITS) {
            return None;
        }
        Some(
            (0..n)
                .map(|i| packed[i / BITS] & (0x80 >> (i % BITS)) != 0)
                .collect(),
        )
    }

    /// The share of white (saturated) cells; `None` for an empty or damaged map.
    pub fn white_fraction(&self) -> Option<f64> {
        let cells = self.cells().filter(|c| !c.is_empty())?;
        Some(cells.iter().filter(|&&c| c).count() as f64 / cells.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_rows_and_finds_dead_units_over_the_whole_batch() {
        let units = 3;
        let batch = MAP_ROWS + 8;
        // Unit 0 is saturated on every row; unit 1 on every row but the last (not in the map).
        let values: Vec<f32> = (0..batch)
            .flat_map(|b| [1.0, if b + 1 == batch { 0.0 } else { -1.0 }, 0.0])
            .collect();
        let map = UnitMap::new(&values, units, |x| x.abs() > 0.97);
        assert_eq!(map.rows, MAP_ROWS);
        assert_eq!(map.dead, [0]);
        let cells = map.cells().unwrap();
        assert_eq!(cells.len(), MAP_ROWS * units);
        assert!(cells.chunks(units).all(|r| r == [true, true, false]));
        assert_eq!(map.white_fraction(), Some(2.0 / 3.0));
    }

    #[test]
    fn a_damaged_map_is_none_not_a_panic() {
        let mut map = UnitMap::new(&[1.0; 6], 3, |x| x > 0.5);
        map.rows = 5;
        assert_eq!(map.cells(), None);
        map.rows = 2;
        map.bits = "not base64!".into();
        assert_eq!(map.white_fraction(), None);
        assert_eq!(UnitMap::new(&[], 0, |_| true).white_fraction(), None);
    }
}
