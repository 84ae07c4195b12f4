"""Wide-field ODMR imaging: qsense (JAX, closed-form eigenproblem) vs batched numpy eigh.

A 256 x 256 pixel NV microscope image (4 orientations, 201 microwave frequencies) of the
field of a current loop under a 2 mT bias. The peer builds the same spin-1 Hamiltonians
in numpy, diagonalises them with ``numpy.linalg.eigh`` (batched), picks the ms=0-like
level and sums the same Lorentzian dips. Agreement is checked first (resonances to
1 Hz, spectra to 1e-9), then cold (JIT included) and warm times (best of ``--repeat``)
and their ratio are printed, with the 1-minute load average (the timings are only
comparable on an otherwise idle machine).

Where the qsense time goes (2 CPU cores): the closed-form resonances of the 262 144
Hamiltonians take ~5 ms; the fused 8-Lorentzian sum ~20 ms; writing the fresh
105 MB float64 result (26 000 first-touch page faults) ~30 ms.

Run:  python benchmarks/odmr_imaging.py [--n 256] [--nf 201] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import jax
import numpy as np

import forward_models  # noqa: F401
from forward_models import currents, nv

GAMMA, D0 = nv.GAMMA_NV, nv.D_ZFS


def field_image(n):
    """Bias + loop field on an n x n grid (10 um pixels, 20 um above a 0.5 mm loop)."""
    pitch = 10e-6
    ax = (np.arange(n) - (n - 1) / 2) * pitch
    X, Y = np.meshgrid(ax, ax, indexing="ij")
    pts = np.stack([X, Y, np.full_like(X, 20e-6)], -1)
    b_loop = np.asarray(currents.current_loop_field(pts, np.zeros(3), [0, 0, 1.0], 0.5e-3, 5e-3))
    bias = 2e-3 * np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
    return b_loop + bias


# ---------------------------------------------------------------- numpy peer
S2 = 1 / math.sqrt(2)
SX = S2 * np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], complex)
SY = S2 * np.array([[0, -1j, 0], [1j, 0, -1j], [0, 1j, 0]], complex)
SZ = np.diag([1.0, 0.0, -1.0]).astype(complex)


def numpy_resonances(B, D=D0, E=0.0):
    flat = B.reshape(-1, 3)
    bz = GAMMA * flat @ nv.NV_AXES.T  # (P, 4)
    bx = GAMMA * flat @ nv.NV_X.T
    by = GAMMA * flat @ nv.NV_Y.T
    H = ((D * SZ @ SZ + E * (SX @ SX - SY @ SY))[None, None]
         + bx[..., None, None] * SX + by[..., None, None] * SY + bz[..., None, None] * SZ)
    w, V = np.linalg.eigh(H)
    i0 = np.argmax(np.abs(V[..., 1, :]) ** 2, axis=-1)
    l0 = np.take_along_axis(w, i0[..., None], -1)
    diff = np.abs(w - l0)
    np.put_along_axis(diff, i0[..., None], -1.0, axis=-1)
    return np.sort(diff, axis=-1)[..., 1:].reshape(B.shape[:-1] + (4, 2))


def numpy_spectrum(freqs, B, contrast, linewidth):
    res = numpy_resonances(B).reshape(B.shape[:-1] + (8,))
    out = np.ones(B.shape[:-1] + freqs.shape)
    for i in range(8):
        x = 2.0 * (freqs - res[..., i, None]) / linewidth
        out -= contrast / (1.0 + x * x)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--nf", type=int, default=201)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n, nf = args.n, args.nf
    C, lw = 0.01, 1.0e6
    B = field_image(n)
    freqs = np.linspace(2.80e9, 2.94e9, nf)
    print(f"ODMR image {n}x{n} pixels, 4 orientations, {nf} frequencies; "
          f"jax {jax.__version__} on {jax.devices()[0].platform}")

    @jax.jit
    def qsense_image(Bimg):
        return nv.odmr_spectrum(freqs, Bimg, contrast=C, linewidth=lw)

    # ---- agreement first
    r_q = np.asarray(nv.resonance_frequencies(B))
    r_n = numpy_resonances(B)
    err_f = np.abs(r_q - r_n).max()
    t0 = time.perf_counter()
    s_q = np.asarray(qsense_image(B))
    cold_q = time.perf_counter() - t0
    t0 = time.perf_counter()
    s_n = numpy_spectrum(freqs, B, C, lw)
    cold_n = time.perf_counter() - t0
    err_s = np.abs(s_q - s_n).max()
    print(f"agreement: resonances max |diff| = {err_f:.3e} Hz, spectra max |diff| = "
          f"{err_s:.3e}")
    if not (err_f < 1.0 and err_s < 1e-9):
        raise SystemExit("qsense and numpy disagree: not timing")

    # ---- warm timings
    warm_q, warm_n = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        qsense_image(B).block_until_ready()
        warm_q.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        numpy_spectrum(freqs, B, C, lw)
        warm_n.append(time.perf_counter() - t0)
    wq, wn = min(warm_q), min(warm_n)
    print(f"qsense : cold {cold_q:8.3f} s   warm {wq:8.3f} s")
    print(f"numpy  : cold {cold_n:8.3f} s   warm {wn:8.3f} s")
    print(f"ratio numpy/qsense: warm {wn / wq:6.1f}x   cold {cold_n / cold_q:6.1f}x  "
          f"(target >= 10x warm)")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
