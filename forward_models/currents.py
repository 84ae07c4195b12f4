"""Current sources at the scales NV sensors see: wires, loops, axons, the heart.

Pure JAX kernels in SI units (metres, amperes, ampere-metres, tesla, seconds), broadcasting
over leading axes. Point current dipoles in spheres and magnetic dipoles (particles) are
in :mod:`forward_models.conductors` (``sphere_dipole_field``, ``primary_dipole_field``,
``magnetic_dipole_field``) and are not repeated here.

Contents
--------
- :func:`line_segment_field`: finite straight current segment, closed-form Biot-Savart.
- :func:`polyline_field`: a chain of segments (closed circuits, wires).
- :func:`ellipk`, :func:`ellipe`: complete elliptic integrals by the arithmetic-geometric
  mean (jax.scipy has neither).
- :func:`current_loop_field`: circular loop, exact (elliptic integrals).
- :func:`axon_membrane_potential`, :func:`axon_axial_current`, :func:`axon_field`: an
  action potential travelling along a straight axon.
- :func:`halfspace_dipole_field`: current dipole in a semi-infinite homogeneous conductor
  (cardiac dipole under a flat torso surface), full vector field outside.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import (
    check_broadcast,
    check_count,
    check_finite,
    check_flag,
    check_positive,
    check_range,
    check_scalar,
    check_vector3,
    is_concrete,
    shaped,
)
from .constants import MU0
from .constants import MU0_OVER_4PI as _K

__all__ = [
    "line_segment_field",
    "polyline_field",
    "ellipk",
    "ellipe",
    "current_loop_field",
    "axon_membrane_potential",
    "axon_axial_current",
    "axon_field",
    "halfspace_dipole_field",
]


def _check_vec3(name, x):
    check_vector3(name, x, "{name} must have shape (..., 3) in metres; got {shape}")


def _check_positive(name, x, unit=""):
    check_finite(name, x)
    check_positive(name, x, f"{{name}} must be > 0{unit}; got {{min}}")


def _check_nonzero(name, x):
    """A direction: finite, shape (..., 3), not the zero vector."""
    check_vector3(name, x)
    if is_concrete(x) and np.any(np.linalg.norm(np.asarray(x, float), axis=-1) == 0):
        raise ValueError(f"{name} must be a non-zero vector")


def _check_scalar(name, x, unit):
    check_scalar(name, x, f"number ({unit})")


def _dot(a, b):
    return jnp.sum(a * b, axis=-1)


# ---------------------------------------------------------------------------------------
# straight segments
# ---------------------------------------------------------------------------------------


def line_segment_field(r, r1, r2, current):
    """Magnetic field of a finite straight current segment (closed-form Biot-Savart).

    With a = r1 - r, b = r2 - r (current flowing from r1 to r2)::

        B = mu0 I / (4 pi) (a x b) (|a| + |b|) / (|a| |b| (|a| |b| + a.b))

    (the integral of the Biot-Savart law along the segment; e.g. Hanson & Hirshman 2002,
    Phys. Plasmas 9:4410, written in the end-point vectors). Beside a long segment the
    denominator is evaluated as |a||b| |a x b|**2 / (|a||b| - a.b) to avoid cancellation.
    On the segment's line the field is zero (outside the segment) or undefined (on it);
    0 is returned.

    Parameters
    ----------
    r : array (..., 3)
        Field points, m.
    r1, r2 : array (..., 3)
        Segment start and end, m.
    current : float or array (...)
        Current from r1 to r2, A.

    Returns
    -------
    B : array (..., 3), tesla.
    """
    _check_vec3("r", r)
    _check_vec3("r1", r1)
    _check_vec3("r2", r2)
    check_finite("current", current)
    check_broadcast(("r[..., 0]", "r1[..., 0]", "r2[..., 0]", "current"), shaped(np.shape(r)[:-1]),
                    shaped(np.shape(r1)[:-1]), shaped(np.shape(r2)[:-1]), current)
    a = jnp.asarray(r1, float) - jnp.asarray(r, float)
    b = jnp.asarray(r2, float) - jnp.asarray(r, float)
    na = jnp.linalg.norm(a, axis=-1)
    nb = jnp.linalg.norm(b, axis=-1)
    axb = jnp.cross(a, b)
    ab = _dot(a, b)
    nanb = na * nb
    # |a||b| + a.b cancels when the point is beside a long segment (a, b nearly
    # antiparallel); there use the identity |a||b| + a.b = |a x b|**2 / (|a||b| - a.b)
    c2 = _dot(axb, axb)
    den = jnp.where(ab >= 0, nanb * (nanb + ab), nanb * c2 / jnp.where(ab >= 0, 1.0, nanb - ab))
    # den = 0 exactly on the segment's line (a x b = 0, a.b < 0) or at an end point
    ok = den > 0
    scale = jnp.where(ok, (na + nb) / jnp.where(ok, den, 1.0), 0.0)
    return _K * jnp.asarray(current, float)[..., None] * scale[..., None] * axb


def polyline_field(r, vertices, current, closed=False):
    """Field of a current flowing along a polyline (a wire or a closed circuit).

    Parameters
    ----------
    r : array (..., 3)
        Field points, m.
    vertices : array (V, 3)
        Vertices in the order the current flows, m.
    current : float
        Current, A.
    closed : bool
        Add the segment from the last vertex back to the first.

    Returns
    -------
    B : array (..., 3), tesla (sum of :func:`line_segment_field` over segments).
    """
    _check_vec3("r", r)
    _check_vec3("vertices", vertices)
    if np.ndim(vertices) != 2 or np.shape(vertices)[0] < 2:
        raise ValueError(f"vertices must have shape (V, 3) with V >= 2, got "
                         f"{np.shape(vertices)}")
    check_finite("current", current)
    _check_scalar("current", current, "A")
    closed = check_flag("closed", closed)
    v = jnp.asarray(vertices, float)
    if closed:
        v = jnp.concatenate([v, v[:1]], axis=0)
    r = jnp.asarray(r, float)[..., None, :]
    return jnp.sum(line_segment_field(r, v[:-1], v[1:], jnp.full(v.shape[0] - 1, current)),
                   axis=-2)


# ---------------------------------------------------------------------------------------
# elliptic integrals (AGM) and circular loops
# ---------------------------------------------------------------------------------------

_AGM_ITER = 14  # quadratic convergence: enough for float64 down to 1 - m ~ 1e-300


def _agm_ke(m):
    m = jnp.asarray(m, float)
    a = jnp.ones_like(m)
    b = jnp.sqrt(1.0 - m)
    c2sum = 0.5 * m  # 2**(n-1) c_n**2 at n = 0, with c_0**2 = m
    pw = 0.5
    for _ in range(_AGM_ITER):
        c = 0.5 * (a - b)
        a, b = 0.5 * (a + b), jnp.sqrt(a * b)
        pw = pw * 2.0
        c2sum = c2sum + pw * c * c
    K = math.pi / (2.0 * a)
    return K, K * (1.0 - c2sum)


def ellipk(m):
    """Complete elliptic integral of the first kind K(m), parameter m = k**2 in [0, 1).

    Arithmetic-geometric mean: K(m) = pi / (2 AGM(1, sqrt(1 - m)))
    (Abramowitz & Stegun 1964, 17.6.1). Same convention as ``scipy.special.ellipk``.
    """
    check_range("m", m, 0.0)
    if is_concrete(m) and np.any(np.asarray(m, float) >= 1.0):
        raise ValueError(f"m must be < 1 (K diverges at m = 1); got {m!r}")
    return _agm_ke(m)[0]


def ellipe(m):
    """Complete elliptic integral of the second kind E(m), parameter m = k**2 in [0, 1].

    AGM with E(m) = K(m) (1 - sum_n 2**(n-1) c_n**2), c_0**2 = m
    (Abramowitz & Stegun 1964, 17.6.3-17.6.4). Same convention as ``scipy.special.ellipe``.
    """
    check_range("m", m, 0.0, 1.0)
    m = jnp.asarray(m, float)
    K, E = _agm_ke(jnp.minimum(m, 1.0 - 1e-300))
    return jnp.where(m >= 1.0, 1.0, E)


def current_loop_field(r, center, normal, radius, current):
    """Exact field of a circular current loop (complete elliptic integrals).

    In the loop frame (axis z along ``normal``, current counter-clockwise about it),
    with rho, z the cylindrical coordinates of the field point, r**2 = rho**2 + z**2,
    alpha**2 = a**2 + r**2 - 2 a rho, beta**2 = a**2 + r**2 + 2 a rho,
    m = 1 - alpha**2 / beta**2 and C = mu0 I / pi (Simpson et al. 2001, NASA/TM-2013-217919
    "Simple analytic expressions for the magnetic field of a circular current loop";
    Jackson, *Classical Electrodynamics*, 3rd ed., Sec. 5.5)::

        B_rho = C z / (2 alpha**2 beta rho) ((a**2 + r**2) E(m) - alpha**2 K(m))
        B_z   = C / (2 alpha**2 beta) ((a**2 - r**2) E(m) + alpha**2 K(m))

    On the axis this reduces to mu0 I a**2 / (2 (a**2 + z**2)**1.5).

    Parameters
    ----------
    r : array (..., 3)
        Field points, m (not on the wire).
    center : array (3,) or (..., 3)
        Loop centre, m.
    normal : array (3,) or (..., 3)
        Loop axis (normalised internally); the current circulates right-handed about it.
    radius : float or array
        Loop radius a, m (> 0).
    current : float or array
        Current I, A.

    Returns
    -------
    B : array (..., 3), tesla.
    """
    _check_vec3("r", r)
    _check_vec3("center", center)
    _check_nonzero("normal", normal)
    _check_positive("radius", radius, " m")
    check_finite("current", current)
    n = jnp.asarray(normal, float)
    n = n / jnp.linalg.norm(n, axis=-1, keepdims=True)
    d = jnp.asarray(r, float) - jnp.asarray(center, float)
    z = _dot(d, n)
    radial = d - z[..., None] * n
    rho = jnp.linalg.norm(radial, axis=-1)
    a = jnp.asarray(radius, float)
    r2 = rho * rho + z * z
    alpha2 = a * a + r2 - 2.0 * a * rho
    beta2 = a * a + r2 + 2.0 * a * rho
    beta = jnp.sqrt(beta2)
    m = 1.0 - alpha2 / beta2
    K, E = _agm_ke(m)
    C = MU0 * jnp.asarray(current, float) / math.pi
    bz = C / (2.0 * alpha2 * beta) * ((a * a - r2) * E + alpha2 * K)
    # B_rho / rho is finite as rho -> 0; evaluate it safely near the axis
    rho_s = jnp.where(rho > 1e-12 * a, rho, 1.0)
    brho = C * z / (2.0 * alpha2 * beta * rho_s) * ((a * a + r2) * E - alpha2 * K)
    brho = jnp.where(rho > 1e-12 * a, brho, 0.0)
    e_rho = radial / jnp.where(rho > 1e-12 * a, rho, 1.0)[..., None]
    return brho[..., None] * e_rho + bz[..., None] * n


# ---------------------------------------------------------------------------------------
# axon action potential
# ---------------------------------------------------------------------------------------


def axon_membrane_potential(s, amplitude=0.1, length_constant=1e-3):
    """Spatial profile of a propagating action potential (transmembrane potential change).

    V(s) = A (s / lambda)**3 exp(-s / lambda) / V_peak for s >= 0 (0 ahead of the front),
    normalised so that its peak (at s = 3 lambda) is ``amplitude``. This is the
    analytic fit of Swinney & Wikswo 1980 (Biophys. J. 32:719, "A calculation of the
    magnetic field of a nerve action potential") to the frog sciatic axon action
    potential; s is the distance behind the wave front along the axon.

    Parameters
    ----------
    s : array
        Distance behind the front, m.
    amplitude : float
        Peak depolarisation, V (default 0.1 V, a typical action potential amplitude).
    length_constant : float
        lambda, m (default 1 mm: assumption, of the order of conduction velocity x rise
        time for a fast myelinated or large unmyelinated axon).

    Returns
    -------
    V : array, volts, shape of ``s``.
    """
    check_finite("s", s)
    check_finite("amplitude", amplitude)
    _check_positive("length_constant", length_constant, " m")
    x = jnp.maximum(jnp.asarray(s, float), 0.0) / length_constant
    peak = 27.0 * math.exp(-3.0)
    return amplitude * x**3 * jnp.exp(-x) / peak


def axon_axial_current(s, radius=10e-6, resistivity=1.0, amplitude=0.1, length_constant=1e-3):
    """Intracellular axial current of a travelling action potential, A.

    Core-conductor (cable) relation I_i = -(pi a**2 / rho_i) dV_m/dz
    (Plonsey & Barr, *Bioelectricity: A Quantitative Approach*, ch. 6; Swinney &
    Wikswo 1980). With the front moving towards +z and s the distance behind it
    (s = z_front - z), dV/dz = -dV/ds, so I_i = (pi a**2 / rho_i) dV/ds: positive
    (forward) current in the rising phase, negative in repolarisation; the net charge
    moved, the integral of I_i ds, is zero, so the source is a current quadrupole at
    large distance (Hamalainen et al. 1993, Rev. Mod. Phys. 65:413, Sec. II.C).

    Parameters
    ----------
    s : array
        Distance behind the front, m.
    radius : float
        Axon radius a, m (default 10 um: assumption, a large axon).
    resistivity : float
        Axoplasm resistivity rho_i, ohm m (default 1.0: assumption, typical axoplasm
        0.5-2 ohm m).
    amplitude, length_constant : float
        As in :func:`axon_membrane_potential`.

    Returns
    -------
    I_i : array, A, shape of ``s``.
    """
    _check_positive("radius", radius, " m")
    _check_positive("resistivity", resistivity, " ohm m")
    dvds = jax.vmap(jax.grad(lambda x: axon_membrane_potential(x, amplitude, length_constant)))(
        jnp.ravel(jnp.asarray(s, float)))
    return (math.pi * radius**2 / resistivity) * dvds.reshape(jnp.shape(s))


def axon_field(r, t, start, direction, velocity=20.0, radius=10e-6, resistivity=1.0,
               amplitude=0.1, length_constant=1e-3, n_elements=400, extent=None):
    """Magnetic field of an action potential travelling along a straight axon.

    The intracellular axial current (:func:`axon_axial_current`) is a line of current
    dipoles (primary current I_i ds along the axon). In an unbounded homogeneous volume
    conductor the volume (return) currents add no magnetic field (Hamalainen et al.
    1993, Rev. Mod. Phys. 65:413, Sec. III.A), so B is the Biot-Savart field of the
    primary current::

        B(r) = mu0/(4 pi) sum_k I_i(s_k) ds e x (r - r_k) / |r - r_k|**3.

    The front starts at ``start`` at t = 0 and moves with ``velocity`` along
    ``direction``; the line is sampled with ``n_elements`` points over ``extent``
    behind the front (default 20 length constants, which holds all but 1e-5 of the
    current). Accuracy: the midpoint sum converges as (ds / distance)**2; keep
    ds = extent / n_elements well below the field-point distance.

    Parameters
    ----------
    r : array (..., 3)
        Field points, m.
    t : float
        Time, s.
    start : array (3,)
        Front position at t = 0, m.
    direction : array (3,)
        Propagation direction (normalised internally).
    velocity : float
        Conduction velocity, m/s (default 20 m/s: assumption, mid-range myelinated).
    radius, resistivity, amplitude, length_constant
        As in :func:`axon_axial_current`.
    n_elements : int
        Number of current elements.
    extent : float or None
        Length of axon behind the front that carries current, m.

    Returns
    -------
    B : array (..., 3), tesla.
    """
    _check_vec3("r", r)
    _check_vec3("start", start)
    _check_nonzero("direction", direction)
    for name, x in (("start", start), ("direction", direction)):
        if np.shape(x) != (3,):
            raise ValueError(f"{name} must have shape (3,), got {np.shape(x)}")
    _check_positive("velocity", velocity, " m/s")
    check_finite("t", t)
    for name, x, unit in (("t", t, "s"), ("velocity", velocity, "m/s"),
                          ("length_constant", length_constant, "m")):
        _check_scalar(name, x, unit)
    n_elements = check_count("n_elements", n_elements, what="a number of current elements")
    if extent is not None:
        _check_positive("extent", extent, " m")
        _check_scalar("extent", extent, "m")
    e = jnp.asarray(direction, float)
    e = e / jnp.linalg.norm(e)
    ext = 20.0 * length_constant if extent is None else extent
    ds = ext / n_elements
    s = (jnp.arange(n_elements) + 0.5) * ds
    front = jnp.asarray(start, float) + velocity * t * e
    pos = front - s[:, None] * e
    cur = axon_axial_current(s, radius, resistivity, amplitude, length_constant)
    q = (cur * ds)[:, None] * e
    d = jnp.asarray(r, float)[..., None, :] - pos
    dn = jnp.linalg.norm(d, axis=-1)
    return _K * jnp.sum(jnp.cross(q, d) / (dn**3)[..., None], axis=-2)


# ---------------------------------------------------------------------------------------
# current dipole in a half-space conductor (magnetocardiography)
# ---------------------------------------------------------------------------------------


def _halfspace_potential(r, r0, q, origin, normal):
    d = r - r0
    dz = _dot(d, normal)
    R = jnp.linalg.norm(d, axis=-1)
    # (q x d).n : the normal component of q x d
    qxd_n = _dot(jnp.cross(q, d), normal)
    return qxd_n / (4.0 * math.pi * R * (R + dz))


def halfspace_dipole_field(r, r0, q, origin=(0.0, 0.0, 0.0), normal=(0.0, 0.0, 1.0)):
    """Field outside a semi-infinite homogeneous conductor holding a current dipole.

    The conductor fills the half-space (x - origin).normal < 0 (the torso under a flat
    chest surface); field points lie outside, dipoles inside. The normal component of
    B equals that of the primary (infinite-medium) field, the volume currents adding
    none (Cohen & Hosaka 1976, J. Electrocardiol. 9:409; Cuffin & Cohen 1977, IEEE
    Trans. Biomed. Eng. 24:372). Outside the conductor B = -mu0 grad U, and integrating
    B_n from the field point to infinity along the normal gives the magnetic scalar
    potential in closed form (d = r - r0, R = |d|, d_n = d.normal)::

        U(r) = (q x d).normal / (4 pi R (R + d_n)),

    so the full vector field is B = -mu0 grad U (evaluated here by automatic
    differentiation of this closed form). This is the large-radius limit of Sarvas'
    (1987) sphere formula; a dipole normal to the surface gives zero field outside.

    Parameters
    ----------
    r : array (..., 3)
        Field points, m, outside the conductor.
    r0 : array (..., 3)
        Dipole positions, m, inside the conductor.
    q : array (..., 3)
        Current dipole moments, A m.
    origin : array (3,)
        A point on the conductor surface, m.
    normal : array (3,)
        Outward unit normal of the surface (normalised internally).

    Returns
    -------
    B : array (..., 3), tesla.
    """
    _check_vec3("r", r)
    _check_vec3("r0", r0)
    _check_vec3("q", q)
    _check_nonzero("normal", normal)
    _check_vec3("origin", origin)
    for name, x in (("origin", origin), ("normal", normal)):
        if np.shape(x) != (3,):
            raise ValueError(f"{name} must have shape (3,), got {np.shape(x)}")
    check_broadcast(("r", "r0", "q"), r, r0, q)
    n = jnp.asarray(normal, float)
    n = n / jnp.linalg.norm(n)
    o = jnp.asarray(origin, float)
    if is_concrete(r) and is_concrete(r0):
        hr = (np.asarray(r, float) - np.asarray(o)) @ np.asarray(n)
        h0 = (np.asarray(r0, float) - np.asarray(o)) @ np.asarray(n)
        if np.any(hr < 0):
            raise ValueError("r must lie outside the conductor ((r - origin).normal >= 0); "
                             f"got a point {float(-hr.min()):g} m inside")
        if np.any(h0 >= 0):
            raise ValueError("r0 must lie inside the conductor ((r0 - origin).normal < 0); "
                             f"got a dipole {float(h0.max()):g} m outside")
    r, r0, q = jnp.broadcast_arrays(jnp.asarray(r, float), jnp.asarray(r0, float),
                                    jnp.asarray(q, float))
    shape = r.shape
    grad = jax.vmap(jax.grad(_halfspace_potential), in_axes=(0, 0, 0, None, None))
    g = grad(r.reshape(-1, 3), r0.reshape(-1, 3), q.reshape(-1, 3), o, n)
    return -MU0 * g.reshape(shape)
