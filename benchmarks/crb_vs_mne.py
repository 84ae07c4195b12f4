"""Cramer-Rao bounds: qsense (exact JAX derivatives) vs finite differences of MNE's forward.

Without qsense, the bound on a dipole fit's position error needs the derivative of the
field with respect to the dipole position; the usual route is central finite
differences of ``mne.make_forward_solution`` (the dipole and six displaced copies, one
discrete source space). Both sides then form the same 5 x 5 Fisher information and
invert it. Same inputs: Neuromag 306 on the fitted-sphere fsaverage head, 2000 dipoles
(ico-4 cortex subset, moments along the cortical normals, 20 nAm; sources with an almost
radial normal are left out because they are silent), preset noise floors over 1 Hz.
Agreement is checked first (relative difference of the rms bounds), then cold (fresh
process, JIT included) and warm times are printed.

    python benchmarks/crb_vs_mne.py
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

SETUP = r"""
import numpy as np, qsense as qs
head = qs.Head.fsaverage(conductor="sphere")
arr = qs.arrays.neuromag306(head)
src = qs.sources.cortex(head, "ico4")
out = src.positions - head.sphere_origin
tang = 1 - np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
idx = np.flatnonzero(tang > 0.05)[:N_DIPOLES]
pos, mom = src.positions[idx], 20e-9 * src.normals[idx]
"""

COLD = r"""
import time, json
t0 = time.perf_counter()
N_DIPOLES = int(__import__("sys").argv[1])
""" + SETUP + r"""
from inverse import dipole_localisation_bound
t1 = time.perf_counter()
b = dipole_localisation_bound(arr, head, pos, mom, bandwidth=1.0)
t2 = time.perf_counter()
print(json.dumps({"cold": t2 - t1}))
"""


def mne_bound(arr, head, pos, mom, std):
    """Finite differences of MNE's sphere forward, then the same Fisher algebra."""
    import mne

    from forward_models.fisher import tangential_basis

    info = arr.to_info()
    sphere = mne.make_sphere_model(r0=head.sphere_origin, head_radius=None)
    steps = np.concatenate([np.zeros((1, 3)), STEP * np.eye(3), -STEP * np.eye(3)])
    rr = (pos[:, None, :] + steps[None]).reshape(-1, 3)
    nn = np.tile([0.0, 0.0, 1.0], (len(rr), 1))
    src = mne.setup_volume_source_space(pos=dict(rr=rr, nn=nn), verbose=False)
    fwd = mne.make_forward_solution(info, None, src, sphere, eeg=False, verbose=False)
    gain = fwd["sol"]["data"].reshape(len(arr.names), len(pos), 7, 3)
    field = np.einsum("cnkj,nj->cnk", gain, mom)  # (channels, dipoles, 7 positions)
    d_pos = (field[:, :, 1:4] - field[:, :, 4:7]) / (2 * STEP)
    basis = np.asarray(tangential_basis(pos, head.sphere_origin))  # (n, 2, 3)
    d_mom = np.einsum("cnj,nbj->cnb", gain[:, :, 0], basis)
    jac = np.concatenate([d_pos, d_mom], axis=2) / std[:, None, None]
    fisher = np.einsum("cni,cnj->nij", jac, jac)
    d = np.sqrt(np.einsum("nii->ni", fisher))
    cov = np.linalg.inv(fisher / (d[:, :, None] * d[:, None, :])) / (d[:, :, None]
                                                                      * d[:, None, :])
    return np.sqrt(np.trace(cov[:, :3, :3], axis1=1, axis2=2))


def main(repeats=3):
    import mne

    from inverse import dipole_localisation_bound

    mne.set_log_level("error")
    scope = {"N_DIPOLES": N_DIPOLES}
    exec(SETUP, scope)
    arr, head, pos, mom = (scope[k] for k in ("arr", "head", "pos", "mom"))
    std = np.asarray(arr.noise) * 1.0  # 1 Hz bandwidth
    print(f"inputs: {arr.n_channels} channels, {len(pos)} dipoles, sphere, 'accurate' coils, "
          f"{os.cpu_count()} CPU cores")

    ours = dipole_localisation_bound(arr, head, pos, mom, bandwidth=1.0)["rms"].values
    ref = mne_bound(arr, head, pos, mom, std)
    err = np.max(np.abs(ours - ref) / ref)
    print(f"agreement: largest relative difference of the rms bounds {err:.2e} "
          f"(median bound {np.median(ours) * 1e3:.3f} mm)")
    if not err < 1e-5:
        sys.exit("qsense and MNE finite differences disagree; not timing")

    env = dict(os.environ, QSENSE_JAX_CACHE="0")
    out = subprocess.run([sys.executable, "-c", COLD, str(N_DIPOLES)], capture_output=True,
                         text=True, env=env, check=True)
    cold = json.loads(out.stdout.strip().splitlines()[-1])["cold"]
    tq = best_of(lambda: dipole_localisation_bound(arr, head, pos, mom, bandwidth=1.0),
                 repeats)
    tm = best_of(lambda: mne_bound(arr, head, pos, mom, std), repeats - 1)
    print_side_by_side("MNE finite differences", tm, repeats - 1, "qsense bound", cold, tq,
                       repeats)


if __name__ == "__main__":
    main()
