"""Gradient-designed OPM array vs even coverage and greedy selection.

Part 1 (issue 15, points 2 and 3): a temporal-lobe region of interest (``left_temporal``
of :mod:`inverse.design`, fsaverage with its fitted-sphere conductor, ico-3 cortex), 32
radial QuSpin Gen-2 OPMs, 20 mm minimum spacing. Three layouts on the same fitted scalp:

- even coverage (:func:`inverse.design.even_array`, the lattice of ``opm_on_scalp``);
- greedy selection from 1000 candidates (:func:`inverse.design.greedy_array`);
- gradient design (:func:`inverse.design_array`), started from even coverage.

For each: the objective (the same model for all), the time to build it, the smallest
sensor distance, and the Monte-Carlo localisation error of ``mne.fit_dipole`` on
simulated recordings (:func:`inverse.localise_on_recordings`: probes drawn with a fixed
seed from the ROI, 20 nAm evoked responses, 16 trials, ideal sensors, perfect room),
pooled over probes and realisations, as the median and 90th percentile with 95 %
percentile-bootstrap intervals (:func:`inverse.recordings.percentiles`).

Part 2: time to design 64 sensors over the whole cortex (no ROI; ``--spacing``).

    python benchmarks/design_vs_greedy.py [--objective information|crb] [--steps N]
        [--probes P] [--realisations R] [--spacing ico3|ico4] [--skip-whole]
        [--skip-temporal]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import inverse
import qsense as qs
from inverse import design as D
from inverse.recordings import percentiles


def compare_temporal(objective="information", n_sensors=32, n_steps=300, n_probes=4,
                     n_realisations=10, n_trials=16, min_spacing=0.02, seed=0,
                     roi="left_temporal"):
    """Build the three layouts, score them and localise on recordings.

    Returns
    -------
    arrays : dict of str -> SensorArray
    rows : dict of str -> dict
        ``objective``, ``time_s``, ``min_distance_m``, and the error percentiles with
        their intervals (``error_p50``, ``error_p50_ci``, ``error_p90``,
        ``error_p90_ci``, m).
    context : dict
        ``head``, ``sources``, ``roi_index``, ``probes``, ``history``.
    """
    head = qs.Head.fsaverage(conductor="sphere")
    src = qs.sources.cortex(head, "ico3")
    idx = D.region_of_interest(head, src, roi)
    kw = dict(objective=objective, roi=roi, sources=src, min_spacing=min_spacing)
    arrays, rows = {}, {}
    t0 = time.perf_counter()
    arrays["even"] = D.even_array(head, n_sensors)
    rows["even"] = {"time_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    arrays["greedy"] = D.greedy_array(head, n_sensors, **kw)
    rows["greedy"] = {"time_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    arrays["designed"], hist = inverse.design_array(head, n_sensors, n_steps=n_steps,
                                                    return_history=True, **kw)
    rows["designed"] = {"time_s": time.perf_counter() - t0}
    for name, arr in arrays.items():
        rows[name]["objective"] = D.evaluate_array(arr, head, objective=objective, roi=roi,
                                                   sources=src)
        rows[name]["min_distance_m"] = D._min_distance(arr.positions)
    rng = np.random.default_rng(seed)
    probes = np.sort(rng.choice(idx, size=min(n_probes, idx.size), replace=False))
    if n_realisations > 0:
        ds = inverse.localise_on_recordings(arrays, head, src, probes.tolist(),
                                            n_trials=(n_trials,),
                                            n_realisations=n_realisations,
                                            solvers=("dipole",), sensor_physics=False,
                                            seed=seed)
        pct = percentiles(ds, q=(50, 90), over=("realisation", "probe"), seed=seed)
        err, ci = pct["error"], pct["error_ci"]
        for name in arrays:
            sel = dict(array=name, solver="dipole", n_trials=n_trials)
            for q in (50, 90):
                rows[name][f"error_p{q}"] = float(err.sel(**sel, percentile=q))
                rows[name][f"error_p{q}_ci"] = tuple(
                    float(v) for v in ci.sel(**sel, percentile=q).values)
    return arrays, rows, dict(head=head, sources=src, roi_index=idx, probes=probes,
                              history=hist)


def print_table(rows, objective, n_realisations, n_probes, n_trials):
    unit = "bit" if objective == "information" else "-mean ln(tr CRB / m^2)"
    print(f"| layout | objective ({unit}) | build time (s) | min distance (mm) | "
          f"median error (mm) [95% CI] | 90th pct error (mm) [95% CI] |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        if "error_p50" in r:
            e50 = (f"{r['error_p50'] * 1e3:.1f} [{r['error_p50_ci'][0] * 1e3:.1f}, "
                   f"{r['error_p50_ci'][1] * 1e3:.1f}]")
            e90 = (f"{r['error_p90'] * 1e3:.1f} [{r['error_p90_ci'][0] * 1e3:.1f}, "
                   f"{r['error_p90_ci'][1] * 1e3:.1f}]")
        else:
            e50 = e90 = "-"
        print(f"| {name} | {r['objective']:.4g} | {r['time_s']:.1f} | "
              f"{r['min_distance_m'] * 1e3:.1f} | {e50} | {e90} |")
    if objective == "crb":
        print("(geometric-mean rms bound = exp(-objective / 2): "
              + ", ".join(f"{k} {np.exp(-r['objective'] / 2) * 1e3:.2f} mm"
                          for k, r in rows.items()) + ")")
    print(f"Monte Carlo: mne.fit_dipole, {n_probes} probes x {n_realisations} "
          f"realisations, {n_trials} trials of 20 nAm, pooled")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objective", default="information", choices=D.OBJECTIVES)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--probes", type=int, default=4)
    ap.add_argument("--realisations", type=int, default=10)
    ap.add_argument("--trials", type=int, default=16)
    ap.add_argument("--spacing", default="ico3", choices=("ico3", "ico4"))
    ap.add_argument("--skip-whole", action="store_true")
    ap.add_argument("--skip-temporal", action="store_true")
    args = ap.parse_args()
    if not args.skip_temporal:
        print(f"part 1: left-temporal ROI, 32 OPMs, objective {args.objective}")
        _, rows, ctx = compare_temporal(args.objective, n_steps=args.steps,
                                        n_probes=args.probes,
                                        n_realisations=args.realisations,
                                        n_trials=args.trials)
        print(f"ROI: {ctx['roi_index'].size} of {ctx['sources'].n_sources} sources; probes "
              f"{ctx['probes'].tolist()}")
        print_table(rows, args.objective, args.realisations, args.probes, args.trials)
    if args.skip_whole:
        return
    head = qs.Head.fsaverage(conductor="sphere")
    src = qs.sources.cortex(head, args.spacing)
    print(f"\npart 2: 64 OPMs over the whole cortex ({args.spacing}, {src.n_sources} "
          f"sources), objective {args.objective}, {args.steps} steps")
    t0 = time.perf_counter()
    even = D.even_array(head, 64)
    arr, hist = inverse.design_array(head, 64, objective=args.objective, sources=src,
                                     n_steps=args.steps, return_history=True)
    elapsed = time.perf_counter() - t0
    e = D.evaluate_array(even, head, objective=args.objective, sources=src)
    print(f"design time {elapsed:.1f} s (compile included); objective even {e:.4g} -> "
          f"designed {hist.attrs['objective_final']:.4g}; min distance "
          f"{hist.attrs['min_distance_m'] * 1e3:.1f} mm")


if __name__ == "__main__":
    main()
