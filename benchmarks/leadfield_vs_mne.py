"""qsense.leadfield vs mne.make_forward_solution, sphere model, side by side.

Same inputs for both: the 306-channel Neuromag array seated on a 9 cm sphere head and
a ~14 000-point volume source space (5 mm grid). Checks agreement first (relative
Frobenius error), then prints cold (JIT compile included, in a fresh process) and
warm times and the ratios. Coil accuracy "accurate" (MNE's only choice).

    python benchmarks/leadfield_vs_mne.py [--memory]

``--memory`` also measures the peak resident memory of a 306 x 100 000 x 3 leadfield
(in a subprocess).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from _timing import best_of, print_side_by_side

COLD = r"""
import time, json, sys
t0 = time.perf_counter()
import numpy as np, qsense as qs
head = qs.Head.sphere(radius=0.09, origin=(0.0, 0.0, 0.04), brain_radius=0.08)
arr = qs.arrays.neuromag306(head)
src = qs.sources.volume(head, spacing=0.005)
t1 = time.perf_counter()
lf = qs.leadfield(arr, head, src)
t2 = time.perf_counter()
print(json.dumps({"setup": t1 - t0, "cold": t2 - t1}))
"""

MEMORY = r"""
import resource, json, numpy as np, qsense as qs
head = qs.Head.sphere(radius=0.09, origin=(0.0, 0.0, 0.04))
arr = qs.arrays.neuromag306(head)
rng = np.random.default_rng(0)
n = int(__import__("sys").argv[1])
d = rng.normal(size=(n, 3)); d /= np.linalg.norm(d, axis=1, keepdims=True)
pos = head.sphere_origin + d * 0.075 * rng.uniform(0, 1, (n, 1)) ** (1 / 3)
src = qs.sources.points(pos, head)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
lf = qs.leadfield(arr, head, src, accuracy="normal")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"n_sources": n, "output_gb": lf.nbytes / 2**30, "peak_gb": peak,
                  "before_gb": base}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory", action="store_true", help="also measure peak memory")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import mne

    import qsense as qs

    mne.set_log_level("error")
    head = qs.Head.sphere(radius=0.09, origin=(0.0, 0.0, 0.04), brain_radius=0.08)
    arr = qs.arrays.neuromag306(head)
    src = qs.sources.volume(head, spacing=0.005)
    info = arr.to_info()
    msrc = src.to_mne()
    sphere = mne.make_sphere_model(r0=head.sphere_origin, head_radius=None)
    print(f"inputs: {arr.n_channels} channels, {src.n_sources} sources, accuracy 'accurate', "
          f"{os.cpu_count()} CPU cores")

    # agreement first
    lf = qs.leadfield(arr, head, src).values.reshape(arr.n_channels, -1)
    fwd = mne.make_forward_solution(info, None, msrc, sphere, eeg=False)
    ref = fwd["sol"]["data"]
    err = np.linalg.norm(lf - ref) / np.linalg.norm(ref)
    print(f"agreement: relative Frobenius error {err:.2e}")
    if not err < 1e-6:
        sys.exit("qsense and MNE disagree; not timing")

    # cold: a fresh interpreter, JIT compile included (persistent cache off)
    env = dict(os.environ, QSENSE_JAX_CACHE="0")
    out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True,
                         env=env, check=True)
    cold = json.loads(out.stdout.strip().splitlines()[-1])["cold"]

    tq = best_of(lambda: qs.leadfield(arr, head, src), args.repeats)
    tm = best_of(lambda: mne.make_forward_solution(info, None, msrc, sphere, eeg=False),
                 args.repeats - 1)
    print_side_by_side("MNE make_forward_solution", tm, args.repeats - 1, "qsense leadfield",
                       cold, tq, args.repeats)

    if args.memory:
        for n in (100_000,):
            out = subprocess.run([sys.executable, "-c", MEMORY, str(n)], capture_output=True,
                                 text=True, check=True)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"memory: {arr.n_channels} x {m['n_sources']} x 3 leadfield "
                  f"(output {m['output_gb']:.2f} GB): peak RSS {m['peak_gb']:.2f} GB")



if __name__ == "__main__":
    main()
