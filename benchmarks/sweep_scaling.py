"""Sweep throughput: a plain loop against a Dask LocalCluster of 1 and 2 workers.

The same grid of the comparison study (:func:`inverse.study.compare`) three ways:

* plain loop: ``inverse.sweep(..., client="serial")``, the points one after the other in
  this process;
* ``LocalCluster`` with 1 and 2 worker processes (one thread each), through a
  ``distributed.Client`` passed to :func:`inverse.sweep`.

Each way gets one warm-up point first (imports, JAX compilation, the BEM read from its
cache, in every worker: ``client.run`` on each), into a scratch store, so that the
timed sweep measures steady throughput; the cluster's start and the warm-up are printed
apart. Each timed sweep writes to a fresh store, so every point is computed. The three
datasets must agree to 1e-12 relative (the study is deterministic given its options)
before any figure is printed.

The default grid is 12 cheap points (ico2 sources, on-scalp OPMs, the ico-3 BEM: about a
second each on one quiet core); ``--spacing ico3 --arrays opm,nv`` makes each point
heavier. On a machine with 2 cores the 2-worker figure is bounded by 2x the 1-worker one,
less the cores that other processes take (the load average is printed).

    python benchmarks/sweep_scaling.py [--n-opm 8 16] [--bandwidth 0.5 1 2 10 20 50]
                                       [--spacing ico2] [--arrays opm]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _same(a, b, label):
    for v in ("snr", "information", "ple", "crb"):
        x, y = a[v].values, b[v].transpose(*a[v].dims).values
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{label}: {v}")
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=0, equal_nan=True,
                                   err_msg=f"{label}: {v}")
        ok = np.isfinite(x) & (x != 0)
        worst = float(np.max(np.abs(x[ok] - y[ok]) / np.abs(x[ok]), initial=0.0))
        print(f"  {label:24s} {v:12s} max relative difference {worst:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-opm", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--bandwidth", type=float, nargs="+",
                        default=[0.5, 1.0, 2.0, 10.0, 20.0, 50.0])
    parser.add_argument("--spacing", default="ico2")
    parser.add_argument("--arrays", default="opm")
    parser.add_argument("--bem-ico", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import logging

    import mne
    from distributed import Client, LocalCluster

    from inverse.sweep import sweep

    mne.set_log_level("ERROR")
    study = {"spacing": args.spacing, "arrays": args.arrays.split(","),
             "bem_ico": args.bem_ico, "recordings": False, "rejection": False,
             "curves": "none", "iivanainen": False}
    grid = {"n_opm": args.n_opm, "bandwidth": args.bandwidth}
    warm = {"n_opm": [args.n_opm[0]], "bandwidth": [12345.0]}  # a point not in the grid
    n = int(np.prod([len(v) for v in grid.values()]))
    print(f"grid: {' x '.join(f'{k} {len(v)}' for k, v in grid.items())} = {n} points; "
          f"study {study}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        sweep(warm, store=tmp / "warm-serial", client="serial", progress=False, **study)
        warmup = time.perf_counter() - t
        t = time.perf_counter()
        results["plain loop"] = sweep(grid, store=tmp / "serial", client="serial",
                                      progress=False, **study)
        rows.append(("plain loop", 0.0, warmup, time.perf_counter() - t))
        for k in args.workers:
            label = f"LocalCluster, {k} worker{'s' if k > 1 else ''}"
            t = time.perf_counter()
            with LocalCluster(n_workers=k, threads_per_worker=1, processes=True,
                              dashboard_address=":0", silence_logs=logging.ERROR) as lc, \
                    Client(lc) as client:
                start = time.perf_counter() - t
                t = time.perf_counter()
                # every worker computes the warm-up point (each in its own scratch store)
                futures = [client.submit(sweep, warm, store=tmp / f"warm-{k}-{i}",
                                         client="serial", progress=False, workers=[w],
                                         pure=False, **study)
                           for i, w in enumerate(client.scheduler_info()["workers"])]
                client.gather(futures)
                w_time = time.perf_counter() - t
                t = time.perf_counter()
                results[label] = sweep(grid, store=tmp / f"cluster-{k}", client=client,
                                       progress=False, **study)
                rows.append((label, start, w_time, time.perf_counter() - t))
    print("agreement with the plain loop (required: 1e-12 relative):")
    for label, ds in results.items():
        if label != "plain loop":
            _same(results["plain loop"], ds, label)
    print(f"{'':26s} {'start/s':>8s} {'warm-up/s':>10s} {'sweep/s':>8s} {'points/s':>9s} "
          f"{'vs loop':>8s}")
    loop = n / rows[0][3]
    for label, start, w_time, seconds in rows:
        print(f"{label:26s} {start:8.2f} {w_time:10.2f} {seconds:8.2f} {n / seconds:9.3f} "
              f"{n / seconds / loop:7.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
