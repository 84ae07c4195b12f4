"""Cramer-Rao bounds: qsense (exact JAX derivatives) vs finite differences of MNE's forward.

Without qsense, the bound on a dipole fit's position error needs the derivative of the
field with respect to the dipole position; the usual route is central finite
differences of ``mne.make_forward_solution`` (the dipole and six displaced copies, one
discrete source space). Both sides then form the same Fisher information and invert it.
Same inputs: Neuromag 306 on the fsaverage head, 2000 dipoles (ico-4 cortex subset,
moments along the cortical normals, 20 nAm), preset noise floors over 1 Hz.

- default: the fitted-sphere head (Sarvas; 5 x 5 Fisher, sources with an almost radial
  normal are left out because they are silent);
- ``--bem``: the single-shell ico-4 BEM that ``Head.fsaverage()`` holds, with MNE's
  forward on the same BEM solution and transform (6 x 6 Fisher; the quasi-radial moment
  component treated as mne.fit_dipole treats it, ``weak_moment_ratio=0.2``).

Agreement is checked first (relative difference of the rms bounds), then cold (fresh
process, JIT included) and warm times are printed. The validity check
(``max_nonlinearity``) is left out of the timing: MNE has no counterpart.

    python benchmarks/crb_vs_mne.py [--bem] [--n N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from _timing import best_of, print_side_by_side

N_DIPOLES = 2000
STEP = 1e-5  # m, central-difference step (error O(STEP^2), well under 1e-6 relative)
WEAK = 0.2  # weak_moment_ratio of the BEM bound (mne.fit_dipole's rule)
TOL = {"sphere": 1e-5, "bem": 1e-4}  # agreement required before timing

SETUP = r"""
import numpy as np, qsense as qs
head = qs.Head.fsaverage(conductor=CONDUCTOR)
arr = qs.arrays.neuromag306(head)
src = qs.sources.cortex(head, "ico4")
out = src.positions - head.sphere_origin
tang = 1 - np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
keep = tang > 0.05 if CONDUCTOR == "sphere" else np.ones(len(src), bool)
idx = np.flatnonzero(keep)[:N_DIPOLES]
pos, mom = src.positions[idx], 20e-9 * src.normals[idx]
"""

COLD = r"""
import time, json
t0 = time.perf_counter()
N_DIPOLES = int(__import__("sys").argv[1])
CONDUCTOR = __import__("sys").argv[2]
""" + SETUP + r"""
from inverse import dipole_localisation_bound
t1 = time.perf_counter()
b = dipole_localisation_bound(arr, head, pos, mom, bandwidth=1.0, max_nonlinearity=None)
t2 = time.perf_counter()
print(json.dumps({"cold": t2 - t1}))
"""


def mne_bound(arr, head, pos, mom, std):
    """Finite differences of MNE's forward on the head's conductor, then the same Fisher
    algebra (sphere: the two tangential moment components; BEM: all three, the weakest
    dropped as mne.fit_dipole drops it)."""
    import mne
    from mne.transforms import apply_trans

    from forward_models.fisher import tangential_basis

    info = arr.to_info()
    steps = np.concatenate([np.zeros((1, 3)), STEP * np.eye(3), -STEP * np.eye(3)])
    rr = (pos[:, None, :] + steps[None]).reshape(-1, 3)
    nn = np.tile([0.0, 0.0, 1.0], (len(rr), 1))
    if head.bem is None:
        trans, model = None, mne.make_sphere_model(r0=head.sphere_origin, head_radius=None)
    else:
        trans, model = head.bem.head_mri_t, head.bem.conductor
        rr = apply_trans(trans, rr)  # discrete source spaces are in MRI coordinates
    src = mne.setup_volume_source_space(pos=dict(rr=rr, nn=nn), verbose=False)
    fwd = mne.make_forward_solution(info, trans, src, model, eeg=False, verbose=False)
    gain = fwd["sol"]["data"].reshape(len(arr.names), len(pos), 7, 3)
    field = np.einsum("cnkj,nj->cnk", gain, mom)  # (channels, dipoles, 7 positions)
    d_pos = (field[:, :, 1:4] - field[:, :, 4:7]) / (2 * STEP)
    if head.bem is None:
        basis = np.asarray(tangential_basis(pos, head.sphere_origin))  # (n, 2, 3)
        d_mom = np.einsum("cnj,nbj->cnb", gain[:, :, 0], basis)
    else:
        white = gain[:, :, 0] / std[:, None, None]
        _, sing, vt = np.linalg.svd(np.moveaxis(white, 1, 0), full_matrices=False)
        weak = sing[:, 2] <= WEAK * sing[:, 0]
        # the weakest direction dropped: known (zero), as a unit, decoupled parameter
        d_mom = np.einsum("cnj,nbj->cnb", gain[:, :, 0], vt)
        d_mom[:, weak, 2] = 0.0
    jac = np.concatenate([d_pos, d_mom], axis=2) / std[:, None, None]
    fisher = np.einsum("cni,cnj->nij", jac, jac)
    if head.bem is not None:
        fisher[weak, 5, 5] = 1.0
    d = np.sqrt(np.einsum("nii->ni", fisher))
    cov = np.linalg.inv(fisher / (d[:, :, None] * d[:, None, :])) / (d[:, :, None]
                                                                      * d[:, None, :])
    return np.sqrt(np.trace(cov[:, :3, :3], axis1=1, axis2=2))


def main(repeats=3, conductor="sphere", n_dipoles=N_DIPOLES):
    import mne

    from inverse import dipole_localisation_bound

    mne.set_log_level("error")
    scope = {"N_DIPOLES": n_dipoles, "CONDUCTOR": conductor}
    exec(SETUP, scope)
    arr, head, pos, mom = (scope[k] for k in ("arr", "head", "pos", "mom"))
    std = np.asarray(arr.noise) * 1.0  # 1 Hz bandwidth
    print(f"inputs: {arr.n_channels} channels, {len(pos)} dipoles, {conductor}, 'accurate' "
          f"coils, {os.cpu_count()} CPU cores")

    def ours():
        return dipole_localisation_bound(arr, head, pos, mom, bandwidth=1.0,
                                         max_nonlinearity=None)

    mine = ours()["rms"].values
    ref = mne_bound(arr, head, pos, mom, std)
    err = np.max(np.abs(mine - ref) / ref)
    print(f"agreement: largest relative difference of the rms bounds {err:.2e} "
          f"(median bound {np.median(mine) * 1e3:.3f} mm)")
    if not err < TOL[conductor]:
        sys.exit("qsense and MNE finite differences disagree; not timing")

    env = dict(os.environ, QSENSE_JAX_CACHE="0")
    out = subprocess.run([sys.executable, "-c", COLD, str(n_dipoles), conductor],
                         capture_output=True, text=True, env=env, check=True)
    cold = json.loads(out.stdout.strip().splitlines()[-1])["cold"]
    tq = best_of(ours, repeats)
    tm = best_of(lambda: mne_bound(arr, head, pos, mom, std), repeats - 1)
    print_side_by_side("MNE finite differences", tm, repeats - 1, "qsense bound", cold, tq,
                       repeats)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bem", action="store_true", help="the BEM head (default: sphere)")
    parser.add_argument("--n", type=int, default=N_DIPOLES, help="number of dipoles")
    args = parser.parse_args()
    main(conductor="bem" if args.bem else "sphere", n_dipoles=args.n)
