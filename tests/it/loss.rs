//! Losses and metrics equal an independent numpy implementation (tests/fixtures/make_loss_fixtures.py)
//! on random inputs and edge cases (all-zero / all-one masks, saturated predictions): finite values,
//! gradients without NaN.

use burn::tensor::{Device, Tensor, TensorData};
use serde::Deserialize;
use xcluster::loss::{Confusion, Loss};

#[derive(Deserialize)]
struct Case {
    case: String,
    shape: [usize; 4],
    p: Vec<f32>,
    y: Vec<f32>,
    losses: std::collections::BTreeMap<String, f64>,
    metrics: std::collections::BTreeMap<String, f64>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/losses.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn tensor(v: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

#[test]
fn losses_equal_the_numpy_reference() {
    let device = Device::default();
    let cases = cases();
    assert_eq!(cases.len(), 8);
    for c in &cases {
        assert_eq!(c.losses.len(), 9, "{}", c.case);
        for loss in Loss::ALL {
            let want = c.losses[loss.name()];
            let got: f32 = loss.forward(tensor(&c.p, c.shape, &device), tensor(&c.y, c.shape, &device)).into_scalar();
            let got = got as f64;
            assert!(got.is_finite(), "{} on {}: {got}", loss.name(), c.case);
            assert!(
                (got - want).abs() <= 2e-5 + 2e-5 * want.abs(),
                "{} on {}: got {got}, numpy {want}",
                loss.name(),
                c.case
            );
        }
    }
}

#[test]
fn gradients_are_finite_at_saturation() {
    let device = Device::default().autodiff();
    for c in cases().iter().filter(|c| c.case.contains("saturated") || c.case.contains("pred")) {
        for loss in Loss::ALL {
            let p = tensor(&c.p, c.shape, &device).require_grad();
            let grads = loss.forward(p.clone(), tensor(&c.y, c.shape, &device)).backward();
            let g: Vec<f32> = p.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
            assert!(g.iter().all(|g| g.is_finite()), "{} on {}", loss.name(), c.case);
        }
    }
}

#[test]
fn metrics_equal_the_numpy_reference() {
    for c in cases() {
        let mut m = Confusion::default();
        // Two halves added separately: counts accumulate over batches.
        let half = c.p.len() / 2;
        m.add(&c.p[..half], &c.y[..half]);
        m.add(&c.p[half..], &c.y[half..]);
        for (name, got) in [("dice", m.dice()), ("iou", m.iou()), ("precision", m.precision()), ("recall", m.recall())]
        {
            assert!((got - c.metrics[name]).abs() < 1e-12, "{name} on {}: {got} vs {}", c.case, c.metrics[name]);
        }
    }
}

#[test]
fn names_defaults_and_validation() {
    for loss in Loss::ALL {
        assert_eq!(Loss::from_name(loss.name()).unwrap(), loss);
        loss.validate().unwrap();
    }
    assert_eq!(Loss::focal_tversky(), Loss::FocalTversky { delta: 0.9, gamma: 0.75, smooth: 1e-6 });
    assert_eq!(Loss::tversky(), Loss::Tversky { delta: 0.9, smooth: 1e-6 });
    let err = Loss::from_name("l2").unwrap_err().to_string();
    assert!(err.contains("unknown loss \"l2\""), "{err}");
    let err = Loss::Tversky { delta: 1.5, smooth: 1e-6 }.validate().unwrap_err().to_string();
    assert!(err.contains("tversky_loss: delta must be in [0, 1], got 1.5"), "{err}");
}
