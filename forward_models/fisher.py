"""Fisher information and Cramer-Rao bounds for a current dipole seen by coil sensors.

For data ``b = L(r0) q + n`` with Gaussian noise of covariance ``C``, the Fisher
information of the parameters ``theta`` is ``J = (db/dtheta)^T C^-1 (db/dtheta)``, and
the covariance of any unbiased estimator is at least ``J^-1`` (the Cramer-Rao bound;
for dipoles: Mosher, Spencer, Leahy and Lewis 1993, "Error bounds for EEG and MEG
dipole source localization", Electroencephalogr. Clin. Neurophysiol. 86:303). The
derivatives here are exact (JAX forward-mode autodiff through the field kernel).

The algebra is one for every conductor (:func:`fisher_information` of the Jacobian
that the private ``_dipole_jacobian`` forms from any lead-field kernel, then
:func:`position_covariance_bound`); the conductors differ only in their kernel and in
how the moment is parametrised:

- Spherically symmetric conductor (:func:`sphere_dipole_fisher`, Sarvas kernel): the
  radial part of the moment is silent (Sarvas 1987), its column of the Jacobian is
  zero, so the moment is parametrised by its two components tangential to the sphere at
  the true position. Parameters ``(x, y, z, q_1, q_2)``: 5 x 5 matrices.
- Boundary-element conductor (:func:`bem_dipole_fisher`, the kernel of
  :func:`forward_models.bem.bem_leadfield`): no moment direction is exactly silent, so
  all three Cartesian components are parameters. ``(x, y, z, q_x, q_y, q_z)``: 6 x 6.

In both, the position derivatives move the whole true moment (in the sphere, radial
part included: silent at the true position, not at a displaced one).
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import (
    check_coils,
    check_count,
    check_finite,
    check_positive,
    check_range,
    check_vector3,
    is_concrete,
)
from .bem import _leadfield_chunk
from .conductors import sphere_coil_leadfield

__all__ = ["tangential_basis", "fisher_information", "sphere_dipole_jacobian",
           "sphere_dipole_hessian", "sphere_dipole_fisher", "bem_dipole_jacobian",
           "bem_dipole_hessian", "bem_dipole_fisher", "position_covariance_bound"]


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


def _dipole_jacobian(leadfield, r0, q, moment_basis):
    """Jacobian of every channel's reading with respect to (position, moment components).

    The one algebra all conductors share. ``leadfield`` maps positions (S, 3) to the
    field of unit dipoles (C, S, 3), each source's column depending on its own position
    only; so one forward-mode pass over a common shift of all sources gives every
    source's own position derivative (``jax.jacfwd`` over 3 coordinates, not 3 S).

    Parameters
    ----------
    leadfield : callable
        Traceable ``(S, 3) -> (C, S, 3)``.
    r0, q : jax.Array, shape (S, 3)
        Positions (m) and moments (A m).
    moment_basis : jax.Array, shape (S, m, 3)
        Unit vectors spanning the moment parameters of each source.

    Returns
    -------
    jax.Array, shape (S, C, 3 + m)
    """
    def field(shift):
        lf = leadfield(r0 + shift[None, :])
        return jnp.einsum("csj,sj->cs", lf, q), lf

    d_pos, lf = jax.jacfwd(field, has_aux=True)(jnp.zeros(3, dtype=r0.dtype))  # (C,S,3)
    d_mom = jnp.einsum("csj,smj->csm", lf, moment_basis)
    return jnp.moveaxis(jnp.concatenate([d_pos, d_mom], axis=-1), 1, 0)


def _dipole_hessian(leadfield, r0, q):
    """Second derivatives of every channel's reading with respect to the position, the
    moment held fixed: (S, C, 3, 3). Same common-shift argument as ``_dipole_jacobian``
    (each source's field depends on its own position only)."""
    def field(shift):
        return jnp.einsum("csj,sj->cs", leadfield(r0 + shift[None, :]), q)

    hess = jax.jacfwd(jax.jacfwd(field))(jnp.zeros(3, dtype=r0.dtype))  # (C,S,3,3)
    return jnp.moveaxis(hess, 1, 0)


def _check_noise(noise_std, n_channels):
    check_positive("noise_std", noise_std)
    if np.shape(noise_std) != (n_channels,):
        raise ValueError(f"noise_std must have shape (n_channels,) = ({n_channels},), "
                         f"got {np.shape(noise_std)}")


def fisher_information(jacobian, noise_std):
    """Fisher information ``(J / sigma)^T (J / sigma)`` for white, independent channel noise.

    Parameters
    ----------
    jacobian : array_like, shape (..., n_channels, n_params)
        Derivatives of each channel's reading with respect to the parameters.
    noise_std : array_like, shape (n_channels,)
        Noise standard deviation of each channel (units of the readings).

    Returns
    -------
    jax.Array, shape (..., n_params, n_params)
    """
    check_finite("jacobian", jacobian)
    if np.ndim(jacobian) < 2:
        raise ValueError(f"jacobian must have shape (..., n_channels, n_params), got "
                         f"{np.shape(jacobian)}")
    _check_noise(noise_std, np.shape(jacobian)[-2])
    return _gram(jnp.asarray(jacobian), jnp.asarray(noise_std))


@jax.jit
def _gram(jac, noise_std):
    white = jac / noise_std[:, None]
    return jnp.einsum("...ci,...cj->...ij", white, white)


def _check_dipoles(points, normals, weights, r0, q):
    check_coils(points, normals, weights)
    for name, x in (("r0", r0), ("q", q)):
        check_vector3(name, x)
        if np.ndim(x) != 2:
            raise ValueError(f"{name} must have shape (n_dipoles, 3), got {np.shape(x)}")
    if np.shape(q) != np.shape(r0):
        raise ValueError(f"q must have the shape of r0 {np.shape(r0)}, got {np.shape(q)}")


def _check_origin(origin):
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
    _check_dipoles(points, normals, weights, r0, q)
    _check_origin(origin)
    return _sphere_jacobian(*(jnp.asarray(x) for x in (points, normals, weights, r0, q,
                                                       origin)))


@jax.jit
def _sphere_jacobian(points, normals, weights, r0, q, origin):
    def leadfield(pos):
        return sphere_coil_leadfield(points, normals, weights, pos, origin)

    return _dipole_jacobian(leadfield, r0, q, tangential_basis(r0, origin))


def sphere_dipole_hessian(points, normals, weights, r0, q, origin):
    """Second derivatives of every channel's reading with respect to the dipole position.

    Parameters
    ----------
    points, normals, weights, r0, q, origin
        As for :func:`sphere_dipole_jacobian`.

    Returns
    -------
    jax.Array, shape (n_dipoles, n_channels, 3, 3)
        T/m^2 (per metre more for planar gradiometers); symmetric in the last two axes.
    """
    _check_dipoles(points, normals, weights, r0, q)
    _check_origin(origin)
    return _sphere_hessian(*(jnp.asarray(x) for x in (points, normals, weights, r0, q,
                                                      origin)))


@jax.jit
def _sphere_hessian(points, normals, weights, r0, q, origin):
    def leadfield(pos):
        return sphere_coil_leadfield(points, normals, weights, pos, origin)

    return _dipole_hessian(leadfield, r0, q)


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
    _check_dipoles(points, normals, weights, r0, q)
    _check_origin(origin)
    _check_noise(noise_std, np.shape(points)[0])
    return _gram(sphere_dipole_jacobian(points, normals, weights, r0, q, origin),
                 jnp.asarray(noise_std))


def _check_bem(coil_matrix, vertices, points):
    check_vector3("vertices", vertices)
    if np.ndim(vertices) != 2:
        raise ValueError(f"vertices must have shape (n_vert, 3), got {np.shape(vertices)}")
    check_finite("coil_matrix", coil_matrix)
    want = (np.shape(points)[0], np.shape(vertices)[0])
    if np.shape(coil_matrix) != want:
        raise ValueError(f"coil_matrix must have shape (n_chan, n_vert) = {want}, got "
                         f"{np.shape(coil_matrix)}")


def _bem_chunks(coil_matrix, vertices, points, normals, weights, r0, q, chunk_size, fun,
                kernel=None):
    """``fun(kernel(chunk))`` (default kernel: the Jacobian) over chunks of ``chunk_size``
    dipoles (the last one padded with copies of its first dipole and sliced off),
    concatenated along axis 0."""
    _check_dipoles(points, normals, weights, r0, q)
    _check_bem(coil_matrix, vertices, points)
    chunk_size = check_count("chunk_size", chunk_size, what="a positive integer")
    args = [jnp.asarray(x, dtype=jnp.float64) for x in (coil_matrix, vertices, points,
                                                        normals, weights)]
    r0 = np.asarray(r0, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    kernel = _bem_jacobian if kernel is None else kernel
    n = len(r0)
    outs = []
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        pad = chunk_size - (sl.stop - sl.start) if n > chunk_size else 0
        rc = np.concatenate([r0[sl], np.repeat(r0[sl][:1], pad, axis=0)])
        qc = np.concatenate([q[sl], np.repeat(q[sl][:1], pad, axis=0)])
        out = fun(kernel(*args, jnp.asarray(rc), jnp.asarray(qc)))
        outs.append(out[: sl.stop - sl.start])
    if not outs:
        return None
    return jnp.concatenate(outs, axis=0)


@jax.jit
def _bem_jacobian(coil_matrix, vertices, points, normals, weights, r0, q):
    def leadfield(pos):
        return _leadfield_chunk(pos, vertices, coil_matrix, points, normals, weights)

    basis = jnp.broadcast_to(jnp.eye(3, dtype=r0.dtype), (r0.shape[0], 3, 3))
    return _dipole_jacobian(leadfield, r0, q, basis)


@jax.jit
def _bem_hessian(coil_matrix, vertices, points, normals, weights, r0, q):
    def leadfield(pos):
        return _leadfield_chunk(pos, vertices, coil_matrix, points, normals, weights)

    return _dipole_hessian(leadfield, r0, q)


def bem_dipole_jacobian(coil_matrix, vertices, points, normals, weights, r0, q, *,
                        chunk_size=128):
    """Derivatives of every channel's reading with respect to ``(x, y, z, q_x, q_y, q_z)``
    in a boundary-element conductor.

    Exact forward-mode derivatives of the kernel of
    :func:`forward_models.bem.bem_leadfield` (primary field plus the volume-current
    term through the BEM solution) with respect to the dipole position; the moment
    columns are the lead field itself.

    Parameters
    ----------
    coil_matrix : array_like, shape (n_channels, n_vert)
        :func:`forward_models.bem.bem_coil_matrix` for these coils.
    vertices : array_like, shape (n_vert, 3)
        BEM vertices, m, in the frame of the coils and dipoles.
    points, normals, weights : array_like
        Coil integration points (n_channels, P, 3), m; unit normals; weights
        (n_channels, P); zero-padded.
    r0 : array_like, shape (n_dipoles, 3)
        Dipole positions, m, inside the innermost surface.
    q : array_like, shape (n_dipoles, 3)
        Dipole moments, A m.
    chunk_size : int
        Dipoles per compiled chunk (memory grows linearly with it: about
        ``4 * chunk_size * (3 n_vert + n_channels P)`` doubles).

    Returns
    -------
    jax.Array, shape (n_dipoles, n_channels, 6)
        T/m for the position columns, T/(A m) for the moment columns (per metre more for
        planar gradiometers whose weights are in 1/m).
    """
    out = _bem_chunks(coil_matrix, vertices, points, normals, weights, r0, q, chunk_size,
                      lambda jac: jac)
    return jnp.zeros((0, np.shape(points)[0], 6)) if out is None else out


def bem_dipole_fisher(coil_matrix, vertices, points, normals, weights, r0, q, noise_std,
                      *, chunk_size=128):
    """Fisher information of ``(x, y, z, q_x, q_y, q_z)`` in a boundary-element conductor,
    for white, independent channel noise.

    Parameters
    ----------
    coil_matrix, vertices, points, normals, weights, r0, q, chunk_size
        As for :func:`bem_dipole_jacobian`.
    noise_std : array_like, shape (n_channels,)
        Noise standard deviation of each channel in the fitted data (T, or T/m for
        planar gradiometers).

    Returns
    -------
    jax.Array, shape (n_dipoles, 6, 6)
        Units of 1/parameter^2.
    """
    _check_noise(noise_std, np.shape(points)[0])
    std = jnp.asarray(noise_std, dtype=jnp.float64)
    out = _bem_chunks(coil_matrix, vertices, points, normals, weights, r0, q, chunk_size,
                      lambda jac: _gram(jac, std))
    return jnp.zeros((0, 6, 6)) if out is None else out


def bem_dipole_hessian(coil_matrix, vertices, points, normals, weights, r0, q, *,
                       chunk_size=128):
    """Second derivatives of every channel's reading with respect to the dipole position
    in a boundary-element conductor, the moment held fixed.

    Parameters
    ----------
    coil_matrix, vertices, points, normals, weights, r0, q, chunk_size
        As for :func:`bem_dipole_jacobian`.

    Returns
    -------
    jax.Array, shape (n_dipoles, n_channels, 3, 3)
        T/m^2 (per metre more for planar gradiometers); symmetric in the last two axes.
    """
    out = _bem_chunks(coil_matrix, vertices, points, normals, weights, r0, q, chunk_size,
                      lambda h: h, kernel=_bem_hessian)
    return jnp.zeros((0, np.shape(points)[0], 3, 3)) if out is None else out


def position_covariance_bound(fisher, *, weak_moment_ratio=0.0):
    """The position block of the inverse Fisher information (the Cramer-Rao bound).

    The moment is a nuisance parameter estimated jointly, so this is the 3 x 3 block of
    the full inverse (the Schur complement), not the inverse of the position block.

    Parameters
    ----------
    fisher : array_like, shape (..., p, p)
        Position first (3 parameters), then the ``p - 3 >= 1`` moment parameters (5 x 5
        for the sphere, 6 x 6 for the BEM).
    weak_moment_ratio : float
        For three moment parameters (``p == 6``): when the weakest direction of the
        moment block (the smallest singular value of the whitened lead field, the square
        root of the block's smallest eigenvalue) is at most this fraction of the
        strongest, that direction is treated as known, not estimated. This is the rule of
        ``mne.fit_dipole`` (and MNE-C's xfit), which fits only the two strongest moment
        components when the third singular value is at most 0.2 of the first; a bound for
        such fits uses 0.2. 0 (default) estimates every component. Ignored for ``p != 6``
        (in a sphere the silent radial component is already left out).

    Returns
    -------
    jax.Array, shape (..., 3, 3)
        m^2. ``inf`` where the information is singular.
    """
    check_finite("fisher", fisher)
    shape = np.shape(fisher)
    if len(shape) < 2 or shape[-1] != shape[-2] or shape[-1] < 4:
        raise ValueError(f"fisher must have shape (..., p, p) with p >= 4 (3 position "
                         f"parameters, then the moment's), got {shape}")
    check_range("weak_moment_ratio", weak_moment_ratio, 0.0, 1.0)
    if np.ndim(weak_moment_ratio) != 0:
        raise ValueError(f"weak_moment_ratio must be a number in [0, 1], got "
                         f"{weak_moment_ratio!r}")
    fisher = jnp.asarray(fisher)
    if shape[-1] == 6 and float(weak_moment_ratio) > 0:
        fisher = _drop_weak_moment(fisher, float(weak_moment_ratio))
    return _covariance_bound(fisher)


@jax.jit
def _drop_weak_moment(fisher, ratio):
    # rotate the moment parameters onto the eigenvectors of the moment block (ascending
    # eigenvalues); where the weakest is below ratio^2 of the strongest, decouple it
    # (zero row and column, unit diagonal): its parameter is then known, and the
    # position block of the inverse is that of the reduced problem
    evals, evecs = jnp.linalg.eigh(fisher[..., 3:, 3:])
    rot = jnp.zeros(fisher.shape, fisher.dtype)
    rot = rot.at[..., :3, :3].set(jnp.eye(3, dtype=fisher.dtype)).at[..., 3:, 3:].set(evecs)
    f = jnp.swapaxes(rot, -1, -2) @ fisher @ rot
    weak = evals[..., 0] <= ratio ** 2 * evals[..., 2]
    keep = jnp.ones(fisher.shape[:-1], bool).at[..., 3].set(~weak)
    f = jnp.where(keep[..., :, None] & keep[..., None, :], f, 0.0)
    unit = jnp.zeros(fisher.shape, fisher.dtype).at[..., 3, 3].set(1.0)
    return jnp.where(weak[..., None, None], f + unit, f)


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
