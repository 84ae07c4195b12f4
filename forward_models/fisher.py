"""Fisher information and Cramer-Rao bounds for a current dipole seen by coil sensors.

For data ``b = L(r0) q + n`` with Gaussian noise of covariance ``C``, the Fisher
information of the parameters ``theta`` is ``J = (db/dtheta)^T C^-1 (db/dtheta)``, and
the covariance of any unbiased estimator is at least ``J^-1`` (the Cramer-Rao bound;
for dipoles: Mosher, Spencer, Leahy and Lewis 1993, "Error bounds for EEG and MEG
dipole source localization", Electroencephalogr. Clin. Neurophysiol. 86:303). The
derivatives here are exact (JAX forward-mode autodiff through the Sarvas kernel).

In a spherically symmetric conductor the radial part of the moment is silent (Sarvas
1987): its column of the Jacobian is zero, so the moment is parametrised by its two
components tangential to the sphere at the true position. The parameters are
``(x, y, z, q_1, q_2)`` and every matrix here is 5 x 5. The position derivatives move
the whole true moment, radial part included (silent at the true position, not at a
displaced one).
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_coils, check_finite, check_positive, check_vector3, is_concrete
from .conductors import sphere_coil_leadfield

__all__ = ["tangential_basis", "sphere_dipole_jacobian", "sphere_dipole_fisher",
           "position_covariance_bound"]


def tangential_basis(r0, origin):
    """Two unit vectors orthogonal to ``r0 - origin`` and to each other.

    Parameters
    ----------
    r0 : array_like, shape (..., 3)
        Dipole positions, m (not at the origin).
    origin : array_like, shape (3,)

    Returns
    -------
    jax.Array, shape (..., 2, 3)
    """
    check_vector3("r0", r0)
    check_vector3("origin", origin)
    if is_concrete(r0) and is_concrete(origin) and np.any(
            np.linalg.norm(np.asarray(r0, float) - np.asarray(origin, float), axis=-1) == 0):
        raise ValueError("r0 must differ from origin: a dipole at the centre has no "
                         "tangential directions")
    u = jnp.asarray(r0) - jnp.asarray(origin)
    u = u / jnp.linalg.norm(u, axis=-1, keepdims=True)
    # a helper axis far from u: the coordinate axis of u's smallest component
    helper = jax.nn.one_hot(jnp.argmin(jnp.abs(u), axis=-1), 3, dtype=u.dtype)
    e1 = jnp.cross(u, helper)
    e1 = e1 / jnp.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = jnp.cross(u, e1)
    return jnp.stack([e1, e2], axis=-2)


def _one_jacobian(points, normals, weights, r0, q, origin):
    def leadfield(pos):
        return sphere_coil_leadfield(points, normals, weights, pos[None, :], origin)[:, 0, :]

    # position: moving the whole moment q, radial part included (it is silent at r0 but
    # not at a displaced position); moment: its two tangential components
    d_pos = jax.jacfwd(lambda pos: leadfield(pos) @ q)(r0)
    d_mom = leadfield(r0) @ tangential_basis(r0, origin).T
    return jnp.concatenate([d_pos, d_mom], axis=-1)


def _check_dipoles(points, normals, weights, r0, q, origin):
    check_coils(points, normals, weights)
    for name, x in (("r0", r0), ("q", q)):
        check_vector3(name, x)
        if np.ndim(x) != 2:
            raise ValueError(f"{name} must have shape (n_dipoles, 3), got {np.shape(x)}")
    if np.shape(q) != np.shape(r0):
        raise ValueError(f"q must have the shape of r0 {np.shape(r0)}, got {np.shape(q)}")
    check_vector3("origin", origin)
    if np.shape(origin) != (3,):
        raise ValueError(f"origin must have shape (3,), got {np.shape(origin)}")


def sphere_dipole_jacobian(points, normals, weights, r0, q, origin):
    """Derivatives of every channel's reading with respect to ``(x, y, z, q_1, q_2)``.

    Parameters
    ----------
    points, normals : array_like, shape (n_channels, P, 3)
        Coil integration points (m) and unit normals, zero-padded as for
        :func:`forward_models.conductors.sphere_coil_leadfield`.
    weights : array_like, shape (n_channels, P)
    r0 : array_like, shape (n_dipoles, 3)
        Dipole positions, m.
    q : array_like, shape (n_dipoles, 3)
        Dipole moments, A m (only the tangential part is seen).
    origin : array_like, shape (3,)
        Sphere centre, m.

    Returns
    -------
    jax.Array, shape (n_dipoles, n_channels, 5)
        T/m for the position columns, T/(A m) for the moment columns (per metre more for
        planar gradiometers).
    """
    _check_dipoles(points, normals, weights, r0, q, origin)
    return _jacobian(points, normals, weights, r0, q, origin)


@jax.jit
def _jacobian(points, normals, weights, r0, q, origin):
    fn = jax.vmap(_one_jacobian, in_axes=(None, None, None, 0, 0, None))
    return fn(jnp.asarray(points), jnp.asarray(normals), jnp.asarray(weights),
              jnp.asarray(r0), jnp.asarray(q), jnp.asarray(origin))


def sphere_dipole_fisher(points, normals, weights, r0, q, origin, noise_std):
    """Fisher information of ``(x, y, z, q_1, q_2)`` for white, independent channel noise.

    Parameters
    ----------
    points, normals, weights, r0, q, origin
        As for :func:`sphere_dipole_jacobian`.
    noise_std : array_like, shape (n_channels,)
        Noise standard deviation of each channel in the data the dipole is fitted to
        (T, or T/m for planar gradiometers).

    Returns
    -------
    jax.Array, shape (n_dipoles, 5, 5)
        Units of 1/parameter^2 (1/m^2, 1/(m A m), 1/(A m)^2).
    """
    _check_dipoles(points, normals, weights, r0, q, origin)
    check_positive("noise_std", noise_std)
    if np.shape(noise_std) != np.shape(points)[:1]:
        raise ValueError(f"noise_std must have shape (n_channels,) = {np.shape(points)[:1]}, "
                         f"got {np.shape(noise_std)}")
    return _fisher(points, normals, weights, r0, q, origin, noise_std)


@jax.jit
def _fisher(points, normals, weights, r0, q, origin, noise_std):
    jac = _jacobian(points, normals, weights, r0, q, origin)
    white = jac / jnp.asarray(noise_std)[None, :, None]
    return jnp.einsum("sci,scj->sij", white, white)


def position_covariance_bound(fisher):
    """The position block of the inverse Fisher information (the Cramer-Rao bound).

    The moment is a nuisance parameter estimated jointly, so this is the 3 x 3 block of
    the full inverse (the Schur complement), not the inverse of the position block.

    Parameters
    ----------
    fisher : array_like, shape (..., 5, 5)

    Returns
    -------
    jax.Array, shape (..., 3, 3)
        m^2. ``inf`` where the information is singular.
    """
    check_finite("fisher", fisher)
    if np.shape(fisher)[-2:] != (5, 5):
        raise ValueError(f"fisher must have shape (..., 5, 5), got {np.shape(fisher)}")
    return _covariance_bound(fisher)


@jax.jit
def _covariance_bound(fisher):
    fisher = jnp.asarray(fisher)
    # Jacobi scaling: the parameters mix metres and ampere-metres, so condition and
    # invert the matrix with unit diagonal
    d = jnp.sqrt(jnp.diagonal(fisher, axis1=-2, axis2=-1))
    scaled = fisher / (d[..., :, None] * d[..., None, :])
    cond = jnp.linalg.cond(scaled)
    inv = jnp.linalg.inv(scaled) / (d[..., :, None] * d[..., None, :])
    bad = ~jnp.isfinite(cond) | (cond > 1e12) | jnp.any(d <= 0, axis=-1)
    return jnp.where(bad[..., None, None], jnp.inf, inv[..., :3, :3])
