"""Geometry of OPM sensors: integration over the vapour cell, on-board coil crosstalk,
small rotations of the sensor frame.

Pure JAX / numpy, SI units (metres, tesla).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from forward_models._checks import check_count, check_scalar, check_vector3
from forward_models.conductors import magnetic_dipole_field
from forward_models.constants import MU0
from forward_models.opm.bloch import _rotate
from forward_models.opm.serf import _check_positive

__all__ = ["cell_integration_points", "coil_crosstalk_matrix", "rotation_from_rotvec"]


# ------------------------------------------------------------- geometry: cell, coils
def cell_integration_points(cell_size, order=2):
    """Gauss-Legendre integration points over a cubic vapour cell.

    Parameters
    ----------
    cell_size : float
        Edge of the (cubic) cell in metres (e.g. 3e-3 for a QuSpin cell).
    order : int
        Points per edge (1..5); order**3 points, exact for polynomials of degree
        2*order - 1 in each coordinate.

    Returns
    -------
    offsets : numpy.ndarray, shape (order**3, 3)
        Offsets from the cell centre in the pump frame, m.
    weights : numpy.ndarray, shape (order**3,)
        Weights summing to 1 (uniform atomic density and light intensity assumed).
    """
    _check_positive("cell_size", cell_size)
    check_scalar("cell_size", cell_size, "edge length (m)")
    order = check_count("order", order, 1, 5)
    x, wx = np.polynomial.legendre.leggauss(order)
    x = 0.5 * float(cell_size) * x
    wx = 0.5 * wx
    g = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    w = (wx[:, None, None] * wx[None, :, None] * wx[None, None, :]).ravel()
    return g, w


def coil_crosstalk_matrix(positions, rotations, coil_radius):
    """Dipole model of the field of each sensor's on-board coils at its neighbours.

    Parameters
    ----------
    positions : array_like, shape (N, 3)
        Cell centres, m (any common frame).
    rotations : array_like, shape (N, 3, 3)
        Rows are each sensor's pump-frame axes (x, y, z) in that common frame.
    coil_radius : float
        Effective radius a of the on-board coils (m): a coil producing field b at its
        own cell centre has dipole moment m = 2 pi a^3 b / mu0 (loop-on-axis relation
        B = mu0 m / (2 pi a^3)); far-field dipole approximation, valid for distances
        >> a. The radius is an *assumption* (vendors do not publish coil geometry).

    Uses :func:`forward_models.conductors.magnetic_dipole_field`.

    Returns
    -------
    X : jax.Array, shape (N, 3, N, 3)
        Field at cell i along its pump axis a per unit coil field of sensor j along its
        pump axis b. Zero on the diagonal blocks. Falls as 1 / distance**3.
    """
    check_vector3("positions", positions)
    check_vector3("rotations", rotations)
    pos = jnp.asarray(positions, dtype=float)
    R = jnp.asarray(rotations, dtype=float)
    N = pos.shape[0] if pos.ndim else 0
    if pos.shape != (N, 3) or R.shape != (N, 3, 3):
        raise ValueError(f"positions must have shape (N, 3) and rotations (N, 3, 3), got "
                         f"{pos.shape} and {R.shape}")
    _check_positive("coil_radius", coil_radius)
    check_scalar("coil_radius", coil_radius, "radius (m)")
    moment_per_t = 2 * jnp.pi * float(coil_radius) ** 3 / MU0
    # unit coil field along j's axis b -> moment in common frame = R[j, b] * moment_per_t
    mom = R * moment_per_t  # (N_j, 3_b, 3)
    diff = pos[:, None, :] - pos[None, :, :]  # (i, j, 3)
    eye = jnp.eye(N, dtype=bool)
    safe = jnp.where(eye[..., None], 1.0, diff)
    field = magnetic_dipole_field(safe[:, :, None, :], jnp.zeros(3), mom[None])  # (i,j,b,3)
    field = jnp.where(eye[:, :, None, None], 0.0, field)
    X = jnp.einsum("iac,ijbc->iajb", R, field)
    return X


def rotation_from_rotvec(rotvec):
    """Rotation matrices from rotation vectors (rad), shape (..., 3) -> (..., 3, 3).

    Rodrigues' formula; used to apply small orientation errors.
    """
    check_vector3("rotvec", rotvec, "{name} must have shape (..., 3) (rad); got shape {shape}")
    rv = jnp.asarray(rotvec, dtype=float)
    eye = jnp.broadcast_to(jnp.eye(3), rv.shape[:-1] + (3, 3))
    cols = [_rotate(eye[..., :, k], rv) for k in range(3)]
    return jnp.stack(cols, -1)
