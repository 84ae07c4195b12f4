"""Co-registration error: where the analysis believes the sensors are.

Source estimation needs the sensors' positions in the head frame. A SQUID helmet gets
them from head-position coils digitised on the head; an on-scalp array from the helmet's
geometry and its fit to the head (a 3-D printed or flexible cap, an optical scan). Either
way the transform carries an error of a few millimetres (an assumption for the default
size, 3 mm rms over the sensors, within the millimetre-to-centimetre range discussed for
both technologies; make it a study parameter). The recordings are simulated with the
true positions and analysed with the believed ones: the inverse's forward and the
data's ``info["dev_head_t"]`` both use :func:`coregistration_error`'s transform applied
to the array's true device-to-head transform.

The error is a rigid motion with a translation along a seeded random direction and a
rotation by a seeded random axis through the head frame's origin, the two equal in rms
displacement over the array's sensors, scaled so that the rms displacement of the
sensors is ``magnitude``.
"""

from __future__ import annotations

import hashlib

import numpy as np

import qsense as qs
from qsense._checks import check_int, check_number, validate_type

__all__ = ["coregistration_error", "misregistered", "COREG_RANGE"]

COREG_RANGE = (0.0, 0.02)  # m, rms sensor displacement


def _rotation(axis, angle):
    """Rodrigues' rotation matrix."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _rng(seed, name):
    """A generator keyed by the seed and the array's name (the same error for an array
    whatever else the study holds)."""
    tag = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    return np.random.default_rng([seed, tag, 7])


def coregistration_error(array: qs.SensorArray, magnitude: float, *, seed: int = 0,
                         name: str | None = None) -> np.ndarray:
    """A rigid head-frame transform ``E`` that moves the array's sensors by ``magnitude``
    rms (m): the believed positions are ``E`` applied to the true ones.

    Parameters
    ----------
    array : qsense.SensorArray
    magnitude : float
        Rms displacement of the sensors, m (0 to 0.02; 0 gives the identity).
    seed : int
        >= 0. With ``name`` (default ``array.sensor``) it keys the random directions.
    name : str, optional

    Returns
    -------
    ndarray, shape (4, 4)
    """
    validate_type(array, qs.SensorArray, "array", "qsense.SensorArray")
    magnitude = check_number("magnitude", magnitude, low=COREG_RANGE[0], high=COREG_RANGE[1],
                             unit="m")
    seed = check_int("seed", seed, low=0)
    out = np.eye(4)
    if magnitude == 0.0:
        return out
    rng = _rng(seed, str(array.sensor if name is None else name))
    u = rng.standard_normal(3)
    u /= np.linalg.norm(u)
    a = rng.standard_normal(3)
    a /= np.linalg.norm(a)
    r = np.unique(array.positions, axis=0)
    lever = np.sqrt(np.mean(np.sum(np.cross(a, r) ** 2, axis=1)))  # rms |a x r|
    half = magnitude / np.sqrt(2.0)

    def moved(scale):
        rot = _rotation(a, scale * half / lever)
        return r @ rot.T + scale * half * u, rot

    scale = 1.0
    for _ in range(3):  # the two parts are not orthogonal per sensor: rescale to the rms
        new, rot = moved(scale)
        rms = np.sqrt(np.mean(np.sum((new - r) ** 2, axis=1)))
        scale *= magnitude / rms
    new, rot = moved(scale)
    out[:3, :3] = rot
    out[:3, 3] = scale * half * u
    return out


def misregistered(array: qs.SensorArray, transform) -> qs.SensorArray:
    """The array as the analysis believes it: ``transform`` (head frame) applied to its
    device-to-head transform."""
    t = np.asarray(transform, float)
    return array.replace(dev_head_t=t @ np.asarray(array.dev_head_t, float))
