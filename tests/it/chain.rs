//! The fluent chain: owned stage values, a model that knows its inputs, and loading a saved model.

use xcluster::polars::prelude::DataType;
use xcluster::prelude::*;

use crate::common::device_rng;

/// A tiny synthetic sky (nside 128) with two bands, and the built-in catalogs.
fn tiny() -> (Sky, Catalogs) {
    let (sky, _truth) =
        Sky::synthetic(Synthetic::planck_like().nside(128).bands(&[Band::F143, Band::YMap]).seed(3)).unwrap();
    (sky, Catalogs::builtin().unwrap())
}

fn data(sky: &Sky, cats: &Catalogs, bands: &[Band]) -> Data {
    sky.tiles(Tiling::default())
        .patches(cats.planck_z().unwrap())
        .loops(1)
        .bands(bands)
        .normalise(Normaliser::mad())
        .unwrap()
}

fn model() -> Model {
    Model::unet().filters(&[4, 8]).loss(Dice).epochs(1).steps_per_epoch(1).batch(2).progress(false)
}

#[test]
fn a_model_refuses_bands_in_another_order_and_normalises_raw_patches_itself() {
    let _rng = device_rng();
    let (sky, cats) = tiny();
    let data = data(&sky, &cats, &[Band::F143, Band::YMap]);
    let trained = model().fit(&data).unwrap();
    assert_eq!(trained.inputs().map(|i| (i.size, i.pixel_arcmin)), Some((64, 1.7)));

    let swapped = self::data(&sky, &cats, &[Band::YMap, Band::F143]);
    let err = trained.scan(&swapped).unwrap_err().to_string();
    assert!(err.contains("[143GHz, y-map]") && err.contains("[y-map, 143GHz]"), "{err}");

    // Raw patches in the model's order: predict normalises them, as scanning does.
    let sampler = data.sampler().for_split(Split::Val).loops(1);
    let raw = sampler.extract(&sky).unwrap().select(&[0, 1, 2]).unwrap();
    let normalised = data.normaliser().apply(raw.clone()).unwrap();
    let (a, b) = (trained.predict(&raw, 8).unwrap(), trained.predict(&normalised, 8).unwrap());
    assert_eq!(a.probs(), b.probs());
    let wrong = xcluster::sky::Band::F353;
    let other = sampler
        .bands(&[Band::F143, wrong])
        .extract(&Sky::synthetic(Synthetic::planck_like().nside(128).bands(&[Band::F143, wrong]).seed(3)).unwrap().0);
    let err = trained.predict(&other.unwrap(), 8).unwrap_err().to_string();
    assert!(err.contains("353GHz"), "{err}");
}

#[test]
fn a_saved_model_keeps_its_inputs_and_scans_the_same_after_loading() {
    let _rng = device_rng();
    let (sky, cats) = tiny();
    let data = data(&sky, &cats, &[Band::F143, Band::YMap]);
    let trained = model().fit(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    trained.save(dir.path()).unwrap();
    let loaded = Trained::load(dir.path()).unwrap();
    assert_eq!(loaded.inputs(), trained.inputs());
    assert_eq!(loaded.normaliser(), trained.normaliser());
    let cover = Cover::tiles(&[6]);
    let (a, b) = (trained.scan_cover(&data, cover.clone()).unwrap(), loaded.scan_cover(&data, cover).unwrap());
    assert_eq!(a.predictions().probs(), b.predictions().probs());
    assert!(a.predictions().len() > 100, "tile 6 is covered by {} patches", a.predictions().len());
    // Ids stay unique across the tiles of one scan.
    let two = trained.scan_cover(&data, Cover::tiles(&[6, 7])).unwrap();
    let mut ids: Vec<u64> = two.predictions().info().iter().map(|i| i.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), two.predictions().len());
}

#[test]
fn fit_or_load_trains_once_then_loads_and_retrains_when_the_settings_change() {
    let _rng = device_rng();
    let (sky, cats) = tiny();
    let data = data(&sky, &cats, &[Band::F143, Band::YMap]);
    let dir = tempfile::tempdir().unwrap();
    let first = model().fit_or_load(&data, dir.path()).unwrap();
    // The history holds each epoch's training time: a load gives the same history back, a retraining
    // another one.
    let again = model().fit_or_load(&data, dir.path()).unwrap();
    let column = |t: &Trained, c: &str| -> Vec<f64> {
        t.history().column(c).unwrap().cast(&DataType::Float64).unwrap().f64().unwrap().into_no_null_iter().collect()
    };
    for c in ["epoch", "loss", "val_loss", "val_dice", "lr", "seconds"] {
        let (a, b) = (column(&again, c), column(&first, c));
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-12 * y.abs().max(1.0)), "{c}: {a:?} vs {b:?}");
    }
    assert_eq!(again.normaliser(), first.normaliser());
    let longer = model().epochs(2).fit_or_load(&data, dir.path()).unwrap();
    assert_eq!(longer.history().height(), 2, "other settings: trained afresh");
    let other_data = self::data(&sky, &cats, &[Band::YMap, Band::F143]);
    let retrained = model().epochs(2).fit_or_load(&other_data, dir.path()).unwrap();
    assert_eq!(retrained.normaliser().map(|n| n.bands().to_vec()), Some(vec![Band::YMap, Band::F143]));
}

#[test]
fn a_cover_lists_each_tile_once_and_keeps_a_shards_share() {
    let tiling = Tiling::default();
    assert_eq!(Cover::test().resolve(&tiling).unwrap(), vec![6]);
    assert_eq!(Cover::tiles(&[7, 6, 7]).resolve(&tiling).unwrap(), vec![7, 6]);
    assert_eq!(Cover::full_sky().resolve(&tiling).unwrap(), (0..48).collect::<Vec<_>>());
    let shards: Vec<Vec<u32>> = (0..3).map(|i| Cover::full_sky().shard(i, 3).resolve(&tiling).unwrap()).collect();
    assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), 48);
    assert!(shards[1].iter().all(|t| t % 3 == 1));
    let err = Cover::tiles(&[48]).resolve(&tiling).unwrap_err().to_string();
    assert!(err.contains("tile 48"), "{err}");
    assert!(Cover::test().shard(3, 3).resolve(&tiling).is_err());
}

#[test]
fn stage_values_show_their_key_numbers_and_errors_in_html() {
    let (sky, cats) = tiny();
    let html = sky.to_html();
    assert!(html.contains("143GHz, y-map") && html.contains("128"), "{html}");
    let tiled = sky.tiles(Tiling::default());
    assert!(tiled.to_html().contains("[6]"), "the test tile");
    let (_, truth) = Sky::synthetic(Synthetic::planck_like().nside(64).bands(&[Band::F143])).unwrap();
    let html = truth.to_html();
    let clusters = format!("<td style=\"text-align:left\">{}</td>", truth.clusters.height());
    assert!(html.contains("injected clusters") && html.contains(&clusters), "{html}");
    let failed: xcluster::Result<Data> =
        tiled.patches(cats.planck_z().unwrap()).bands(&[Band::F857]).normalise(Normaliser::mad());
    let html = failed.to_html();
    assert!(html.contains("error") && html.contains("857GHz"), "{html}");
    let matched_err = Model::unet().to_html();
    assert!(matched_err.contains("unet") && matched_err.contains("tversky_loss"), "{matched_err}");
    // A figure that cannot be drawn carries its error instead of failing the cell.
    let fig = Dataset::new(Patches::from_parts(vec![Band::F143], 4, vec![], vec![]).unwrap(), vec![]).unwrap().plot(2);
    assert!(fig.result().is_err());
}
