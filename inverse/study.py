"""The comparison study: on-scalp OPMs, NV sensors and SQUID helmets on one head.

Every array sees the same cortical sources on the fsaverage head (single-shell BEM,
fsaverage5 white-surface dipoles along their normals) and is judged by the same
metrics, each computed by the module that owns it:

- ``snr``: the whitened field norm ``sqrt(sum_c (b_c / sigma_c)^2)`` of one dipole of
  ``moment`` A m, with channel noise ``sigma_c = floor_c * sqrt(bandwidth)``;
- ``information``: total information about independent 1 nAm sources, bits per sample
  (:mod:`inverse.information`);
- ``ple``: peak localisation error of MNE's MNE, dSPM and sLORETA estimates of each
  noiseless dipole (:mod:`inverse.localisation`; MNE's default inverse: loose 0.2,
  depth 0.8, ``lambda2`` 1/9, diagonal noise covariance from the floors);
- ``crb``: Cramer-Rao bound on the rms position error of a dipole fit
  (:mod:`inverse.cramer_rao`), in the sphere fitted to the same inner skull (the bound
  needs the conductor's derivatives, which the sphere model gives exactly). Sources
  whose normal is within 3 degrees of radial are silent in that model: NaN.

The arrays: ``n_opm`` radial OPMs (``opm_sensor`` preset, its standoff and floor); NV
magnetometers on the same lattice (:func:`qsense.nv.nv_on_scalp`: the ``nv_sensor``
preset's standoff and white floor, point coils); Neuromag 306 and CTF 275 helmets 20 mm
from the scalp at their closest.
"""

from __future__ import annotations

import mne
import numpy as np
import xarray as xr

import qsense as qs
from qsense._checks import check_int, check_number

from .cramer_rao import dipole_localisation_bound
from .information import information_bits
from .localisation import METHODS, peak_localisation_error

__all__ = ["compare", "ARRAY_NAMES", "SPACINGS", "N_OPM_RANGE", "BANDWIDTH_RANGE"]

ARRAY_NAMES = ("opm", "nv", "neuromag306", "ctf275")
SPACINGS = ("ico2", "ico3", "ico4")
N_OPM_RANGE = (8, 512)  # sensors in the OPM and NV arrays
BANDWIDTH_RANGE = (1e-6, 1e5)  # noise bandwidth of one sample, Hz
_LABELS = {"opm": "on-scalp OPMs", "nv": "NV magnetometers", "neuromag306": "Neuromag 306",
           "ctf275": "CTF 275"}


def _arrays(head, names, n_opm, opm_sensor, nv_sensor):
    from qsense.nv import NV_PRESETS, nv_on_scalp

    if "nv" in names and nv_sensor not in NV_PRESETS:
        raise ValueError(f"nv_sensor must be one of {sorted(NV_PRESETS)}, got {nv_sensor!r}")
    builders = {
        "opm": lambda: qs.arrays.opm_on_scalp(head, n_opm, "radial", sensor=opm_sensor),
        "nv": lambda: nv_on_scalp(head, n_opm, sensor=nv_sensor),
        "neuromag306": lambda: qs.arrays.neuromag306(head),
        "ctf275": lambda: qs.arrays.ctf275(head),
    }
    return {name: builders[name]() for name in names}


def _noise_cov(info, std):
    return mne.Covariance(np.diag(std**2), info["ch_names"], bads=[], projs=[], nfree=1,
                          verbose=False)


def compare(*, spacing: str = "ico4", arrays=ARRAY_NAMES, n_opm: int = 64,
            opm_sensor: str = "quspin_gen2", nv_sensor: str = "nv_flux_concentrator",
            bandwidth: float = 1.0, moment: float = 20e-9, lambda2: float = 1 / 9,
            head: qs.Head | None = None) -> xr.Dataset:
    """Run the comparison study.

    Parameters
    ----------
    spacing : {"ico2", "ico3", "ico4"}
        Cortical source spacing (324, 1284 or 5124 sources).
    arrays : sequence of {"opm", "nv", "neuromag306", "ctf275"}
    n_opm : int
        Sensors in the OPM and NV arrays (8 to 512).
    opm_sensor : str
        OPM preset (``qsense info`` lists them).
    nv_sensor : str
        NV preset (``qsense.nv.NV_PRESETS``).
    bandwidth : float
        Noise bandwidth of one sample, Hz (1 Hz: one second of averaging).
    moment : float
        Dipole moment for ``snr`` and ``crb``, A m (default 20 nAm, a typical evoked
        response; Hamalainen et al. 1993, Rev. Mod. Phys. 65:413).
    lambda2 : float
        Regularisation of the minimum-norm estimates, 1/SNR^2.
    head : qsense.Head, optional
        Default ``Head.fsaverage()`` (BEM).

    Returns
    -------
    xarray.Dataset
        Dimensions ``array``, ``source``, ``solver``; every variable has units.
    """
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    arrays = tuple(arrays)
    bad = [a for a in arrays if a not in ARRAY_NAMES]
    if not arrays or bad or len(set(arrays)) != len(arrays):
        raise ValueError(f"arrays must be distinct names from {ARRAY_NAMES}, got {arrays!r}")
    n_opm = check_int("n_opm", n_opm, low=N_OPM_RANGE[0], high=N_OPM_RANGE[1])
    bandwidth = check_number("bandwidth", bandwidth, low=BANDWIDTH_RANGE[0],
                             high=BANDWIDTH_RANGE[1], unit="Hz")
    moment = check_number("moment", moment, low=1e-12, high=1e-5, unit="A m")
    lambda2 = check_number("lambda2", lambda2, low=1e-6, high=1e6)
    head = qs.Head.fsaverage() if head is None else head
    if not isinstance(head, qs.Head) or head.subject != "fsaverage":
        raise ValueError("head must be a fsaverage Head (the study's cortex lives on it)")
    # the bound needs the conductor's derivatives: the head's own where it has them,
    # else the sphere fitted to the same inner skull
    sphere = (head if head.conductor.differentiable
              else qs.Head.fsaverage(conductor="sphere"))
    src = qs.sources.cortex(head, spacing)
    built = _arrays(head, arrays, n_opm, opm_sensor, nv_sensor)
    out = src.positions - head.sphere_origin
    radial_cos = np.abs(np.sum(out * src.normals, 1)) / np.linalg.norm(out, axis=1)
    seen = radial_cos < np.cos(np.deg2rad(3.0))
    superficial = qs.sources.superficial_tangential(src, head)
    depth = -head.brain_distance(src.positions)

    n_src, n_arr = len(src), len(arrays)
    snr = np.empty((n_arr, n_src))
    info_bits = np.empty(n_arr)
    ple = np.empty((n_arr, len(METHODS), n_src))
    crb = np.full((n_arr, n_src), np.nan)
    n_channels = np.empty(n_arr, dtype=int)
    floors = []
    for a, name in enumerate(arrays):
        arr = built[name]
        std = np.asarray(arr.noise) * np.sqrt(bandwidth)
        n_channels[a] = arr.n_channels
        floors.append(", ".join(f"{f:.3g}" for f in np.unique(arr.noise)))
        fwd = qs.make_forward(arr, head, src)  # the lead field, computed once per array
        lf = fwd["sol"]["data"].reshape(arr.n_channels, n_src, 3)
        gain = np.einsum("csk,sk->cs", lf, src.normals)
        snr[a] = moment * np.linalg.norm(gain / std[:, None], axis=0)
        info_bits[a] = information_bits(gain, std**2, (1e-9) ** 2)[0]
        info = arr.to_info()
        inv = mne.minimum_norm.make_inverse_operator(info, fwd, _noise_cov(info, std),
                                                     loose=0.2, depth=0.8, verbose=False)
        for m, method in enumerate(METHODS):
            ple[a, m] = peak_localisation_error(fwd, inv, method=method,
                                                lambda2=lambda2).values
        bound = dipole_localisation_bound(arr, sphere, src.positions[seen],
                                          moment * src.normals[seen], noise_std=std)
        crb[a, seen] = bound["rms"].values

    coords = {
        "array": ("array", list(arrays), {"long_name": "sensor array"}),
        "array_label": ("array", [_LABELS[a] for a in arrays], {"long_name": "description"}),
        "n_channels": ("array", n_channels, {"units": "1", "long_name": "channels"}),
        "noise_floor": ("array", floors, {"units": "T/sqrt(Hz) (T/(m sqrt(Hz)) planar)",
                                          "long_name": "white noise floors"}),
        "solver": ("solver", list(METHODS), {"long_name": "minimum-norm method"}),
        "source": ("source", np.arange(n_src), {"long_name": "cortical source index"}),
        "depth": ("source", depth, {"units": "m", "long_name": "depth below the inner "
                                    "skull"}),
        "superficial": ("source", np.isin(np.arange(n_src), superficial),
                        {"long_name": "superficial tangential source (qsense.sources."
                         "superficial_tangential)"}),
    }
    for k, axis in enumerate("xyz"):
        coords[f"source_{axis}"] = ("source", src.positions[:, k],
                                    {"units": "m", "long_name": f"source {axis} (head)"})
    return xr.Dataset(
        {"snr": (("array", "source"), snr,
                 {"units": "1", "long_name": f"whitened field norm of a {moment * 1e9:g} nAm "
                  "normal dipole"}),
         "information": (("array",), info_bits,
                         {"units": "bit", "long_name": "total information per sample about "
                          "independent 1 nAm sources"}),
         "ple": (("array", "solver", "source"), ple,
                 {"units": "m", "long_name": "peak localisation error of the noiseless "
                  "point-spread function"}),
         "crb": (("array", "source"), crb,
                 {"units": "m", "long_name": "Cramer-Rao bound on the rms position error "
                  "(fitted sphere; NaN where silent)"})},
        coords=coords,
        attrs={"title": "qsense comparison study", "head": head.name,
               "conductor": head.conductor.name, "spacing": spacing, "bandwidth_Hz": bandwidth,
               "moment_Am": moment, "lambda2": lambda2, "inverse": "MNE make_inverse_"
               "operator, loose 0.2, depth 0.8, diagonal noise covariance",
               "opm_sensor": opm_sensor, "nv_sensor": nv_sensor,
               "qsense_version": qs.__version__})

