#!/usr/bin/env python3
"""The matched filter's peer for `xcluster bench mmf`: the same filter, written in numpy, on the
very patches the bench filters (it writes them to an .npz and runs this script beside its own run).

    mmf_peer.py PATCHES.npz --threads T     one JSON line: patches, seconds, q_max per patch
    mmf_peer.py --check FIXTURE.npz          reproduce tests/fixtures/mmf_patch.npz (its own settings)

The formulas are shared/MMF.md's, as tests/fixtures/make_mmf_fixture.py writes them, but vectorised
as a numpy user would: real FFTs (half plane, weights 1 or 2), P(k) per annulus by bincount, one
batched eigh for all annuli, G = P^-1 r and D = sum_nu G_nu M_nu once per patch, then per scale only
T_theta D and one inverse FFT (26 in one call). Timed per patch: taper, FFTs, P(k) and its inverse,
q maps at every scale; no iMMF iteration, no peak finding (the bench times the same on its side).
The templates are made before the clock starts, as the bench's filter makes them once per run.
Patches are spread over T worker processes (fork), each numpy single-threaded.
"""
import argparse
import json
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
import numpy as np  # noqa: E402

GNFW = dict(c500=1.177, gamma=0.3081, alpha=1.0510, beta=5.4905)
SUBPIXELS = 5


def projected_table():
    """The GNFW profile projected to 5 R500 on a grid of u = r/R500 (Gauss-Legendre in l = t^2)."""
    u = np.concatenate([[0.0], np.geomspace(1e-5, 5.0, 6000)])
    g, a, b, c = GNFW["gamma"], GNFW["alpha"], GNFW["beta"], GNFW["c500"]
    x, w = np.polynomial.legendre.leggauss(400)
    tmax = np.maximum(25.0 - u ** 2, 0.0) ** 0.25
    t = 0.5 * (x[None, :] + 1.0) * tmax[:, None]
    r = c * np.sqrt(u[:, None] ** 2 + t ** 4)
    p = 1.0 / (r ** g * (1.0 + r ** a) ** ((b - g) / a))
    return u, 2.0 * np.sum(w[None, :] * p * 2.0 * t, axis=1) * 0.5 * tmax


class Filter:
    def __init__(self, tsz_per_y, fwhm, scales, settings):
        n, dx, self.ell_min, self.ell_max, self.width, self.min_modes, self.floor, taper_px, smooth = settings
        self.n, self.dx = int(n), dx
        n, half = self.n, self.n // 2 + 1
        f = np.fft.fftfreq(n) * n
        self.kf = 2.0 * np.pi / (n * np.radians(dx / 60.0))
        ell_full = self.kf * np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
        bins_full, self.nbins = self.annuli(ell_full)
        self.bins = bins_full[:, :half]
        self.used = self.bins >= 0
        self.b_used = self.bins[self.used]
        weight = np.full((n, half), 2.0)
        weight[:, 0] = weight[:, -1] = 1.0   # columns 0 and N/2 are their own mirror
        self.w_used = weight[self.used]
        ell = ell_full[:, :half][self.used]
        d = np.minimum(np.arange(n), n - 1 - np.arange(n))
        t1 = np.where(d < taper_px, 0.5 * (1.0 - np.cos(np.pi * (d + 0.5) / taper_px)), 1.0)
        self.taper = t1[:, None] * t1[None, :]
        self.w2 = (self.taper ** 2).mean()
        s = np.radians(smooth / 60.0)
        sig = np.radians(np.asarray(fwhm) / 60.0) / np.sqrt(8.0 * np.log(2.0))
        beam = np.exp(-ell[None, :] * (ell[None, :] + 1.0) * sig[:, None] ** 2 / 2.0)
        self.r = np.asarray(tsz_per_y)[:, None] * beam * np.exp(-ell * ell * s * s / 2.0)[None, :]   # (B, K)
        table = projected_table()
        self.t_hat = np.array([self.fourier_profile(th, table)[:, :half] for th in scales])       # (S, N, half)
        self.t_used = self.t_hat[:, self.used]

    def annuli(self, ell):
        used = (ell >= self.ell_min) & (ell <= self.ell_max)
        used[0, 0] = False
        step = self.width * self.kf
        base = np.floor((ell - self.ell_min) / step).astype(int)
        n_base = int(np.floor((self.ell_max - self.ell_min) / step)) + 1
        counts = np.bincount(base[used], minlength=n_base)
        merged, b, held, complete = np.zeros(n_base, dtype=int), 0, 0, 0
        for a in range(n_base):
            merged[a] = b
            held += counts[a]
            if held >= self.min_modes:
                complete, b, held = b + 1, b + 1, 0
        if held > 0 and complete > 0:
            merged[merged == complete] = complete - 1
        return np.where(used, merged[np.clip(base, 0, n_base - 1)], -1), max(complete, 1)

    def fourier_profile(self, theta, table):
        n, dx = self.n, self.dx
        sub = (np.arange(SUBPIXELS) + 0.5) / SUBPIXELS - 0.5
        d = np.fft.fftfreq(n) * n
        di = d[:, None, None, None] + sub[None, None, :, None]
        dj = d[None, :, None, None] + sub[None, None, None, :]
        u = np.sqrt(di ** 2 + dj ** 2) * dx / theta
        tau = np.where(u < 5.0, np.interp(u, *table), 0.0).mean(axis=(2, 3))
        tau /= tau.sum() * dx * dx
        box = np.sinc(d / n)
        return np.real(dx * dx * np.fft.fft2(tau)) / (box[:, None] * box[None, :])

    def inverse(self, c):
        d = np.sqrt(np.einsum("kaa->ka", c))
        dd = d[:, :, None] * d[:, None, :]
        lam, v = np.linalg.eigh(c / dd)
        lam = np.maximum(lam, self.floor * lam[:, -1:])
        return np.einsum("kab,kb,kcb->kac", v, 1.0 / lam, v) / dd

    def q_maps(self, maps):
        """q at every scale (S, N, N) and sigma per scale of one patch (B, N, N)."""
        n, nb = self.n, maps.shape[0]
        w = self.taper
        m = (maps - (maps * w).sum(axis=(1, 2), keepdims=True) / w.sum()) * w
        mf = np.fft.rfft2(m)[:, self.used]                                           # (B, K)
        c = np.empty((self.nbins, nb, nb))
        for a in range(nb):
            for b in range(a, nb):
                prod = self.w_used * np.real(mf[a] * np.conj(mf[b]))
                c[:, a, b] = c[:, b, a] = np.bincount(self.b_used, weights=prod, minlength=self.nbins)
        modes = np.bincount(self.b_used, weights=self.w_used, minlength=self.nbins)
        c *= self.dx * self.dx / (n * n * self.w2 * modes[:, None, None])
        g = np.einsum("kab,bk->ak", self.inverse(c)[self.b_used], self.r)              # (B, K)
        h = np.sum(self.r * g, axis=0)
        data = np.sum(g * mf, axis=0)
        sigma = np.sqrt(n * n * self.dx * self.dx / ((self.t_used ** 2 * h * self.w_used).sum(axis=1)))
        stack = np.zeros(self.t_hat.shape, dtype=complex)
        stack[:, self.used] = self.t_used * data
        return sigma[:, None, None] * np.fft.irfft2(stack, s=(n, n)), sigma


FILTER, MAPS = None, None


def q_max(k):
    return float(FILTER.q_maps(MAPS[k].astype(float))[0].max())


def run(path, threads):
    global FILTER, MAPS
    z = np.load(path)
    MAPS = z["maps"]
    FILTER = Filter(z["tsz_per_y"], z["fwhm_arcmin"], z["scales"], z["settings"])
    import multiprocessing as mp
    with mp.get_context("fork").Pool(threads) as pool:
        pool.map(int, range(threads))   # the workers exist before the clock starts
        start = time.perf_counter()
        q = pool.map(q_max, range(len(MAPS)))
        seconds = time.perf_counter() - start
    print(json.dumps(dict(framework="numpy " + np.__version__, patches=len(MAPS), seconds=seconds, q_max=q)))


def check(path):
    z = np.load(path)
    s = z["settings"]   # the fixture's last setting is the map resolution r: smoothing r / sqrt(6)
    f = Filter(z["tsz_per_y"], z["fwhm_arcmin"], z["scales"], np.concatenate([s[:8], [s[8] / np.sqrt(6.0)]]))
    q, sigma = f.q_maps(z["maps"])
    dq = np.abs(q - z["q"]).max() / np.abs(z["q"]).max()
    ds = np.abs(sigma / z["sigma"] - 1.0).max()
    print(f"fixture {path}: max |dq| / max |q| = {dq:.2e}, max |dsigma/sigma| = {ds:.2e}")
    return dq < 1e-3 and ds < 1e-3


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("patches", nargs="?")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check", metavar="FIXTURE")
    a = ap.parse_args()
    if a.check:
        sys.exit(0 if check(a.check) else 1)
    run(a.patches, a.threads)
