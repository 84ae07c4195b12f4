"""A paired evoked simulation: 64 on-scalp OPMs and a Neuromag SQUID helmet record the
same two auditory-cortex-like sources (N100m-like responses, 20 nAm, 40 trials), each
through its sensor physics and with its own sensor noise; MNE low-passes (40 Hz), epochs
and averages each recording. Prints the peak signal-to-noise ratio of each average and
saves a figure.

Runs in under a minute on two cores (fsaverage, ico-3 BEM cached on first use).

    python examples/simulate_evoked.py [figure.png]
"""

import sys

import mne
import numpy as np
from matplotlib.figure import Figure

import qsense as qs


def auditory_sources(head, src):
    """The superficial, tangential source nearest each auditory cortex (about 5 cm to
    each side of the head centre, 1 cm back, 4.5 cm up; head frame)."""
    cand = qs.sources.superficial_tangential(src, head, upper=False)
    out = []
    for side in (-1.0, 1.0):
        target = np.array([0.05 * side, -0.01, 0.045])
        out.append(int(cand[np.argmin(np.linalg.norm(src.positions[cand] - target, axis=1))]))
    return out


def evoked_of(raw):
    raw.filter(None, 40.0, verbose=False)  # as for real data: low-pass at 40 Hz
    events, event_id = mne.events_from_annotations(raw, verbose=False)
    epochs = mne.Epochs(raw, events, event_id, tmin=-0.1, tmax=0.4, baseline=(None, 0),
                        preload=True, verbose=False)
    return epochs.average()


def peak_snr(evoked, picks):
    data = evoked.get_data(picks=picks)
    base = data[:, evoked.times < 0]
    return float(np.abs(data).max() / base.std())


def main(figure="simulate_evoked.png", n_trials=40):
    head = qs.Head.fsaverage(ico=3)
    src = qs.sources.cortex(head, "ico3")
    act = qs.activity.evoked(src, auditory_sources(head, src), n_trials=n_trials,
                             soa=0.8, jitter=0.1, amplitude=20e-9, seed=0)
    arrays = {"OPM (64 radial QuSpin Gen-2)": qs.arrays.opm_on_scalp(head, 64, "radial"),
              "SQUID (Neuromag magnetometers)": qs.arrays.neuromag306(head)}
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    out = {}
    for ax, (name, array) in zip(axes, arrays.items(), strict=True):
        raw = qs.simulate_raw(array, head, src, act, seed=0)  # same sources and seed
        evoked = evoked_of(raw)
        picks = mne.pick_types(evoked.info, meg="mag")
        out[name] = peak_snr(evoked, picks)
        print(f"{name}: {len(raw.ch_names)} channels, peak SNR of the average "
              f"{out[name]:.1f} (peak / baseline std, {n_trials} trials)")
        ax.plot(evoked.times * 1e3, evoked.get_data(picks=picks).T * 1e15, lw=0.6)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time (ms)")
    axes[0].set_ylabel("averaged field (fT)")
    fig.suptitle("Simulated N100m-like responses, 20 nAm, two sources", fontsize=10)
    fig.savefig(figure, dpi=120)
    print(f"figure saved to {figure}")
    return out


if __name__ == "__main__":
    main(*sys.argv[1:2])
