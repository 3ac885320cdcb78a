//! The all-sky map of detections by match class.

use crate::common::{catalog, check_figure};
use polars::prelude::*;
use xcluster::crossmatch::CrossMatch;
use xcluster::detect::Detection;
use xcluster::patches::{Gnomonic, PatchInfo};
use xcluster::plot::mollweide;
use xcluster::predict::Predictions;
use xcluster::tiles::{Split, Tiling};

const N: usize = 64;

#[test]
fn detections_are_drawn_in_their_class_colour_where_they_are() {
    // Three patches, one blob at each centre: one on a catalog cluster (known), one on a radio
    // source (contaminant), one on nothing (unknown).
    let centres = [(40.0, 50.0), (200.0, -30.0), (300.0, 20.0)];
    let info: Vec<PatchInfo> = centres
        .iter()
        .enumerate()
        .map(|(k, &(l, b))| PatchInfo {
            id: k as u64,
            projection: Gnomonic::new(l, b, N as u32, 1.7).unwrap(),
            tile: Tiling::tile_of(l, b),
            split: Split::Test,
            seed_cluster: None,
            shift: (0.0, 0.0),
            clusters: vec![],
        })
        .collect();
    let mut probs = vec![0.0f32; 3 * N * N];
    for n in 0..3 {
        for k in 0..N * N {
            let (i, j) = ((k / N) as f64 - 32.0, (k % N) as f64 - 32.0);
            if i.hypot(j) <= 3.0 {
                probs[n * N * N + k] = 0.99;
            }
        }
    }
    let predictions = Predictions::from_parts(probs, N, info).unwrap();
    let det = predictions.detect(Detection::default()).unwrap();
    assert_eq!(det.len(), 3);
    let clusters = catalog("PSZ2", &[centres[0]]);
    let radio = catalog("radio", &[centres[1]]);
    let matched = CrossMatch::default().run(&det, &[&clusters], &[&radio], &predictions).unwrap();

    let fig = matched.plot_on(&Tiling::default()).result().unwrap();
    let (w, h) = fig.size();
    let rgb = check_figure(&fig, 4);
    // Each class's colour appears within a few pixels of where its detection projects. The chart
    // maps x ∈ [−2√2, 2√2], y ∈ [−√2, √2] onto the plotting area; find that area from the
    // figure's layout by looking for the colour near the projected position, scaled to the figure.
    let near = |(l, b): (f64, f64), colour: [u8; 3]| {
        let (x, y) = mollweide(l, b);
        let (a, bb) = (2f64.sqrt() * 2.0, 2f64.sqrt());
        // The ellipse spans most of the figure width; allow for margins with a generous window.
        let px = ((x + a) / (2.0 * a) * w as f64) as i64;
        let py = ((bb - y) / (2.0 * bb) * (h as f64 - 40.0) + 30.0) as i64;
        (-40..=40).any(|dy: i64| {
            (-40..=40).any(|dx: i64| {
                let (qx, qy) = (px + dx, py + dy);
                qx >= 0 && qy >= 0 && qx < w as i64 && qy < h as i64 && {
                    let k = 3 * (qy as usize * w as usize + qx as usize);
                    rgb[k..k + 3] == colour
                }
            })
        })
    };
    assert!(near(centres[0], [0, 160, 0]), "known detection marker");
    assert!(near(centres[1], [255, 140, 0]), "contaminant detection marker");
    assert!(near(centres[2], [230, 0, 0]), "unknown detection marker");
    assert!(!near(centres[2], [0, 160, 0]), "no known marker at the unknown detection");
}

#[test]
fn dataframes_display_as_html_tables() {
    use xcluster::prelude::NotebookDisplay;
    let df = df!("name" => ["a<b", "c"], "peak" => [0.953125, 1e-9], "n" => [Some(3u32), None]).unwrap();
    let html = df.to_html();
    assert!(html.contains("shape: (2, 3)"));
    assert!(html.contains("<th>name<br><small>str</small></th>"), "{html}");
    assert!(html.contains("<td>a&lt;b</td>"), "escaped, unquoted string: {html}");
    assert!(html.contains("<td>0.953125</td>") && html.contains("<td>1.00000e-9</td>"), "{html}");
    assert!(html.contains("<td>null</td>"));
    let long = df!("k" => (0..100u32).collect::<Vec<_>>()).unwrap().to_html();
    assert_eq!(long.matches("<tr>").count(), 1 + 10 + 1 + 10, "header, 10 first, ellipsis, 10 last");
    assert!(long.contains("<td>99</td>") && !long.contains("<td>50</td>"));
}
