"""Where ``inverse.localise_on_recordings`` spends its time, and what settings cost.

Two modes, on the fsaverage head (ico-3 BEM) with an ico-3 cortex (1284 sources):

* ``profile``: one array, one probe (the source highest on the cortex), one noise
  realisation, ``n_trials`` (16, 64), all solvers, under ``cProfile``; prints the time
  per stage (simulate_raw, filter, epochs, covariance, make_inverse_operator,
  apply_inverse, eLORETA's weights, LCMV, dipole fits) as cumulative seconds.
* ``study``: a study-sized call (by default the four arrays of the comparison study,
  each in its typical room, 4 probes spread over the cortex, ``n_trials`` (16, 64),
  2 realisations, all solvers), one array per call so that each array's cost shows;
  prints wall and CPU seconds per array and in all.

Settings are flags (``--sfreq``, ``--nv-sfreq``, ``--h-freq``, ``--cov-method``,
``--dipole-conductor``, ``--no-physics``, ``--n-jobs``; ``--together`` makes one call
for all the arrays, as a study would with workers). Below 500 Hz the rooms' power-line
harmonics above the Nyquist frequency are dropped (``simulate_raw`` refuses to alias
them; after the 40 Hz low-pass they are gone either way), which the printout says.

CPU time is the process's (all threads). For figures that do not depend on other
jobs sharing the machine, run with one BLAS thread (``OPENBLAS_NUM_THREADS=1``): the
CPU seconds are then the work, and 2 cores can at best halve them by running arrays in
parallel.

Run ``python benchmarks/localise_profile.py profile --array neuromag306`` or
``python benchmarks/localise_profile.py study --sfreq 250 --cov-method ledoit_wolf``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np

import qsense as qs
from inverse.recordings import SOLVERS, localise_on_recordings

ROOMS = {"opm": "opm_two_layer", "nv": "opm_two_layer", "neuromag306": "ak3b",
         "ctf275": "ak3b"}
"""Typical room per array (assumption: OPM-optimised two-layer room for the
head-mounted sensors, a three-layer Ak3b room for the SQUID helmets)."""

# (label, module file suffix, function name): cumulative time of that function
STAGES = (
    ("make_forward", "qsense/forward.py", "make_forward"),
    ("simulate_raw", "simulation/raw.py", "simulate_raw"),
    ("filter", "mne/io/base.py", "filter"),
    ("epochs", "mne/epochs.py", "__init__"),
    ("covariance (noise + data)", "mne/cov.py", "compute_covariance"),
    ("whitened SNR", "inverse/recordings.py", "whitened_snr"),
    ("make_inverse_operator", "minimum_norm/inverse.py", "make_inverse_operator"),
    ("apply_inverse (4 methods)", "minimum_norm/inverse.py", "apply_inverse"),
    ("  of which eLORETA weights", "minimum_norm/_eloreta.py", "_compute_eloreta"),
    ("make_lcmv", "beamformer/_lcmv.py", "make_lcmv"),
    ("apply_lcmv", "beamformer/_lcmv.py", "apply_lcmv"),
    ("fit_dipole (free + fixed)", "mne/dipole.py", "fit_dipole"),
    ("  of which fixed-dipole course", "inverse/recordings.py", "_fixed_dipole_course"),
    ("  of which inside-skull checks", "mne/dipole.py", "_surface_constraint"),
    ("scoring", "inverse/recordings.py", "_score"),
)


def _environment(name, sfreq):
    env = qs.Environment.preset(ROOMS[name])
    if env.power_line is not None:
        pl = env.power_line
        keep = [i for i, h in enumerate(pl.harmonics) if h * pl.frequency < sfreq / 2]
        if len(keep) < len(pl.harmonics):
            print(f"  {name}: power-line harmonics {pl.harmonics} -> "
                  f"{tuple(pl.harmonics[i] for i in keep)} at sfreq {sfreq:g} Hz")
            env = env.replace(power_line=None if not keep else pl.__class__(
                frequency=pl.frequency, harmonics=tuple(pl.harmonics[i] for i in keep),
                amplitudes=tuple(pl.amplitudes[i] for i in keep), direction=pl.direction,
                width=pl.width))
    return env


def _probes(sources, n):
    """``n`` cortical sources spread from the top of the head down (seed-free)."""
    z = sources.positions[:, 2]
    order = np.argsort(-z)
    return [int(order[int(k)]) for k in np.linspace(0, len(order) // 3, n)]


def _sfreq(args, name):
    return args.nv_sfreq if name == "nv" and args.nv_sfreq else args.sfreq


def _kwargs(args, name):
    return dict(sfreq=_sfreq(args, name), h_freq=args.h_freq, cov_method=args.cov_method,
                dipole_conductor=args.dipole_conductor,
                sensor_physics=not args.no_physics, solvers=tuple(args.solvers))


def profile(args, head, sources):
    name = args.array
    probe = _probes(sources, 1)
    env = _environment(name, _sfreq(args, name))
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    localise_on_recordings([name], head, sources, probe, n_trials=(16, 64),
                           n_realisations=1, environments=env, **_kwargs(args, name))
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats
    print(f"{name}, one probe x one realisation, n_trials (16, 64): {total:.2f} s wall "
          "(cProfile on)")
    for label, where, func in STAGES:
        t = sum(ct for (fn, _, f), (_, _, _, ct, _) in stats.items()
                if f == func and fn.replace("\\", "/").endswith(where))
        print(f"  {label:32s} {t:7.2f} s")


def study(args, head, sources):
    probes = _probes(sources, args.probes)
    wall = cpu = 0.0
    if args.together:  # one call, the arrays sharing sfreq (and n_jobs workers)
        rates = {_sfreq(args, n) for n in args.arrays}
        if len(rates) > 1:
            raise SystemExit(f"--together needs one sampling rate, got {sorted(rates)}")
        envs = {n: _environment(n, _sfreq(args, n)) for n in args.arrays}
        t0, c0 = time.perf_counter(), time.process_time()
        localise_on_recordings({n: n for n in args.arrays}, head, sources, probes,
                               n_trials=(16, 64), n_realisations=args.realisations,
                               environments=envs, n_jobs=args.n_jobs,
                               **_kwargs(args, args.arrays[0]))
        print(f"  {' + '.join(args.arrays)}: {time.perf_counter() - t0:7.1f} s wall, "
              f"{time.process_time() - c0:7.1f} s CPU in the main process "
              f"(n_jobs {args.n_jobs}; workers' CPU not counted)")
        return
    for name in args.arrays:
        env = _environment(name, _sfreq(args, name))
        array_kw = {name: name}
        t0, c0 = time.perf_counter(), time.process_time()
        ds = localise_on_recordings(array_kw, head, sources, probes, n_trials=(16, 64),
                                    n_realisations=args.realisations,
                                    environments=env, n_jobs=args.n_jobs,
                                    **_kwargs(args, name))
        w, c = time.perf_counter() - t0, time.process_time() - c0
        wall, cpu = wall + w, cpu + c
        med = ds.error.median(("probe", "realisation")) * 1e3
        print(f"  {name:12s} {w:7.1f} s wall {c:7.1f} s CPU   median error mm "
              + ", ".join(f"{s}: {med.sel(solver=s, n_trials=64).item():.1f}"
                          for s in ds.solver.values), flush=True)
    print(f"  {'all':12s} {wall:7.1f} s wall {cpu:7.1f} s CPU   ({len(probes)} probes, "
          f"{args.realisations} realisations, n_trials (16, 64))")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("profile", "study"))
    p.add_argument("--array", default="neuromag306", choices=tuple(ROOMS))
    p.add_argument("--arrays", nargs="+", default=list(ROOMS), choices=tuple(ROOMS))
    p.add_argument("--probes", type=int, default=4)
    p.add_argument("--realisations", type=int, default=2)
    p.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    p.add_argument("--sfreq", type=float, default=1000.0)
    p.add_argument("--nv-sfreq", type=float, default=None,
                   help="sampling rate of the NV array (with sensor physics its 1 kHz "
                   "bandwidth needs >= 2000 Hz); default --sfreq")
    p.add_argument("--h-freq", type=float, default=40.0)
    p.add_argument("--cov-method", default="shrunk")
    p.add_argument("--dipole-conductor", default="head", choices=("head", "sphere"))
    p.add_argument("--no-physics", action="store_true")
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--together", action="store_true",
                   help="study: one call for all the arrays (they must share sfreq)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    head = qs.Head.fsaverage(ico=3)
    sources = qs.sources.cortex(head, "ico3")
    print(f"head + sources: {time.perf_counter() - t0:.1f} s; settings: "
          f"sfreq {args.sfreq:g} Hz, h_freq {args.h_freq:g} Hz, cov {args.cov_method}, "
          f"dipole in {args.dipole_conductor}, physics {not args.no_physics}")
    (profile if args.mode == "profile" else study)(args, head, sources)


if __name__ == "__main__":
    main()
