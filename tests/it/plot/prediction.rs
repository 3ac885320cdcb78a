//! The prediction panel: input with the catalogue clusters, true mask, probability with its colour
//! bar, and the detections on the patch drawn by class where they are.

use polars::prelude::Column;

use crate::common::{check_figure, pixel};
use crate::plot::patches::{centroid, disk, drawn_at, info, regions, BBox, VIRIDIS_HI, VIRIDIS_LO};
use xcluster::patches::{ClusterInPatch, Patches};
use xcluster::plot::prediction;
use xcluster::prelude::*;

const SIZE: usize = 32;
/// Marker colours of the figure: known, unknown, contaminant, unclassified detections.
const GREEN: [u8; 3] = [0, 160, 0];
const RED: [u8; 3] = [230, 0, 0];
const ORANGE: [u8; 3] = [255, 140, 0];
const MAGENTA: [u8; 3] = [230, 0, 230];

/// Patch pixels (row, column) of the cluster and of the three detections on patch 1.
const CLUSTER: (f64, f64) = (22.0, 9.0);
const KNOWN: (f64, f64) = (22.0, 9.0);
const UNKNOWN: (f64, f64) = (8.0, 24.0);
const CONTAMINANT: (f64, f64) = (15.0, 17.0);

/// Two patches (143 GHz, y-map); patch 1, centred on (100, 40), holds a cluster whose y-map disk
/// and mask sit at `CLUSTER`. Predictions: a 0.9 disk at each detection of patch 1.
fn inputs() -> (Patches, Vec<f32>, Predictions) {
    let mut infos = vec![info(0, 250.0, -30.0, SIZE as u32), info(1, 100.0, 40.0, SIZE as u32)];
    let (l, b) = infos[1].projection.pixel_to_galactic(CLUSTER.0, CLUSTER.1);
    let (i, j) = infos[1].projection.galactic_to_pixel(l, b).unwrap();
    infos[1].clusters = vec![ClusterInPatch { index: 0, name: "c0".into(), i, j, theta500_arcmin: None }];
    let noise = |k: usize| ((k * 7919) % 101) as f32 / 101.0 - 0.5;
    let mut data = Vec::new();
    for _patch in 0..2 {
        data.extend((0..SIZE * SIZE).map(|k| 1e-4 * noise(k)));
        data.extend(disk(SIZE, CLUSTER).iter().map(|&v| v * 1e-4));
    }
    let patches = Patches::from_parts(vec![Band::F143, Band::YMap], SIZE, data, infos.clone()).unwrap();
    let mut masks = vec![0.0; SIZE * SIZE];
    masks.extend(disk(SIZE, CLUSTER));
    let mut probs = vec![0.0f32; 2 * SIZE * SIZE];
    for at in [KNOWN, UNKNOWN, CONTAMINANT] {
        for (p, d) in probs[SIZE * SIZE..].iter_mut().zip(disk(SIZE, at)) {
            *p = p.max(0.9 * d);
        }
    }
    (patches, masks, Predictions::from_parts(probs, SIZE, infos).unwrap())
}

/// Detections at the given patch-1 pixels plus two that are not on patch 1 (one on patch 0, one
/// elsewhere), with a `class` column when `classes` is given.
fn detections(patches: &Patches, at: &[(f64, f64)], classes: Option<&[&str]>) -> DataFrame {
    let g = patches.info()[1].projection;
    let mut pos: Vec<(f64, f64)> = at.iter().map(|&(i, j)| g.pixel_to_galactic(i, j)).collect();
    pos.push((250.0, -30.0));
    pos.push((10.0, 10.0));
    let mut columns = vec![
        Column::new("glon".into(), pos.iter().map(|p| p.0).collect::<Vec<_>>()),
        Column::new("glat".into(), pos.iter().map(|p| p.1).collect::<Vec<_>>()),
    ];
    if let Some(c) = classes {
        let mut c: Vec<&str> = c.to_vec();
        c.extend(["known", "unknown"]);
        columns.push(Column::new("class".into(), c));
    }
    DataFrame::new(pos.len(), columns).unwrap()
}

/// The image regions of the figure's panels with the viridis background, left to right.
fn panels(rgb: &[u8], width: u32) -> Vec<BBox> {
    let mut boxes: Vec<BBox> =
        regions(rgb, width, |p| p == VIRIDIS_LO).into_iter().filter(|r| r.1 > 1000).map(|r| r.0).collect();
    boxes.sort_by_key(|b| b.0);
    boxes
}

/// Pixels of colour `c` in the figure.
fn of_colour(rgb: &[u8], width: u32, c: [u8; 3]) -> Vec<(f64, f64)> {
    (0..rgb.len() as u32 / 3)
        .filter(|&k| pixel(rgb, width, k % width, k / width) == c)
        .map(|k| ((k % width) as f64, (k / width) as f64))
        .collect()
}

#[test]
fn the_panel_draws_each_detection_by_class_where_it_is() {
    let (patches, masks, pred) = inputs();
    let df = detections(&patches, &[KNOWN, UNKNOWN, CONTAMINANT], Some(&["known", "unknown", "contaminant"]));
    let fig = prediction(&patches, &masks, &pred, &df, 1).result().unwrap();
    let (w, _) = fig.size();
    let rgb = check_figure(&fig, 100);
    // Panels (a) input, (c) and (d) probability have viridis backgrounds; (b) is the mask.
    let boxes = panels(&rgb, w);
    assert_eq!(boxes.len(), 3, "{boxes:?}");
    let (a, c, d) = (boxes[0], boxes[1], boxes[2]);
    let pitch = d.0 - c.0;
    assert!(c.0 - a.0 == 2 * pitch, "panels not evenly spaced: {boxes:?}");
    for (colour, at) in [(GREEN, KNOWN), (RED, UNKNOWN), (ORANGE, CONTAMINANT)] {
        let (ex, ey) = drawn_at(d, SIZE, at.0, at.1);
        let pixels = of_colour(&rgb, w, colour);
        let on_panel: Vec<_> = pixels.iter().filter(|p| p.1 <= d.3 as f64).collect();
        assert!(on_panel.len() > 15, "{colour:?}: {} marker pixels", on_panel.len());
        for &&(x, y) in &on_panel {
            assert!((x - ex).hypot(y - ey) <= 11.0, "{colour:?} pixel ({x}, {y}) far from ({ex}, {ey})");
        }
        // The legend below the panels has the same marker.
        assert!(pixels.iter().any(|p| p.1 > d.3 as f64 + 20.0 && p.0 >= d.0 as f64), "{colour:?}: no legend marker");
    }
    // The circle and the cross are centred on their detection (to 2 px; a patch pixel is ~6 px).
    for (colour, at) in [(GREEN, KNOWN), (RED, UNKNOWN)] {
        let ((x, y), _) = centroid(&rgb, w, d, |p| p == colour);
        let (ex, ey) = drawn_at(d, SIZE, at.0, at.1);
        assert!(
            (x - ex).abs() < 2.0 && (y - ey).abs() < 2.0,
            "{colour:?} centred at ({x}, {y}), expected ({ex}, {ey})"
        );
    }
    // (a): the catalogue cluster as a white plus sign on its y-map disk.
    let ((x, y), n) = centroid(&rgb, w, (a.0 + 2, a.1 + 2, a.2 - 2, a.3 - 2), |p| p == [255, 255, 255]);
    let (ex, ey) = drawn_at(a, SIZE, CLUSTER.0, CLUSTER.1);
    assert!(
        n >= 20 && (x - ex).abs() < 1.5 && (y - ey).abs() < 1.5,
        "plus sign of {n} px at ({x}, {y}), expected ({ex}, {ey})"
    );
    let ((x, y), n) = centroid(&rgb, w, a, |p| p == VIRIDIS_HI);
    assert!(n > 200 && (x - ex).abs() < 2.0 && (y - ey).abs() < 2.0, "y-map disk at ({x}, {y})");
    // (b): the true mask one pitch left of (c), black on the cluster.
    let b = (c.0 - pitch, c.1, c.2 - pitch, c.3);
    let ((x, y), n) = centroid(&rgb, w, (b.0 + 3, b.1 + 3, b.2 - 3, b.3 - 3), |p| p == [0, 0, 0]);
    let (ex, ey) = drawn_at(b, SIZE, CLUSTER.0, CLUSTER.1);
    assert!(n > 500 && (x - ex).abs() < 1.5 && (y - ey).abs() < 1.5, "mask disk of {n} px at ({x}, {y})");
    // (c): the probability disks in their place and the colour bar below, reaching yellow.
    let ((x, y), n) = centroid(&rgb, w, c, |p| p != VIRIDIS_LO);
    let centre = [KNOWN, UNKNOWN, CONTAMINANT].map(|at| drawn_at(c, SIZE, at.0, at.1));
    let (ex, ey) = (centre.iter().map(|p| p.0).sum::<f64>() / 3.0, centre.iter().map(|p| p.1).sum::<f64>() / 3.0);
    assert!(
        n > 1000 && (x - ex).abs() < 2.0 && (y - ey).abs() < 2.0,
        "probability disks centred at ({x}, {y}), expected ({ex}, {ey})"
    );
    let bar = (c.0, c.3 + 5, c.2, c.3 + 60);
    assert!(centroid(&rgb, w, bar, |p| p == VIRIDIS_HI).1 > 0, "no colour bar under (c)");
    // Titles and the legend's counts: the detections off patch 1 are not counted.
    let svg = fig.svg().unwrap();
    for s in [
        "Patch 1 · tile 7",
        "(l, b) = (100.00°, +40.00°)",
        "(a) y-map [y]",
        "(d) detections on the patch: 3",
        "known: 1",
        "unknown: 1",
        "contaminant: 1",
        "catalogue clusters in (a): 1",
        "probability",
    ] {
        assert!(svg.contains(s), "no {s:?} in the SVG");
    }
}

#[test]
fn detections_without_a_class_are_drawn_alike_and_counted() {
    let (patches, masks, pred) = inputs();
    let df = detections(&patches, &[UNKNOWN, CONTAMINANT], None);
    let fig = prediction(&patches, &masks, &pred, &df, 1).result().unwrap();
    let (w, _) = fig.size();
    let rgb = check_figure(&fig, 100);
    let d = panels(&rgb, w)[2];
    let on_panel: Vec<(f64, f64)> = of_colour(&rgb, w, MAGENTA).into_iter().filter(|p| p.1 <= d.3 as f64).collect();
    for at in [UNKNOWN, CONTAMINANT] {
        let (ex, ey) = drawn_at(d, SIZE, at.0, at.1);
        assert!(on_panel.iter().filter(|p| (p.0 - ex).hypot(p.1 - ey) <= 9.0).count() > 15, "no marker at {at:?}");
    }
    assert!(of_colour(&rgb, w, GREEN).is_empty() && of_colour(&rgb, w, RED).is_empty());
    let svg = fig.svg().unwrap();
    assert!(svg.contains("detection: 2") && !svg.contains("known:"), "legend");
    // Patch 0 has one detection on it and no cluster.
    let svg = prediction(&patches, &masks, &pred, &df, 0).result().unwrap().svg().unwrap();
    assert!(svg.contains("detection: 1") && svg.contains("catalogue clusters in (a): 0"));
}

#[test]
fn bad_arguments_are_named() {
    let (patches, masks, pred) = inputs();
    let df = detections(&patches, &[KNOWN], Some(&["known"]));
    let err = |f: Figure| f.result().unwrap_err().to_string();
    let e = err(prediction(&patches, &masks, &pred, &df, 2));
    assert!(e.contains("prediction n") && e.contains("2 patches"), "{e}");
    let e = err(prediction(&patches, &masks[..SIZE * SIZE], &pred, &df, 1));
    assert!(e.contains("prediction masks"), "{e}");
    let one = Predictions::from_parts(pred.prob(0).to_vec(), SIZE, vec![pred.info()[0].clone()]).unwrap();
    let e = err(prediction(&patches, &masks, &one, &df, 1));
    assert!(e.contains("prediction predictions"), "{e}");
    let small = Predictions::from_parts(vec![0.0; 2 * 16 * 16], 16, pred.info().to_vec()).unwrap();
    assert!(err(prediction(&patches, &masks, &small, &df, 1)).contains("prediction predictions"));
    let swapped =
        Predictions::from_parts(pred.probs().to_vec(), SIZE, pred.info().iter().rev().cloned().collect()).unwrap();
    let e = err(prediction(&patches, &masks, &swapped, &df, 1));
    assert!(e.contains("prediction predictions") && e.contains("centred"), "{e}");
    let no_glat = df.drop("glat").unwrap();
    let e = err(prediction(&patches, &masks, &pred, &no_glat, 1));
    assert!(e.contains("prediction detections") && e.contains("glat"), "{e}");
    let odd = detections(&patches, &[KNOWN], Some(&["spurious"]));
    let e = err(prediction(&patches, &masks, &pred, &odd, 1));
    assert!(e.contains("prediction detections") && e.contains("spurious"), "{e}");
    assert!(prediction(&patches, &masks, &pred, &df, 1).result().is_ok());
}

/// Writes a panel for a look by eye (not an assertion).
#[test]
fn write_prediction_figure_for_inspection() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("figures");
    let (patches, masks, pred) = inputs();
    let df = detections(&patches, &[KNOWN, UNKNOWN, CONTAMINANT], Some(&["known", "unknown", "contaminant"]));
    xcluster::plot::save_all(&[prediction(&patches, &masks, &pred, &df, 1).result().unwrap()], &dir).unwrap();
}
