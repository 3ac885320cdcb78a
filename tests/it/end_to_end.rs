//! The whole pipeline on a small synthetic sky (nside 512, a small U-Net, a few hundred steps):
//! it must recover the injected clusters it should — more than half of the brightest decile (by
//! Y5R500) of the injected clusters inside the scanned test tile.
//!
//! Adam at 1e-3, not the defaults' 3e-3: on this 3-band nside-512 sky with batches of 16, 3e-3 drove
//! the network to an empty mask (Tversky loss 1.0 from the first epoch on) for seeds 1 and 3 of three
//! tried, 1e-3 for neither of seeds 1 and 2 (this test runs seed 1). Which seeds collapse depends on
//! the order in which the convolutions sum their terms: a change that only reordered them (the
//! stride-1 input gradient as a full convolution) made seed 1 collapse. The collapse is an open
//! training problem (README).

use xcluster::params::Params;

#[test]
fn run_recovers_the_brightest_injected_clusters() {
    let _serial = crate::common::device_rng();
    let dir = tempfile::tempdir().unwrap();
    let params = Params::from_toml(&format!(
        "path = {:?}\nnside = 512\nbands = [\"143GHz\", \"353GHz\", \"y-map\"]\nloops = 2\nepochs = 3\n\
         steps_per_epoch = 80\nbatch = 16\nfilters = [8, 16, 32, 64]\noptimizer = \"adam\"\nlr = 1e-3\n\
         patience = 3\nlr_patience = 2\n",
        dir.path().to_string_lossy()
    ))
    .unwrap();
    let report = xcluster::pipeline::run(&params).unwrap();
    let e = report.evaluation.expect("the synthetic sky has its truth");
    let clusters = e.clusters();
    let y: Vec<f64> = clusters.column("y5r500_arcmin2").unwrap().f64().unwrap().into_no_null_iter().collect();
    let found = clusters.column("found").unwrap().bool().unwrap().clone();
    let found: Vec<bool> = (0..found.len()).map(|k| found.get(k) == Some(true)).collect();
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.sort_by(|&a, &b| y[b].total_cmp(&y[a]));
    let decile = (y.len() / 10).max(1);
    let recovered = order[..decile].iter().filter(|&&k| found[k]).count();
    eprintln!("{}\nbrightest decile: {recovered}/{decile}", e.summary());
    assert!(recovered * 2 > decile, "brightest decile: {recovered} of {decile} found");
    let purity = e.purity().expect("there are detections");
    assert!(purity > 0.5, "purity {purity}");
}
