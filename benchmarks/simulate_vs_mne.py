"""qsense.simulate_raw vs MNE's forward + apply_forward_raw + add_noise, end to end.

Each tool as a user runs it, on the same inputs: the 306-channel Neuromag array on the
fsaverage head (single-shell ico-4 BEM, the same conductor model for both), activity on
every source of an ico-3 cortex (1284 sources along their normals: independent
narrow-band noise around 10 Hz, 1 nAm RMS each, ``qsense.activity.alpha``), 20 s at
1 kHz, white sensor noise of each channel's preset floor (corner frequency set to 0),
ideal sensors, no environment.

* MNE: ``make_forward_solution`` -> ``convert_forward_solution(force_fixed=True)`` ->
  ``apply_forward_raw`` -> ``mne.simulation.add_noise`` with the diagonal covariance of
  the same white noise (``noise_floor**2 * sfreq / 2`` per channel).
* qsense: ``qsense.simulate_raw(array, head, sources, stc, sensor_physics=False)``.

Agreement first: the noiseless parts (relative Frobenius error, required <= 1e-6) and
the added noise's variance per channel against the floor, for both tools. Then times:

Times, by the project's convention (cold: JIT compilation included; warm: compiled),
for the pipeline the issue names, each tool computing its forward in the run as a user
simulating a new array, head or source space does:

* MNE: ``make_forward_solution`` + ``convert_forward_solution`` + ``apply_forward_raw`` +
  ``add_noise`` (it compiles nothing: its cold and warm runs are the same work; best of
  ``--repeats``);
* qsense cold: a fresh process (JIT compile included, persistent compilation cache off),
  lead field included;
* qsense warm: the same call compiled, its cached gain cleared first so that the lead
  field is computed in the run (the headline ratio).

Also printed, a second comparison: both tools reusing the forward of the same array,
head and sources, as a user simulating many recordings of one setup would (MNE: its
converted forward passed again, the faster of its default BLAS threading and one BLAS
thread; qsense: the gain it keeps for the same head, coils and sources). Both then
spend most of their time in the same double-precision product gain @ estimate.

Also prints where each tool spends its time.

``--memory`` measures, in a fresh process per run, the peak resident memory above the
process's baseline (imports, head, array, a short warm-up recording, and the source
estimate itself, which is the input) while a recording is streamed to FIF and opened
again with ``mne.io.read_raw_fif``, for 1-, 10- and 30-minute recordings (``--durations``)
of the 306-channel SQUID array and a 64-sensor triaxial OPM array (QuSpin Gen-3, SERF
Bloch model, 1/f noise) at 1 kHz. The activity there is sparse (an evoked paradigm on
two cortical sources, a stimulus every 1 +- 0.2 s): a dense 30-minute estimate on 1284
sources would itself take 18 GB. Linux only (the peak is read from ``VmHWM`` after
resetting it through ``/proc/self/clear_refs``; the baseline is taken after glibc's
``malloc_trim`` hands freed memory back, so that it counts what is in use, not what the
warm-up left in the allocator's free lists).

    python benchmarks/simulate_vs_mne.py [--duration 20] [--repeats 3]
    python benchmarks/simulate_vs_mne.py --memory [--durations 60 600 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _timing import best_of

SETUP = r"""
import numpy as np, qsense as qs

def inputs(duration, sfreq=1000.0):
    head = qs.Head.fsaverage()
    src = qs.sources.cortex(head, "ico3")
    arr = qs.arrays.neuromag306(head)
    white = arr.replace(presets=tuple(p.replace(corner_frequency=0.0) for p in arr.presets))
    act = qs.activity.alpha(src, np.arange(src.n_sources), duration=duration, sfreq=sfreq,
                            amplitude=1e-9, seed=0)
    return head, src, white, act.stc
"""

COLD = SETUP + r"""
import json, sys, time
head, src, white, stc = inputs(float(sys.argv[1]))
t = time.perf_counter()
raw = qs.simulate_raw(white, head, src, stc, sensor_physics=False, seed=0)
print(json.dumps({"cold": time.perf_counter() - t}))
"""

MEMORY = r"""
import gc, json, os, re, shutil, sys, tempfile, time
import mne, numpy as np, qsense as qs

kind, duration = sys.argv[1], float(sys.argv[2])
sfreq = 1000.0
mne.set_log_level("error")

def status(key):
    with open("/proc/self/status") as f:
        return int(re.search(key + r":\s+(\d+)", f.read()).group(1)) / 1024  # MiB

head = qs.Head.fsaverage()
src = qs.sources.cortex(head, "ico3")
if kind == "squid":
    arr = qs.arrays.neuromag306(head)
else:
    arr = qs.arrays.opm_on_scalp(head, 64, "triaxial", sensor="quspin_gen3_triaxial")

def activity(seconds):
    # a stimulus every 1 +- 0.2 s on two cortical sources, zero-padded to the duration
    n = int(round(seconds * sfreq))
    act = qs.activity.evoked(src, [100, 900], n_trials=int(0.9 * seconds) - 1, sfreq=sfreq,
                             soa=1.0, jitter=0.2, seed=0)
    return qs.activity.padded(act, n)

tmp = tempfile.mkdtemp(dir=sys.argv[3])
try:
    qs.simulate_raw(arr, head, src, activity(10.0), seed=1, fname=tmp + "/warm_raw.fif")
    act = activity(duration)
    gc.collect()
    try:  # hand freed heap back to the system: the baseline is what is in use
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    base = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident size
    t = time.perf_counter()
    raw = qs.simulate_raw(arr, head, src, act, seed=1, fname=tmp + "/sim_raw.fif",
                          chunk_duration=10.0)
    elapsed = time.perf_counter() - t
    peak = status("VmHWM")
    files = sorted(p for p in os.listdir(tmp) if p.startswith("sim_raw") and p.endswith(".fif"))
    size = sum(os.path.getsize(tmp + "/" + p) for p in files)
    # read back: the first 10 s against the same recording made in memory
    back = mne.io.read_raw_fif(tmp + "/sim_raw.fif", preload=False)
    head10 = back.get_data(stop=10000)
    mem = qs.simulate_raw(arr, head, src, act.stc.copy().crop(0, 10 - 1 / sfreq), seed=1)
    diff = np.abs(head10 - mem.get_data()).max() / np.abs(mem.get_data()).max()
    print(json.dumps({"kind": kind, "duration": duration, "n_channels": arr.n_channels,
                      "growth_mib": peak - base, "base_mib": base, "seconds": elapsed,
                      "file_mib": size / 2**20, "files": files, "n_times": int(back.n_times),
                      "read_back_rel": float(diff)}))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
"""


def _mne_pipeline(info, fwd_fixed, stc, cov, seed):
    import mne

    raw = mne.apply_forward_raw(fwd_fixed, stc, info, verbose=False)
    return mne.simulation.add_noise(raw, cov, iir_filter=None, random_state=seed,
                                    verbose=False)


def _timing_breakdown(head, src, white, stc, info, trans, bem, fwd_fixed, cov):
    """Where each tool spends its time (one run of each step, s)."""
    import mne

    import qsense as qs
    from qsense.simulation.currents import active_sources
    from qsense.simulation.field import SourceField, clear_gain_cache
    from qsense.simulation.noise import NoiseSource

    n = stc.data.shape[1]
    sfreq = 1.0 / stc.tstep
    rows = []
    t = time.perf_counter()
    fwd = mne.make_forward_solution(info, trans, src.to_mne(), bem, eeg=False, verbose=False)
    rows.append(("MNE make_forward_solution", time.perf_counter() - t))
    t = time.perf_counter()
    mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True, use_cps=True,
                                 verbose=False)
    rows.append(("MNE convert_forward_solution", time.perf_counter() - t))
    t = time.perf_counter()
    raw = mne.apply_forward_raw(fwd_fixed, stc, info, verbose=False)
    rows.append(("MNE apply_forward_raw", time.perf_counter() - t))
    t = time.perf_counter()
    mne.simulation.add_noise(raw, cov, iir_filter=None, random_state=0, verbose=False)
    rows.append(("MNE add_noise", time.perf_counter() - t))

    t = time.perf_counter()
    active = active_sources(src, stc)
    rows.append(("qsense check the estimate", time.perf_counter() - t))
    clear_gain_cache()
    t = time.perf_counter()
    field = SourceField(white, head, src, active)
    rows.append(("qsense lead field (BEM, compiled)", time.perf_counter() - t))
    t = time.perf_counter()
    data = field.channels(0, n)
    rows.append(("qsense gain x estimate", time.perf_counter() - t))
    t = time.perf_counter()
    data += NoiseSource(white, sfreq, 0).samples(0, n)
    rows.append(("qsense white noise", time.perf_counter() - t))
    t = time.perf_counter()
    mne.io.RawArray(data, white.to_info(sfreq), verbose=False)
    rows.append(("qsense RawArray", time.perf_counter() - t))
    t = time.perf_counter()
    qs.simulate_raw(white, head, src, stc, sensor_physics=False, seed=0)
    rows.append(("qsense simulate_raw (all, warm)", time.perf_counter() - t))
    gain = np.asarray(fwd_fixed["sol"]["data"], dtype=np.float64)
    t = time.perf_counter()
    gain @ stc.data
    rows.append(("both: the bare product gain @ stc.data", time.perf_counter() - t))
    return rows


def _memory(durations):
    import tempfile

    print("\npeak memory above the process's baseline, streamed to FIF and read back "
          "(fresh process per run; 1 kHz, 10 s chunks):")
    results = {}
    scratch = tempfile.gettempdir()
    for kind in ("squid", "opm_triaxial"):
        for d in durations:
            out = subprocess.run([sys.executable, "-c", MEMORY, kind, str(d), scratch],
                                 capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"memory run {kind} {d} s failed:\n{out.stderr[-3000:]}")
            m = json.loads(out.stdout.strip().splitlines()[-1])
            results[kind, d] = m
            print(f"  {kind:13s} {m['n_channels']:3d} ch {d / 60:5.1f} min: growth "
                  f"{m['growth_mib']:7.1f} MiB (baseline {m['base_mib']:.0f} MiB), "
                  f"{m['seconds']:6.1f} s, FIF {m['file_mib']:.0f} MiB in "
                  f"{len(m['files'])} part(s), read back {m['n_times']} samples, first "
                  f"10 s vs in memory {m['read_back_rel']:.1e}")
        lo, hi = results[kind, min(durations)], results[kind, max(durations)]
        print(f"  {kind:13s} growth {max(durations) / 60:.0f} min / {min(durations) / 60:.0f}"
              f" min: {hi['growth_mib'] / lo['growth_mib']:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0, help="s (default 20)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory", action="store_true", help="measure peak memory (slow)")
    ap.add_argument("--durations", type=float, nargs="+", default=[60.0, 600.0, 1800.0],
                    help="recording lengths of --memory, s")
    ap.add_argument("--no-timing", action="store_true", help="only --memory")
    args = ap.parse_args()

    import mne
    from threadpoolctl import threadpool_info, threadpool_limits

    import qsense as qs

    mne.set_log_level("error")
    blas = [(d["internal_api"], d["num_threads"]) for d in threadpool_info()]
    print(f"{os.cpu_count()} CPU cores, BLAS {blas}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; mne {mne.__version__}")
    if not args.no_timing:
        _compare(args, qs, mne, threadpool_limits)
    if args.memory:
        _memory(sorted(args.durations))


def _compare(args, qs, mne, threadpool_limits):
    ns = {}
    exec(SETUP, ns)
    head, src, white, stc = ns["inputs"](args.duration)
    sfreq = 1.0 / stc.tstep
    n = stc.data.shape[1]
    info = white.to_info(sfreq)
    trans = mne.transforms.Transform("head", "mri", head.head_mri_t)
    bem = head.conductor.conductor  # MNE's ConductorModel of the same BEM solution
    var = np.asarray(white.noise) ** 2 * sfreq / 2.0
    cov = mne.Covariance(np.diag(var), info.ch_names, [], [], nfree=1)
    print(f"inputs: {white.n_channels} channels, {src.n_sources} cortical sources (ico-3), "
          f"fsaverage single-shell BEM ({len(bem['surfs'][0]['rr'])} vertices), "
          f"{n / sfreq:g} s at {sfreq:g} Hz, white noise")

    # --- agreement first
    def mne_cold():
        fwd = mne.make_forward_solution(info, trans, src.to_mne(), bem, eeg=False)
        fixed = mne.convert_forward_solution(fwd, surf_ori=True, force_fixed=True,
                                             use_cps=True)
        return fixed, _mne_pipeline(info, fixed, stc, cov, 0)

    t = time.perf_counter()
    fwd_fixed, mne_raw = mne_cold()
    t_mne_cold = time.perf_counter() - t
    clean_mne = mne.apply_forward_raw(fwd_fixed, stc, info).get_data()
    clean_qs = qs.simulate_raw(white, head, src, stc, sensor_physics=False,
                               noise=False).get_data()
    err = np.linalg.norm(clean_qs - clean_mne) / np.linalg.norm(clean_mne)
    print(f"agreement, noiseless: relative Frobenius error {err:.2e} (required <= 1e-6)")
    if not err <= 1e-6:
        sys.exit("qsense and MNE disagree; not timing")
    noisy_qs = qs.simulate_raw(white, head, src, stc, sensor_physics=False, seed=0).get_data()
    sigma = np.sqrt(2.0 / n)  # standard deviation of a variance ratio from n samples
    for name, noisy, clean in (("MNE", mne_raw.get_data(), clean_mne),
                               ("qsense", noisy_qs, clean_qs)):
        ratio = (noisy - clean).var(axis=1) / var
        print(f"agreement, noise ({name}): variance / floor per channel: mean "
              f"{ratio.mean():.4f}, worst {np.abs(ratio - 1).max() / sigma:.1f} sigma "
              f"(sigma {sigma:.4f})")

    # --- cold
    env = dict(os.environ, QSENSE_JAX_CACHE="0")
    out = subprocess.run([sys.executable, "-c", COLD, str(args.duration)], capture_output=True,
                         text=True, env=env, check=True)
    t_qs_cold = json.loads(out.stdout.strip().splitlines()[-1])["cold"]
    from qsense.simulation.field import clear_gain_cache

    def qs_forward_again():
        clear_gain_cache()
        qs.simulate_raw(white, head, src, stc, sensor_physics=False, seed=0)

    t_qs_fwd = best_of(qs_forward_again, args.repeats)
    t_mne_cold = min(t_mne_cold, best_of(mne_cold, args.repeats - 1))

    # --- warm
    def mne_warm():
        _mne_pipeline(info, fwd_fixed, stc, cov, 0)

    def mne_warm_1blas():
        with threadpool_limits(1, user_api="blas"):
            mne_warm()

    t_mne_default = best_of(mne_warm, args.repeats)
    t_mne_1 = best_of(mne_warm_1blas, args.repeats)
    t_mne_warm = min(t_mne_default, t_mne_1)
    t_qs_warm = best_of(lambda: qs.simulate_raw(white, head, src, stc, sensor_physics=False,
                                                seed=0), args.repeats)
    r = args.repeats
    print(f"{'MNE pipeline (forward in the run)':44s}: {t_mne_cold:8.3f} s (best of {max(1, r)})")
    print(f"{'qsense cold (fresh process, compile)':44s}: {t_qs_cold:8.3f} s")
    print(f"{'qsense warm (compiled, lead field in run)':44s}: {t_qs_fwd:8.3f} s (best of {r})")
    print(f"{'ratio MNE/qsense warm (target >= 5x)':44s}: {t_mne_cold / t_qs_fwd:8.1f} x")
    print(f"{'ratio MNE/qsense cold':44s}: {t_mne_cold / t_qs_cold:8.1f} x")
    print("second comparison, both reusing their forward:")
    print(f"{'  MNE, forward reused (default BLAS)':44s}: {t_mne_default:8.3f} s (best of {r})")
    print(f"{'  MNE, forward reused (1 BLAS thread)':44s}: {t_mne_1:8.3f} s (best of {r})")
    print(f"{'  qsense, gain reused':44s}: {t_qs_warm:8.3f} s (best of {r})")
    print(f"{'  ratio MNE/qsense, forward reused':44s}: {t_mne_warm / t_qs_warm:8.1f} x")

    print("where the time goes (one run each, s):")
    for label, sec in _timing_breakdown(head, src, white, stc, info, trans, bem, fwd_fixed,
                                        cov):
        print(f"  {label:38s} {sec:8.3f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
