"""Benchmark: batched JAX SERF Bloch model vs a per-sensor scipy solve_ivp loop.

128 sensors x 60 s at 1 kHz (MEG-like fields in a 1 nT remnant field). Agreement with
solve_ivp (DOP853, rtol 1e-9) is checked first on a subset; then cold (JIT included)
and warm times of the JAX model and the per-sensor solve_ivp time (measured on
``--subset`` sensors and scaled to 128) are printed with their ratio.

Run: python benchmarks/opm_response.py [--seconds 60] [--subset 2]
"""

import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp

from forward_models import opm

GAMMA = opm.GAMMA_E


def make_field(n, T, fs, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(T) / fs
    B = np.empty((n, T, 3))
    static = rng.normal(size=(n, 3)) * 1e-9 / np.sqrt(3)  # ~1 nT remnant
    for k in range(3):
        f = rng.uniform(5, 40, size=(n, 1))
        ph = rng.uniform(0, 2 * np.pi, size=(n, 1))
        B[:, :, k] = static[:, k:k + 1] + 1e-12 * np.sin(2 * np.pi * f * t + ph)
    return t, B


def scipy_one(t, B, lw, p0):
    def rhs(tt, P):
        Bi = np.array([np.interp(tt, t, B[:, k]) for k in range(3)])
        q = (6 + 2 * P @ P) / (1 + P @ P)
        return (GAMMA * np.cross(Bi, P) + GAMMA * lw * (p0 * np.array([0, 0, 1.0]) - P)) / q
    P_init = p0 * np.asarray(opm.serf_steady_state(B[0], lw))
    sol = solve_ivp(rhs, (t[0], t[-1]), P_init, t_eval=t, method="DOP853", rtol=1e-9,
                    atol=1e-13)
    return sol.y.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--sensors", type=int, default=128)
    ap.add_argument("--subset", type=int, default=2)
    ap.add_argument("--substeps", type=int, default=4)
    ap.add_argument("--scipy-seconds", type=float, default=5.0,
                    help="duration timed for solve_ivp, scaled linearly to --seconds")
    a = ap.parse_args()
    fs = 1000.0
    T = int(a.seconds * fs)
    lw, p0 = 2.5e-8, 0.5
    t, B = make_field(a.sensors, T, fs)

    # agreement first (2 s excerpt of the subset)
    Tc = int(2 * fs)
    ref = np.stack([scipy_one(t[:Tc], B[i, :Tc], lw, p0) for i in range(a.subset)])
    got = np.asarray(opm.bloch_evolve(B[:a.subset, :Tc], 1 / fs, lw, p0, a.substeps))
    err = np.abs(got - ref).max() / p0
    # in field units: dB * dP / P0
    print(f"agreement (2 s, {a.subset} sensors): max |dP|/P0 = {err:.2e} "
          f"= {err * lw * 1e15:.3f} fT equivalent")
    assert err < 1e-4, err

    t0 = time.perf_counter()
    P = opm.bloch_evolve(B, 1 / fs, lw, p0, a.substeps)
    P.block_until_ready()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    P = opm.bloch_evolve(B, 1 / fs, lw, p0, a.substeps)
    P.block_until_ready()
    warm = time.perf_counter() - t0

    Ts = int(min(a.scipy_seconds, a.seconds) * fs)
    t0 = time.perf_counter()
    for i in range(a.subset):
        scipy_one(t[:Ts], B[i, :Ts], lw, p0)
    per = (time.perf_counter() - t0) / a.subset * (T / Ts)
    total = per * a.sensors
    print(f"JAX batched ({a.sensors} sensors x {a.seconds:g} s at 1 kHz, {a.substeps} "
          f"substeps): cold {cold:.2f} s, warm {warm:.2f} s")
    print(f"scipy solve_ivp: {per:.2f} s per sensor -> {total:.1f} s for {a.sensors} "
          f"(measured on {a.subset} sensors x {Ts / fs:g} s, scaled linearly)")
    print(f"ratio (scipy / JAX warm): {total / warm:.0f}x; (scipy / JAX cold): "
          f"{total / cold:.0f}x")


if __name__ == "__main__":
    main()
