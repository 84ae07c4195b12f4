"""Empty-room recordings against the noise budget: 16 on-scalp OPMs in a two-layer OPM
room and a Neuromag SQUID helmet in an Ak3b room, each with the room's remnant field,
distant interferers, power line, shield noise and (for the OPMs) a head trajectory drawn
from the room's movement spectrum, through their sensor physics and noise.

Prints, per array:

* the simulated amplitude spectral density over `qsense budget`'s total, per channel,
  averaged in third-octave bands over 1-100 Hz (power-line bands left out): median,
  minimum and maximum over channels;
* the attenuation of the interferers by MNE's homogeneous field correction (OPM) or SSS
  (SQUID) on the simulated recording, against `qsense budget --suppression`.

Saves a figure of the spectra. The default is the full 10 minutes (about 3 minutes on
two cores); `--minutes 2` is quicker, with more scatter in the lowest bands.

    python examples/empty_room.py [--minutes 10] [--figure empty_room.png]
"""

import argparse
import dataclasses

import numpy as np
from matplotlib.figure import Figure
from scipy.signal import welch

import qsense as qs
from qsense.budget import mne_suppression, noise_budget, recording_suppression


def band_ratios(data, array, env, sfreq):
    """Third-octave bands over 1-100 Hz, without those within 2 Hz of a power-line
    harmonic: (low, high, ratio per channel) with ratio = simulated ASD / budget ASD."""
    f, p = welch(data, fs=sfreq, nperseg=8192)
    total = noise_budget(array, env, freqs=f[1:])["total"].values ** 2
    lines = [h * env.power_line.frequency for h in env.power_line.harmonics]
    out = []
    edges = 10 ** (np.arange(0, 21) / 10)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if any(lo - 2 <= line <= hi + 2 for line in lines):
            continue
        sel = (f[1:] >= lo) & (f[1:] < hi)
        out.append((lo, hi, np.sqrt(p[:, 1:][:, sel].mean(1) / total[:, sel].mean(1))))
    return f, p, out


def hfc_or_sss(array, env, head, sfreq):
    """Attenuation of the interferers alone on a simulated recording, and the budget's."""
    room = dataclasses.replace(env.room, layers=(), remnant_field=(0.0, 0.0, 0.0),
                               remnant_gradient=(0.0,) * 9)
    only = env.replace(room=room, power_line=None, movement=None)
    raw = qs.simulate_raw(array, head, qs.sources.points([[0, 0, 0.05]], head), None,
                          environment=only, duration=10.0, sfreq=sfreq, seed=5,
                          noise=False, sensor_physics=False)
    got = recording_suppression(raw, array.head_mounted)
    return got, mne_suppression(array, only)["interference"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--figure", default="empty_room.png")
    args = ap.parse_args()
    head = qs.Head.sphere()
    sfreq, duration = 1000.0, 60.0 * args.minutes
    cases = [("16 OPMs, opm_two_layer room", qs.arrays.opm_on_scalp(head, 16, "radial"),
              qs.Environment.preset("opm_two_layer")),
             ("Neuromag 306, ak3b room", qs.arrays.neuromag306(head),
              qs.Environment.preset("ak3b"))]
    fig = Figure(figsize=(10, 4), layout="constrained")
    for k, (label, array, env) in enumerate(cases):
        raw = qs.simulate_raw(array, head, qs.sources.points([[0, 0, 0.05]], head), None,
                              environment=env, duration=duration, sfreq=sfreq, seed=11,
                              progress=True)
        f, p, bands = band_ratios(raw.get_data(), array, env, sfreq)
        print(f"\n{label}, {args.minutes:g} min: simulated / budget ASD per channel")
        print("   band (Hz)        median    min     max")
        worst = 0.0
        for lo, hi, r in bands:
            worst = max(worst, np.abs(r - 1).max())
            print(f"  {lo:6.2f}-{hi:6.2f}   {np.median(r):6.3f}  {r.min():6.3f}  {r.max():6.3f}")
        print(f"  largest deviation over channels and bands: {100 * worst:.1f} %")
        got, want = hfc_or_sss(array, env, head, sfreq)
        method = "HFC (order 1)" if array.head_mounted else "SSS"
        print(f"  interferers attenuated by {method}: simulated {got:.3g}, "
              f"budget --suppression {want:.3g} (ratio {got / want:.2f})")
        ax = fig.add_subplot(1, 2, k + 1)
        ch = 0 if array.head_mounted else 2  # a magnetometer
        budget = noise_budget(array, env, freqs=f[1:])
        ax.loglog(f[1:], np.sqrt(p[ch, 1:]), lw=0.8, label="simulated")
        ax.loglog(f[1:], budget["total"].values[ch], lw=1.5, label="budget total")
        ax.set(xlim=(1, 200), xlabel="frequency (Hz)", ylabel="ASD (T/sqrt(Hz))",
               title=f"{label}: {array.names[ch]}")
        ax.legend()
    fig.savefig(args.figure, dpi=120)
    print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
