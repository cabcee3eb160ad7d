//! The saturation map as a picture: examples down, units across, white where the unit was
//! saturated (the lecture's `plt.imshow(h.abs() > 0.99, cmap='gray')`), with a red mark above
//! every dead column.

use crate::chart::PlotError;
use crate::record::{DiagnosticRecord, LayerRecord};
use crate::units::UnitMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use makemore_files::write_atomic;
use std::path::{Path, PathBuf};

/// Pixels per cell side in the PNG files, at most (a 32 x 200 map becomes 128 x 800 pixels).
pub const CELL_PX: u32 = 4;
/// The widest map drawn with more than one pixel per cell: wider layers get smaller cells.
pub const MAP_WIDTH_PX: usize = 800;

/// Pixels per cell side for a map of `units` columns: [`CELL_PX`], fewer for a layer wider than
/// [`MAP_WIDTH_PX`] / [`CELL_PX`] units, at least one.
pub fn cell_px(units: usize) -> u32 {
    let fit = MAP_WIDTH_PX / units.max(1);
    u32::try_from(fit).unwrap_or(CELL_PX).clamp(1, CELL_PX)
}
/// Height of the band above the cells that marks the dead columns.
pub const MARK_PX: u32 = 6;
/// A saturated cell.
const WHITE: [u8; 3] = [255, 255, 255];
/// A cell that is not saturated.
const BLACK: [u8; 3] = [0, 0, 0];
/// The band above a dead column.
const DEAD: [u8; 3] = [220, 30, 30];
/// The band above a live column.
const BAND: [u8; 3] = [200, 200, 200];

/// The map as a PNG: [`MARK_PX`] rows of band (red above dead columns), then `rows x units`
/// cells of `cell` pixels, white where saturated. `None` for an empty or damaged map.
pub fn map_png(map: &UnitMap, cell: u32) -> Option<Vec<u8>> {
    let cells = map.cells().filter(|c| !c.is_empty())?;
    let cell = cell.max(1);
    let width = u32::try_from(map.units).ok()?.checked_mul(cell)?;
    let height = u32::try_from(map.rows)
        .ok()?
        .checked_mul(cell)?
        .checked_add(MARK_PX)?;
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let unit = (x / cell) as usize;
            let px = if y < MARK_PX {
                if map.dead.contains(&unit) {
                    DEAD
                } else {
                    BAND
                }
            } else {
                let row = ((y - MARK_PX) / cell) as usize;
                if cells[row * map.units + unit] {
                    WHITE
                } else {
                    BLACK
                }
            };
            rgb.extend_from_slice(&px);
        }
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&rgb, width, height, ColorType::Rgb8)
        .ok()?;
    Some(png)
}

/// A PNG as a `data:image/png;base64,...` address, for an `<img>` inside a page.
pub fn png_data_uri(png: &[u8]) -> String {
    format!("data:image/png;base64,{}", STANDARD.encode(png))
}

/// The file stem of a layer's map at a step: `saturation-layer2-step0`.
pub fn map_name(layer: &LayerRecord, step: u64) -> String {
    format!("saturation-layer{}-step{step}", layer.layer.index)
}

/// Whether `file_name` is one of the maps [`write_saturation_maps`] writes (a new run in the
/// same directory removes the old run's).
pub fn is_map_file(file_name: &str) -> bool {
    file_name
        .strip_prefix("saturation-layer")
        .and_then(|rest| rest.strip_suffix(".png"))
        .and_then(|rest| rest.split_once("-step"))
        .is_some_and(|(layer, step)| {
            [layer, step]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// One picture written by [`write_saturation_maps`]: `(file stem, caption, path)`.
pub type MapFile = (String, String, PathBuf);

/// The caption of a layer's map: which layer, which step, the threshold, the white share and
/// the dead units by index.
pub fn map_caption(r: &DiagnosticRecord, layer: &LayerRecord, map: &UnitMap) -> String {
    let dead = if map.dead.is_empty() {
        "no dead units".to_owned()
    } else {
        let list: Vec<String> = map.dead.iter().map(usize::to_string).collect();
        format!("dead units (red): {}", list.join(", "))
    };
    let batch = layer.output.summary.count / map.units.max(1);
    let rows = if map.rows < batch {
        format!("the batch's first {} of {batch} examples", map.rows)
    } else {
        format!("{} examples", map.rows)
    };
    format!(
        "{} at step {}: {rows} x {} units, white = {}: {:.2}% of these; {dead}",
        layer.name,
        r.step,
        map.units,
        r.saturated_words_of(layer),
        100.0 * map.white_fraction().unwrap_or(0.0)
    )
}

/// Writes `saturation-layerI-stepS.png` into `dir` for every activation layer with a map, for
/// each of `records` (the report uses the first and the last).
pub fn write_saturation_maps(
    dir: &Path,
    records: &[&DiagnosticRecord],
) -> Result<Vec<MapFile>, PlotError> {
    let mut out = Vec::new();
    for r in records {
        for layer in r.activations() {
            let Some(map) = &layer.output.map else {
                continue;
            };
            let Some(png) = map_png(map, cell_px(map.units)) else {
                continue;
            };
            let name = map_name(layer, r.step);
            let path = dir.join(format!("{name}.png"));
            write_atomic(&path, &png).map_err(|source| PlotError::Io {
                path: path.clone(),
                source,
            })?;
            out.push((name, map_caption(r, layer, map), path));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_is_white_where_the_map_is_and_red_above_dead_columns() {
        // Three rows, four units: unit 1 saturated everywhere (dead), unit 3 on one row.
        let h = [
            0.0, 1.0, 0.0, 0.0, //
            0.0, -1.0, 0.0, 0.99, //
            0.5, 1.0, 0.0, 0.0,
        ];
        let map = UnitMap::new(&h, 4, |x| x.abs() > 0.97);
        let png = map_png(&map, 2).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (8, 3 * 2 + MARK_PX));
        let white = img
            .enumerate_pixels()
            .filter(|(_, y, p)| *y >= MARK_PX && p.0 == WHITE)
            .count();
        assert_eq!(white as f64 / (8 * 6) as f64, map.white_fraction().unwrap());
        assert_eq!(img.get_pixel(2, 0).0, DEAD);
        assert_eq!(img.get_pixel(0, 0).0, BAND);
        assert_eq!(img.get_pixel(7, MARK_PX + 2).0, WHITE); // row 1, unit 3
        assert_eq!(img.get_pixel(7, MARK_PX).0, BLACK); // row 0, unit 3
    }

    #[test]
    fn map_files_are_told_from_a_users_files() {
        assert!(is_map_file("saturation-layer2-step0.png"));
        assert!(is_map_file("saturation-layer14-step999.png"));
        for other in [
            "saturation-layer2-step0.png.tmp",
            "saturation-layerX-step0.png",
            "saturation-layer2-step.png",
            "saturation-notes.png",
            "activations.png",
        ] {
            assert!(!is_map_file(other), "{other}");
        }
    }
}
