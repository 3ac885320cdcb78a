"""The peer to beat: the original's TensorFlow/Keras stack, timed like `xcluster bench train`.

For each network (keras-unet-collection 0.1.13 configurations of issue 5 and the original xCluster
U-Net), 2 untimed warm-up steps, then STEPS timed `train_on_batch` calls on random
[batch, 64, 64, bands] inputs and masks (Adam, focal Tversky loss δ=0.9 γ=0.75), median ms per step,
images/s, and the median inference time of one batch. Also prints the Keras parameter counts.

Setup (not needed by the tests):
  python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 keras-unet-collection==0.1.13
Run:
  /tmp/tfenv/bin/python benches/keras_peer.py [--batch 20] [--bands 6] [--steps 10] [--model unet ...]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers, Model
from keras_unet_collection import models


def xcluster_unet(shape):
    """The original xCluster U-Net (7,725,953 trainable parameters with 6 bands)."""
    inp = layers.Input(shape)
    x, skips = inp, []
    for k, f in enumerate([32, 64, 128, 256]):
        for _ in range(2):
            x = layers.Conv2D(f, 3, padding="same")(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        if k >= 2:
            x = layers.Dropout(0.2)(x)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(512, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(512, 3, padding="same", activation="relu")(x)
    for f, n in [(256, 2), (128, 2), (64, 1), (32, 2)]:
        x = layers.Conv2DTranspose(f, 2, strides=2)(x)
        x = layers.concatenate([x, skips.pop()])
        for _ in range(n):
            x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
    return Model(inp, layers.Conv2D(1, 1, activation="sigmoid")(x))


def build(name, shape):
    f = [64, 128, 256, 512]
    common = dict(n_labels=1, output_activation="Sigmoid")
    return {
        "unet": lambda: xcluster_unet(shape),
        "unet_2d": lambda: models.unet_2d(shape, f, **common),
        "vnet": lambda: models.vnet_2d(shape, [16, 32, 64, 128, 256], res_num_ini=1, res_num_max=3,
                                       activation="PReLU", batch_norm=True, pool=False, unpool=False, **common),
        "attn_net": lambda: models.att_unet_2d(shape, f, batch_norm=True, pool=False, unpool=False, **common),
        "r2u_net": lambda: models.r2_unet_2d(shape, f, recur_num=2, **common),
        "unet_plus": lambda: models.unet_plus_2d(shape, f, **common),
        "resunet_a": lambda: models.resunet_a_2d(shape, f, dilation_num=[1, 3, 15, 31], aspp_num_down=256,
                                                 aspp_num_up=128, batch_norm=True, **common),
        "u2net": lambda: models.u2net_2d(shape, **common, filter_num_down=f),
        "unet_3plus": lambda: models.unet_3plus_2d(shape, **common, filter_num_down=f),
    }[name]()


def focal_tversky(y, p, delta=0.9, gamma=0.75, s=1e-6):
    p = tf.clip_by_value(p, 1e-7, 1 - 1e-7)
    axes = [1, 2, 3]
    tp = tf.reduce_sum(y * p, axes)
    fn = tf.reduce_sum(y * (1 - p), axes)
    fp = tf.reduce_sum((1 - y) * p, axes)
    ti = (tp + s) / (tp + delta * fn + (1 - delta) * fp + s)
    return tf.reduce_mean(tf.pow(1 - ti, gamma))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--bands", type=int, default=6)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--model", nargs="*", default=["unet", "unet_2d", "vnet", "r2u_net", "unet_plus", "attn_net",
                                                   "resunet_a", "u2net", "unet_3plus"])
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(a.batch, 64, 64, a.bands)).astype("float32")
    y = (rng.random((a.batch, 64, 64, 1)) < 0.05).astype("float32")
    print(f"TensorFlow {tf.__version__}, batch {a.batch}, {a.bands} bands, 64x64, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} threads")
    print("model,trainable,total,ms_per_step,train_images_per_s,ms_per_inference_batch,inference_images_per_s")
    for name in a.model:
        m = build(name, (64, 64, a.bands))
        trainable = int(sum(np.prod(w.shape) for w in m.trainable_weights))
        m.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=focal_tversky)
        times = []
        for step in range(a.steps + 2):
            t = time.perf_counter()
            m.train_on_batch(x, y)
            if step >= 2:
                times.append(time.perf_counter() - t)
        infer = []
        for _ in range(4):
            t = time.perf_counter()
            m.predict_on_batch(x)
            infer.append(time.perf_counter() - t)
        step_s, inf_s = float(np.median(times)), float(np.median(infer[1:]))
        print(f"{name},{trainable},{m.count_params()},{step_s * 1e3:.1f},{a.batch / step_s:.1f},"
              f"{inf_s * 1e3:.1f},{a.batch / inf_s:.1f}", flush=True)


if __name__ == "__main__":
    main()
