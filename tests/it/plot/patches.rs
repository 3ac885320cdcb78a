//! Patch figures: the grid of patches per band (north up, each band in its column), the dataset
//! grid with its label-mask column, and the pixel histograms.

use std::collections::VecDeque;

use polars::prelude::DataType;

use crate::common::{catalog_at, check_figure, pixel};
use xcluster::patches::{Gnomonic, PatchInfo, PatchSampler, Patches};
use xcluster::prelude::*;

/// Viridis at 0 and at 1: the background and the disks of the test images.
pub const VIRIDIS_LO: [u8; 3] = [68, 1, 84];
pub const VIRIDIS_HI: [u8; 3] = [253, 231, 37];

/// Bounding box (x0, y0, x1, y1), inclusive, of a group of pixels.
pub type BBox = (u32, u32, u32, u32);

/// Bounding boxes of the 4-connected regions of pixels for which `is` holds, largest first.
pub fn regions(rgb: &[u8], width: u32, is: impl Fn([u8; 3]) -> bool) -> Vec<(BBox, usize)> {
    let height = rgb.len() as u32 / 3 / width;
    let mut seen = vec![false; (width * height) as usize];
    let mut out = Vec::new();
    for start in 0..width * height {
        if seen[start as usize] || !is(pixel(rgb, width, start % width, start / width)) {
            continue;
        }
        let (mut bbox, mut count) = ((u32::MAX, u32::MAX, 0, 0), 0);
        let mut queue = VecDeque::from([start]);
        seen[start as usize] = true;
        while let Some(k) = queue.pop_front() {
            let (x, y) = (k % width, k / width);
            bbox = (bbox.0.min(x), bbox.1.min(y), bbox.2.max(x), bbox.3.max(y));
            count += 1;
            let around = [(x.wrapping_sub(1), y), (x + 1, y), (x, y.wrapping_sub(1)), (x, y + 1)];
            for (nx, ny) in around {
                if nx < width && ny < height {
                    let q = ny * width + nx;
                    if !seen[q as usize] && is(pixel(rgb, width, nx, ny)) {
                        seen[q as usize] = true;
                        queue.push_back(q);
                    }
                }
            }
        }
        out.push((bbox, count));
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.1));
    out
}

/// Mean position of the pixels of `bbox` for which `is` holds, and their count.
pub fn centroid(rgb: &[u8], width: u32, bbox: BBox, is: impl Fn([u8; 3]) -> bool) -> ((f64, f64), usize) {
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
    for y in bbox.1..=bbox.3 {
        for x in bbox.0..=bbox.2 {
            if is(pixel(rgb, width, x, y)) {
                sx += x as f64;
                sy += y as f64;
                n += 1;
            }
        }
    }
    ((sx / n.max(1) as f64, sy / n.max(1) as f64), n)
}

/// Where the centre of patch pixel (`i` row, `j` column) of a `size`-pixel patch is drawn in an
/// image occupying `bbox`, north (high rows) up.
pub fn drawn_at(bbox: BBox, size: usize, i: f64, j: f64) -> (f64, f64) {
    let (w, h) = ((bbox.2 - bbox.0 + 1) as f64, (bbox.3 - bbox.1 + 1) as f64);
    let n = size as f64;
    (bbox.0 as f64 + (j + 0.5) / n * w - 0.5, bbox.1 as f64 + (n - 1.0 - i + 0.5) / n * h - 0.5)
}

/// Metadata of a test patch of `size` pixels of 1.7′ centred on (l, b).
pub fn info(id: u64, glon: f64, glat: f64, size: u32) -> PatchInfo {
    PatchInfo {
        id,
        projection: Gnomonic::new(glon, glat, size, 1.7).unwrap(),
        tile: 7,
        split: Split::Train,
        seed_cluster: None,
        shift: (0.0, 0.0),
        clusters: vec![],
    }
}

/// A `size`² image, 0 with 1 within 3 pixels of (i, j).
pub fn disk(size: usize, (ci, cj): (f64, f64)) -> Vec<f32> {
    (0..size * size)
        .map(|k| if ((k / size) as f64 - ci).hypot((k % size) as f64 - cj) <= 3.0 { 1.0 } else { 0.0 })
        .collect()
}

const SIZE: usize = 32;

/// Where the disk of patch `k`, band `c` lies: north-east (high row, low column) for patch 0,
/// moving south-west patch by patch, and 12 columns west per band.
fn disk_at(k: usize, c: usize) -> (f64, f64) {
    (24.0 - 6.0 * k as f64, 5.0 + 4.0 * k as f64 + 12.0 * c as f64)
}

/// Four patches of two Viridis bands (545 GHz, y-map), each band a disk on a zero background.
fn disk_patches() -> Patches {
    let bands = vec![Band::F545, Band::YMap];
    let mut data = Vec::new();
    for k in 0..4 {
        for c in 0..2 {
            data.extend(disk(SIZE, disk_at(k, c)));
        }
    }
    let info = (0..4).map(|k| info(k, 30.0 * k as f64, 40.0, SIZE as u32)).collect();
    Patches::from_parts(bands, SIZE, data, info).unwrap()
}

/// The image regions (Viridis background plus disk) of a grid figure, sorted row by row.
fn image_boxes(rgb: &[u8], width: u32, expect: usize) -> Vec<BBox> {
    let mut boxes: Vec<BBox> = regions(rgb, width, |p| p == VIRIDIS_LO || p == VIRIDIS_HI)
        .into_iter()
        .filter(|r| r.1 > 1000)
        .map(|r| r.0)
        .collect();
    assert_eq!(boxes.len(), expect, "image panels found: {boxes:?}");
    boxes.sort_by_key(|b| (b.1 / 50, b.0));
    boxes
}

#[test]
fn patch_grid_draws_each_patch_and_band_north_up_with_its_disk_in_place() {
    let patches = disk_patches();
    let fig = patches.plot(3).result().unwrap();
    let (w, h) = fig.size();
    let rgb = check_figure(&fig, 50);
    // 3 rows × 2 bands, all the same square size.
    let boxes = image_boxes(&rgb, w, 6);
    let (bw, bh) = (boxes[0].2 - boxes[0].0, boxes[0].3 - boxes[0].1);
    assert!(bw.abs_diff(bh) <= 4 && bw > 120, "image {bw}×{bh} px");
    for b in &boxes {
        assert_eq!((b.2 - b.0, b.3 - b.1), (bw, bh), "panel sizes differ: {boxes:?}");
    }
    for k in 0..3 {
        for c in 0..2 {
            let bbox = boxes[2 * k + c];
            let ((x, y), n) = centroid(&rgb, w, bbox, |p| p == VIRIDIS_HI);
            let (ex, ey) = drawn_at(bbox, SIZE, disk_at(k, c).0, disk_at(k, c).1);
            assert!(n > 300, "patch {k} band {c}: disk of {n} px");
            assert!(
                (x - ex).abs() < 1.5 && (y - ey).abs() < 1.5,
                "patch {k} band {c}: disk at ({x}, {y}), expected ({ex}, {ey})"
            );
        }
    }
    // Patch 0's disk is north-east: the upper left of its panel.
    let ((x, y), _) = centroid(&rgb, w, boxes[0], |p| p == VIRIDIS_HI);
    assert!(x < (boxes[0].0 + boxes[0].2) as f64 / 2.0 && y < (boxes[0].1 + boxes[0].3) as f64 / 2.0);
    // Titles: band names with units, the patch centres; only the first 3 patches.
    let svg = fig.svg().unwrap();
    for s in [
        "545GHz [MJy/sr]",
        "y-map [y]",
        "patch 0 ",
        "patch 2 ",
        "(l, b) = (60.00°, +40.00°)",
        "Δx [arcmin]",
        "Δy [arcmin]",
    ] {
        assert!(svg.contains(s), "no {s:?} in the SVG");
    }
    assert!(!svg.contains("patch 3 "), "a fourth patch was drawn");
    // n beyond the patches draws them all; the figure grows with the rows.
    let all = patches.plot(10).result().unwrap().size();
    assert_eq!(all, patches.plot(4).result().unwrap().size());
    assert!(all.1 > h && all.0 == w);
}

#[test]
fn normalised_patches_say_so_and_bad_requests_are_refused() {
    let patches = disk_patches();
    let normalised = Normaliser::mad()
        .with_sigma(vec![Band::F545, Band::YMap], vec![2.0, 2.0])
        .unwrap()
        .apply(patches.clone())
        .unwrap();
    assert!(normalised.is_normalised());
    let fig = normalised.plot(1).result().unwrap();
    check_figure(&fig, 20);
    let svg = fig.svg().unwrap();
    assert!(svg.contains("545GHz (normalised)") && svg.contains("y-map (normalised)"));
    assert!(!svg.contains("[MJy/sr]"), "a unit on normalised patches");

    let e = patches.plot(0).result().unwrap_err().to_string();
    assert!(e.contains("Patches::plot n"), "{e}");
    let empty = Patches::from_parts(vec![Band::F545], SIZE, vec![], vec![]).unwrap();
    assert!(empty.plot(3).result().unwrap_err().to_string().contains("Patches::plot n"));
    let data = Dataset::new(patches, vec![0.0; 4 * SIZE * SIZE]).unwrap();
    assert!(data.plot(0).result().unwrap_err().to_string().contains("Dataset::plot n"));
}

#[test]
fn dataset_grid_adds_the_label_mask_in_black_where_the_cluster_is() {
    let patches = disk_patches();
    // Masks: patch 0 a disk at its band-0 disk, patch 1 empty.
    let mut masks = disk(SIZE, disk_at(0, 0));
    masks.extend(vec![0.0; SIZE * SIZE]);
    masks.extend(vec![0.0; 2 * SIZE * SIZE]);
    let data = Dataset::new(patches, masks).unwrap();
    let fig = data.plot(2).result().unwrap();
    let (w, _) = fig.size();
    let rgb = check_figure(&fig, 50);
    assert!(fig.svg().unwrap().contains("label mask"));
    let boxes = image_boxes(&rgb, w, 4);
    // The mask panel is one column pitch right of the second band's.
    let pitch = boxes[1].0 - boxes[0].0;
    let shift = |b: BBox| (b.0 + pitch, b.1, b.2 + pitch, b.3);
    let (m0, m1) = (shift(boxes[1]), shift(boxes[3]));
    assert!(m0.2 < w, "mask panel off the figure");
    // Inside the panel (away from the axis lines): black on the disk only, white elsewhere.
    let inner = |b: BBox| (b.0 + 3, b.1 + 3, b.2 - 3, b.3 - 3);
    let ((x, y), n) = centroid(&rgb, w, inner(m0), |p| p == [0, 0, 0]);
    let (ex, ey) = drawn_at(m0, SIZE, disk_at(0, 0).0, disk_at(0, 0).1);
    let area = ((m0.2 - m0.0) * (m0.3 - m0.1)) as f64;
    let expected = disk(SIZE, (16.0, 16.0)).iter().sum::<f32>() as f64 / (SIZE * SIZE) as f64 * area;
    assert!((n as f64 / expected - 1.0).abs() < 0.2, "{n} black pixels, expected ≈ {expected}");
    assert!((x - ex).abs() < 1.5 && (y - ey).abs() < 1.5, "mask disk at ({x}, {y}), expected ({ex}, {ey})");
    let (_, white) = centroid(&rgb, w, inner(m0), |p| p == [255, 255, 255]);
    assert!(white + n + 50 >= ((m0.2 - m0.0 - 5) * (m0.3 - m0.1 - 5)) as usize, "mask panel not white around the disk");
    let (_, none) = centroid(&rgb, w, inner(m1), |p| p == [0, 0, 0]);
    assert_eq!(none, 0, "the empty mask of patch 1 has black pixels");
}

/// Two-band patches with pixels in [0, 1]: band 0 ten times denser below 0.5, band 1 uniform.
fn unit_patches() -> Patches {
    let (n, size) = (4, 24);
    let per = size * size;
    let mut data = Vec::new();
    for k in 0..n {
        // Band 0: 10/11 of the pixels spread evenly over [0, 0.5), 1/11 over [0.5, 1].
        let dense = per * 10 / 11;
        data.extend((0..dense).map(|m| ((k * dense + m) as f32 / (n * dense) as f32) * 0.5));
        data.extend(
            (0..per - dense).map(|m| 0.5 + 0.5 * (k * (per - dense) + m) as f32 / (n * (per - dense) - 1) as f32),
        );
        data.extend((0..per).map(|m| (k * per + m) as f32 / (n * per - 1) as f32));
    }
    let info = (0..n).map(|k| info(k as u64, 10.0 * k as f64, 20.0, size as u32)).collect();
    Patches::from_parts(vec![Band::F100, Band::F143], size, data, info).unwrap()
}

#[test]
fn histograms_keep_their_bars_inside_the_axes_and_show_the_density() {
    const BLUE: [u8; 3] = [31, 119, 180];
    const ORANGE: [u8; 3] = [255, 127, 14];
    let raw = unit_patches();
    let normalised =
        Normaliser::mad().with_sigma(vec![Band::F100, Band::F143], vec![0.1, 0.1]).unwrap().apply(raw.clone()).unwrap();
    let fig =
        xcluster::plot::histograms(&[("raw", &raw), ("normalised (MAD + arcsinh)", &normalised)]).result().unwrap();
    let (w, h) = fig.size();
    let rgb = check_figure(&fig, 20);
    let svg = fig.svg().unwrap();
    for s in ["100GHz — raw", "143GHz — normalised (MAD + arcsinh)", "value [K_CMB]", "normalised value"] {
        assert!(svg.contains(s), "no {s:?} in the SVG");
    }
    // The raw set's bars are blue and in the top row, the normalised set's orange and below.
    let blue = regions(&rgb, w, |p| p == BLUE);
    let orange = regions(&rgb, w, |p| p == ORANGE);
    assert!(!blue.is_empty() && !orange.is_empty());
    let blue_bottom = blue.iter().map(|r| r.0 .3).max().unwrap();
    assert!(blue_bottom < orange.iter().map(|r| r.0 .1).min().unwrap(), "rows out of order");

    // Band 0 of the raw set: the axes of its cell (the longest black lines) frame all its bars.
    let cell = (0, 0, w / 2 - 1, h / 2);
    let black_in_row = |y: u32| (cell.0..=cell.2).filter(|&x| pixel(&rgb, w, x, y) == [0, 0, 0]).count();
    let black_in_col = |x: u32| (cell.1..=cell.3).filter(|&y| pixel(&rgb, w, x, y) == [0, 0, 0]).count();
    let axis_y = (cell.1..=cell.3).max_by_key(|&y| black_in_row(y)).unwrap();
    let axis_x = (cell.0..=cell.2).max_by_key(|&x| black_in_col(x)).unwrap();
    let axis_end = (cell.0..=cell.2).filter(|&x| pixel(&rgb, w, x, axis_y) == [0, 0, 0]).max().unwrap();
    let axis_top = (cell.1..=cell.3).filter(|&y| pixel(&rgb, w, axis_x, y) == [0, 0, 0]).min().unwrap();
    let bars: Vec<(u32, u32)> = (cell.1..=cell.3)
        .flat_map(|y| (cell.0..=cell.2).map(move |x| (x, y)))
        .filter(|&(x, y)| pixel(&rgb, w, x, y) == BLUE)
        .collect();
    assert!(bars.len() > 2000, "{} bar pixels", bars.len());
    for &(x, y) in &bars {
        assert!(x > axis_x && x <= axis_end && y < axis_y && y > axis_top, "bar pixel ({x}, {y}) outside the axes");
    }
    // The data fill the percentile range, so the bars span the axis.
    let (x0, x1) = (bars.iter().map(|b| b.0).min().unwrap(), bars.iter().map(|b| b.0).max().unwrap());
    assert!(x0 <= axis_x + 8 && x1 + 12 >= axis_end, "bars span {x0}…{x1}, axis {axis_x}…{axis_end}");
    // Ten times denser below 0.5: the left bars are taller (one decade on the log axis).
    let top = |x: u32| bars.iter().filter(|b| b.0 == x).map(|b| b.1).min();
    let quarter = (x1 - x0) / 4;
    let (left, right) = (top(x0 + quarter).unwrap(), top(x1 - quarter).unwrap());
    assert!(right > left + 20, "bar tops: left {left}, right {right}");

    // The uniform band's bars are level.
    let cell1: Vec<(u32, u32)> = (0..h / 2)
        .flat_map(|y| (w / 2..w).map(move |x| (x, y)))
        .filter(|&(x, y)| pixel(&rgb, w, x, y) == BLUE)
        .collect();
    let (u0, u1) = (cell1.iter().map(|b| b.0).min().unwrap(), cell1.iter().map(|b| b.0).max().unwrap());
    let tops: Vec<u32> = (u0 + (u1 - u0) / 10..u1 - (u1 - u0) / 10)
        .filter_map(|x| cell1.iter().filter(|b| b.0 == x).map(|b| b.1).min())
        .collect();
    let spread = tops.iter().max().unwrap() - tops.iter().min().unwrap();
    assert!(spread <= 3, "uniform bars differ by {spread} px");
}

#[test]
fn histograms_refuse_no_sets_different_bands_and_empty_sets() {
    let raw = unit_patches();
    let e = xcluster::plot::histograms(&[]).result().unwrap_err().to_string();
    assert!(e.contains("histograms sets"), "{e}");
    let other =
        Patches::from_parts(vec![Band::F100], 24, raw.image(0, 0).to_vec(), vec![info(0, 0.0, 0.0, 24)]).unwrap();
    let e = xcluster::plot::histograms(&[("raw", &raw), ("other", &other)]).result().unwrap_err().to_string();
    assert!(e.contains("share their bands") && e.contains("\"other\""), "{e}");
    let empty = Patches::from_parts(vec![Band::F100, Band::F143], 24, vec![], vec![]).unwrap();
    let e = xcluster::plot::histograms(&[("raw", &raw), ("empty", &empty)]).result().unwrap_err().to_string();
    assert!(e.contains("no patches"), "{e}");
}

/// Writes the figures under target/figures for a look by eye (not an assertion): patches of a
/// synthetic sky around two clusters, raw and normalised, with their masks and histograms.
#[test]
fn write_patch_figures_for_inspection() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures");
    let bands = [Band::F143, Band::F353, Band::F545, Band::YMap];
    let (sky, truth) = Sky::synthetic(xcluster::synthetic::Synthetic::planck_like().nside(64).bands(&bands)).unwrap();
    let tiling = Tiling::default();
    // The two most massive injected clusters of the training tiles away from the Galactic plane.
    let truth = &truth.clusters;
    let col = |name: &str| -> Vec<f64> {
        truth.column(name).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().into_no_null_iter().collect()
    };
    let (glon, glat, m500) = (col("glon"), col("glat"), col("m500"));
    let mut rows: Vec<usize> = (0..glon.len())
        .filter(|&k| glat[k].abs() > 20.0 && tiling.split_of(glon[k], glat[k]) == Split::Train)
        .collect();
    rows.sort_by(|&a, &b| m500[b].total_cmp(&m500[a]));
    let cat = catalog_at(&rows[..2].iter().map(|&k| (glon[k], glat[k])).collect::<Vec<_>>());
    let raw = PatchSampler::clusters(&tiling, &cat, Split::Train)
        .size(32)
        .pixel_arcmin(12.0)
        .loops(2)
        .seed(3)
        .extract(&sky)
        .unwrap();
    let norm = Normaliser::mad().fit(&raw).unwrap().apply(raw.clone()).unwrap();
    let data = norm.clone().labels(Disk::arcmin(15.0)).unwrap();
    let figs = [
        raw.plot(3).result().unwrap(),
        data.plot(3).result().unwrap(),
        xcluster::plot::histograms(&[("raw", &raw), ("normalised (MAD + arcsinh)", &norm)]).result().unwrap(),
    ];
    xcluster::plot::save_all(&figs, &dir).unwrap();
    // The narrowest grid and histogram figures: one band.
    let one = Patches::from_parts(vec![Band::YMap], 32, raw.image(0, 3).to_vec(), vec![raw.info()[0].clone()]).unwrap();
    one.plot(1).result().unwrap().save(dir.join("patches_one_band.png")).unwrap();
    xcluster::plot::histograms(&[("raw", &one)]).result().unwrap().save(dir.join("histograms_one_band.png")).unwrap();
}
