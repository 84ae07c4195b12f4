"""Benchmark: qsense's JAX BEM forward vs mne.make_forward_solution.

Same inputs for both: MNE's canonical Neuromag-306 array (device frame, placed with a
fixed device->head translation), the fsaverage single-shell ico-4 BEM (the same
ConductorModel object, from qsense's cache), and ~14 600 volume sources on a regular
grid inside the inner skull, with free orientations.

Agreement is checked first (relative Frobenius error of the full gain matrix, required
<= 1e-5), then cold (first call: JIT/numba compilation included) and warm (best of
``--repeats`` calls) wall-clock times are printed with their ratio.

MNE is timed twice: with its default BLAS threading, and with OpenBLAS limited to one
thread (threadpoolctl). The second is often much faster on a busy machine, because
MNE's inside-skull check (scipy ``Delaunay.find_simplex``) makes many tiny LAPACK calls
whose threads then spin; the ratio is taken against the FASTER of the two.
The qsense time covers the coil matrix, the inside-skull check and the leadfield; the
BEM solution is loaded from the cache for both (MNE's own solution takes ~4 s at ico-4).

Run:  python benchmarks/bem_vs_mne.py [--ico 4] [--spacing 0.0053] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _sources(bem, spacing):
    lo, hi = bem.vertices.min(0), bem.vertices.max(0)
    axes = [np.arange(lo_k + spacing / 2, hi_k, spacing) for lo_k, hi_k in zip(lo, hi, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return grid[bem.contains(grid)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ico", type=int, default=4)
    parser.add_argument("--spacing", type=float, default=0.0053, help="source grid, m")
    parser.add_argument("--repeats", type=int, default=3, help="warm repetitions (best)")
    parser.add_argument("--n-jobs", type=int, default=None, help="MNE n_jobs (default 1)")
    args = parser.parse_args()

    import jax
    import mne

    import qsense as qs
    from qsense.bem import fsaverage_bem

    mne.set_log_level("WARNING")
    print(f"cores visible: {os.cpu_count()}; jax {jax.__version__} ({jax.default_backend()}); "
          f"mne {mne.__version__}")

    t0 = time.perf_counter()
    bem = fsaverage_bem(ico=args.ico)
    print(f"BEM ico-{args.ico} ({len(bem.vertices)} vertices) ready in "
          f"{time.perf_counter() - t0:.2f} s (cache hit after the first run)")

    info = mne.channels.read_meg_canonical_info("neuromag")
    dev_head = np.eye(4)
    dev_head[:3, 3] = (0.0, 0.0, 0.04)  # helmet origin 4 cm above the head origin
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", dev_head)
    src_head = _sources(bem, args.spacing)
    n_src = len(src_head)
    src_mri = mne.transforms.apply_trans(bem.head_mri_t, src_head)
    src = mne.setup_volume_source_space(
        pos=dict(rr=src_mri, nn=np.tile([0.0, 0.0, 1.0], (n_src, 1))), verbose=False
    )
    print(f"{len(info['ch_names'])} channels x {n_src} sources (free orientation)")

    def run_mne():
        fwd = mne.make_forward_solution(
            info, bem.head_mri_t, src, bem.conductor, eeg=False, n_jobs=args.n_jobs
        )
        return fwd["sol"]["data"]

    def run_qsense():
        pts, nrm, w = qs.SensorArray.from_info(info).coil_geometry("accurate")
        return bem.leadfield(pts, nrm, w, src_head)

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None

    def run_mne_1blas():
        if threadpool_limits is None:
            return run_mne()
        with threadpool_limits(1, user_api="blas"):
            return run_mne()

    t0 = time.perf_counter()
    ref = run_mne()
    mne_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = run_qsense()
    qs_cold = time.perf_counter() - t0

    err = np.linalg.norm(ours.reshape(len(ours), -1) - ref) / np.linalg.norm(ref)
    print(f"agreement: relative Frobenius error {err:.2e} (required <= 1e-5)")
    if not err <= 1e-5:
        raise SystemExit("qsense and MNE disagree; timings not reported")

    def best(fun):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fun()
            times.append(time.perf_counter() - t0)
        return min(times)

    mne_warm_default = best(run_mne)
    mne_warm_1 = best(run_mne_1blas)
    mne_warm = min(mne_warm_default, mne_warm_1)
    qs_warm = best(run_qsense)
    print(f"{'':22s}{'cold (s)':>10s}{'warm (s)':>10s}")
    print(f"{'MNE (default BLAS)':22s}{mne_cold:10.2f}{mne_warm_default:10.2f}")
    print(f"{'MNE (1 BLAS thread)':22s}{'':>10s}{mne_warm_1:10.2f}")
    print(f"{'qsense':22s}{qs_cold:10.2f}{qs_warm:10.2f}")
    print(f"ratio MNE/qsense: cold {mne_cold / qs_cold:.1f}x, "
          f"warm {mne_warm / qs_warm:.1f}x (against the faster MNE)")


if __name__ == "__main__":
    main()
