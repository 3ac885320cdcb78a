#!/usr/bin/env python3
"""The shipped CMB temperature spectrum: CAMB (BSD-3) with the Planck 2018 ΛCDM best fit
(TT,TE,EE+lowE+lensing: H0 67.36, ombh2 0.02237, omch2 0.1200, tau 0.0544, As 2.100e-9, ns 0.9649),
lensed, to ℓ = 6200. Writes planck2018_lcdm_tt.csv: ell, dl_uk2 (D_ℓ = ℓ(ℓ+1)C_ℓ/2π in µK²).

    pip install camb
    python3 data/cmb/make_cmb_cl.py
"""
import os

import camb

LMAX = 6200
pars = camb.set_params(H0=67.36, ombh2=0.02237, omch2=0.1200, tau=0.0544, As=2.100e-9, ns=0.9649,
                       lmax=LMAX + 300, lens_potential_accuracy=1)
res = camb.get_results(pars)
tt = res.get_cmb_power_spectra(pars, CMB_unit="muK", lmax=LMAX)["total"][:, 0]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "planck2018_lcdm_tt.csv")
with open(out, "w") as f:
    f.write("# CAMB %s, Planck 2018 LCDM (see make_cmb_cl.py); D_ell = ell(ell+1)C_ell/2pi, muK^2, lensed total TT\n" % camb.__version__)
    f.write("ell,dl_uk2\n")
    for ell in range(LMAX + 1):
        f.write("%d,%.6g\n" % (ell, tt[ell]))
print("wrote", out, "peak D_ell %.1f at ell %d" % (tt.max(), tt.argmax()))
