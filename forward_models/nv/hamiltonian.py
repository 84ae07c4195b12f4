"""NV ground-state spin physics: Hamiltonian, energy levels, ODMR resonances, hyperfine lines.

Also the NV frames (``NV_AXES``, ``NV_X``, ``NV_Y``) and the input checks that the other
NV modules share. Pure JAX kernels in SI units (hertz, tesla, kelvin); everything
broadcasts over leading axes and is jit-able; the resonance frequencies are
differentiable wherever the levels are not exactly degenerate.

Model
-----
Ground-state spin-1 Hamiltonian for one NV axis (z along the N-V bond), in frequency units
(Doherty et al. 2013, Phys. Rep. 528:1; Barry et al. 2020, Rev. Mod. Phys. 92:015004)::

    H/h = D Sz**2 + E (Sx**2 - Sy**2) + gamma_nv B.S

with the zero-field splitting D = 2.870 GHz at room temperature and
dD/dT = -74.2 kHz/K (Acosta et al. 2010, Phys. Rev. Lett. 104:070801), strain/electric
splitting E (0 to a few MHz in ensembles), and gamma_nv = g mu_B / h = 28.03 GHz/T
(g = 2.003). The four NV orientations lie along the diamond <111> directions
(1,1,1), (1,-1,-1), (-1,1,-1), (-1,-1,1) over sqrt(3) in the crystal frame. The two ODMR
transitions of one orientation are the differences between the eigenvalue whose
eigenvector is mostly ms = 0 and the two others.

The eigenproblem is solved in closed form, in real arithmetic (no complex matrices, no
iterative eigensolver): the characteristic polynomial of the Hermitian 3 x 3 Hamiltonian
is a real cubic whose coefficients are polynomials in (D, E, gamma B) in the NV frame;
its lowest root comes from the trigonometric (Viete) formula polished by one Newton
step, the other two from Vieta's relations in a form without cancellation where the
ms = +-1 pair nearly crosses, and the ms = 0 character of each level from the
eigenvector-eigenvalue identity (Denton, Parke, Tao & Zhang 2022, Bull. Amer. Math. Soc.
59:31). Details in ``_closed_form_levels``. Transition frequencies agree with
``numpy.linalg.eigh`` to ~1e-5 Hz from 1 nT to 100 mT, including weak fields where the
plain trigonometric formula loses ~10-100 Hz (and to ~0.01 Hz within a few Hz of a
strain-induced crossing of the ms = +-1 pair); a few tens of ns per Hamiltonian on a
CPU core.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    check_dtype,
    check_finite,
    check_option,
    check_range,
    check_vector3,
    is_concrete,
)
from forward_models.constants import D_ZFS, DD_DT, GAMMA_NV, HYPERFINE

__all__ = [
    "D_ZFS",
    "DD_DT",
    "GAMMA_NV",
    "HYPERFINE",
    "T_REF",
    "NV_AXES",
    "NV_X",
    "NV_Y",
    "zero_field_splitting",
    "nv_hamiltonian",
    "energy_levels",
    "resonance_frequencies",
    "hyperfine_lines",
]

# ---------------------------------------------------------------------------------------
# NV frames and the reference temperature (physical constants: forward_models.constants)
# ---------------------------------------------------------------------------------------

T_REF = 300.0
"""Temperature (K) at which the parameter D is taken to hold when ``temperature`` is
given. Assumption: Acosta et al. 2010 quote D = 2.870 GHz at room temperature; 300 K is
our choice of "room temperature"; override with ``t_ref``."""

_S3 = 1.0 / math.sqrt(3.0)
NV_AXES = np.array(
    [[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]
) * _S3
"""The four NV symmetry axes (unit vectors, crystal frame), shape (4, 3)."""


def _transverse_axes(axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed transverse frame per NV axis: x = crystal z projected out of the axis."""
    zc = np.array([0.0, 0.0, 1.0])
    x = zc[None, :] - (axes @ zc)[:, None] * axes
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(axes, x)
    return x, y


NV_X, NV_Y = _transverse_axes(NV_AXES)
"""Transverse axes of each NV frame (crystal frame), shape (4, 3) each: x_k is the
crystal [001] direction with its component along the NV axis removed, y_k = z_k x x_k.
The frame fixes the meaning of the strain term E (Sx**2 - Sy**2); for E = 0 nothing
depends on it."""

_SQRT1_2 = 1.0 / math.sqrt(2.0)


# ---------------------------------------------------------------------------------------
# input validation (public boundary); skipped for JAX tracers inside jit
# ---------------------------------------------------------------------------------------


_FINITE = "{name} must be finite; got a non-finite value ({bad})"


def _check_numeric(name: str, x):
    # "iuf": integers and floats (not bool, complex or timedelta64)
    check_dtype(name, x, "iuf", "{name} must be a real number or array, got {value!r} "
                "(dtype {dtype})")


def _check_finite(name: str, x):
    _check_numeric(name, x)
    check_finite(name, x, _FINITE)


def _check_range(name: str, x, lo=None, hi=None, lo_open=False, what=""):
    _check_numeric(name, x)
    check_range(name, x, lo, hi, lo_open=lo_open, unit=what, finite=_FINITE)


def _check_field(B, name="B"):
    _check_numeric(name, B)
    check_vector3(name, B, "{name} must have shape (..., 3) in tesla; got shape {shape}",
                  finite=_FINITE)


def _check_gamma(gamma):
    _check_range("gamma", gamma, lo=0.0, lo_open=True, what=" Hz/T")


def _check_splittings(D, E, gamma):
    """The Hamiltonian's constants: D and E finite (D > 0 is checked after the
    temperature shift), gamma finite and > 0."""
    _check_finite("D", D)
    _check_finite("E", E)
    _check_gamma(gamma)


def _check_rotation(rotation):
    if rotation is None or not is_concrete(rotation):
        return
    _check_finite("rotation", rotation)
    R = np.asarray(rotation, dtype=float)
    if R.shape != (3, 3):
        raise ValueError(f"rotation must be a (3, 3) rotation matrix; got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError("rotation must be finite")
    if not np.allclose(R.T @ R, np.eye(3), atol=1e-9) or np.linalg.det(R) < 0:
        raise ValueError("rotation must be a proper orthogonal matrix (R.T @ R = I, det = +1)")


def zero_field_splitting(D=D_ZFS, temperature=None, dDdT=DD_DT, t_ref=T_REF):
    """Zero-field splitting at a temperature, linear in T (Acosta et al. 2010).

    Parameters
    ----------
    D : float or array
        Splitting at ``t_ref`` in Hz (default 2.870e9).
    temperature : float, array or None
        Temperature in K; ``None`` returns ``D`` unchanged.
    dDdT : float
        Slope in Hz/K (default -74.2e3, Acosta et al. 2010, valid near room temperature).
    t_ref : float
        Reference temperature in K (default 300 K, an assumption).

    Returns
    -------
    D(T) in Hz, broadcast shape of the inputs.
    """
    _check_finite("D", D)
    if temperature is None:
        return jnp.asarray(D, dtype=float)
    _check_range("temperature", temperature, lo=0.0, lo_open=True, what=" K")
    _check_finite("dDdT", dDdT)
    _check_range("t_ref", t_ref, lo=0.0, lo_open=True, what=" K")
    return jnp.asarray(D, dtype=float) + dDdT * (jnp.asarray(temperature, float) - t_ref)


# ---------------------------------------------------------------------------------------
# Hamiltonian and its exact closed-form eigen-decomposition
# ---------------------------------------------------------------------------------------


def _nv_frame_components(B, gamma, rotation):
    """gamma*B along (z_k, x_k, y_k) of each orientation: three arrays of shape (..., 4)."""
    B = jnp.asarray(B, dtype=float)
    if rotation is not None:
        # crystal axes placed in the lab by R: n_lab = R n_crystal, so B.n_lab = (R^T B).n
        B = B @ jnp.asarray(rotation, dtype=float)
    bz = gamma * (B @ NV_AXES.T)
    bx = gamma * (B @ NV_X.T)
    by = gamma * (B @ NV_Y.T)
    return bz, bx, by


def nv_hamiltonian(B, D=D_ZFS, E=0.0, temperature=None, gamma=GAMMA_NV, rotation=None):
    """Ground-state NV Hamiltonian H/h for the four orientations, in Hz.

    Basis ordering |ms=+1>, |ms=0>, |ms=-1> along each NV axis; spin-1 operators in the
    standard representation. H/h = D Sz**2 + E (Sx**2 - Sy**2) + gamma B.S.

    Parameters
    ----------
    B : array (..., 3)
        Magnetic field in tesla, lab frame.
    D : float or array broadcastable to (..., 4)
        Zero-field splitting at ``T_REF`` in Hz.
    E : float or array broadcastable to (..., 4)
        Transverse (strain / electric) splitting in Hz.
    temperature : float, array or None
        Temperature in K, shifts D by dD/dT (T - 300 K).
    gamma : float
        Gyromagnetic ratio in Hz/T (default 28.03e9).
    rotation : array (3, 3) or None
        Rotation placing the crystal in the lab frame (crystal axes n -> R n).

    Returns
    -------
    complex array (..., 4, 3, 3) in Hz.
    """
    _check_field(B)
    _check_rotation(rotation)
    _check_splittings(D, E, gamma)
    Dt = zero_field_splitting(D, temperature)
    bz, bx, by = _nv_frame_components(B, gamma, rotation)
    E = jnp.broadcast_to(jnp.asarray(E, dtype=float), bz.shape).astype(complex)
    Dt = jnp.broadcast_to(Dt, bz.shape)
    h01 = (bx - 1j * by) * _SQRT1_2
    zero = jnp.zeros_like(h01)
    row0 = jnp.stack([Dt + bz + 0j, h01, E], axis=-1)
    row1 = jnp.stack([jnp.conj(h01), zero, h01], axis=-1)
    row2 = jnp.stack([jnp.conj(E), jnp.conj(h01), Dt - bz + 0j], axis=-1)
    return jnp.stack([row0, row1, row2], axis=-2)


def _frame_matrix(gamma, rotation):
    """gamma * (z_k, x_k, y_k) of the four NV frames in the lab, shape (3 components, 4, 3).

    With the crystal placed in the lab by R (n_lab = R n_crystal), B.n_lab = (R^T B).n.
    """
    frames = np.stack([NV_AXES, NV_X, NV_Y])  # (3, 4, 3), crystal frame
    if rotation is None:
        return gamma * jnp.asarray(frames)
    return gamma * jnp.einsum("ckj,ij->cki", frames, jnp.asarray(rotation, dtype=float))


def _frame_components_elementwise(B, M):
    """(gamma B.z_k, gamma B.x_k, gamma B.y_k), each (..., 4), as fused multiply-adds.

    Written out component by component (not as a matrix product) so that XLA fuses it
    with the closed-form eigen-solution that follows: no (..., 4) intermediates in memory.
    """
    b0, b1, b2 = B[..., 0, None], B[..., 1, None], B[..., 2, None]
    return tuple(b0 * M[c, :, 0] + b1 * M[c, :, 1] + b2 * M[c, :, 2] for c in range(3))


def _closed_form_levels(bz, bx, by, D, E):
    """Exact eigenvalues and ODMR transitions of the NV Hamiltonian, real arithmetic.

    For one orientation, H/h of :func:`nv_hamiltonian` has the characteristic
    polynomial (derived for this project by expanding det(lambda - H) with
    H[0,1] = H[1,2] = (bx - i by)/sqrt 2, H[0,2] = E)::

        p(lambda) = lambda**3 - 2 D lambda**2 + (D**2 - K) lambda + D b_perp**2 - E c2,
        K = bz**2 + b_perp**2 + E**2,  b_perp**2 = bx**2 + by**2,  c2 = bx**2 - by**2,

    all real. Steps (no complex numbers, no iteration, a few tens of flops):

    1. The lowest level lambda_1 from the trigonometric (Viete) solution of the cubic
       (e.g. Press et al. 2007, *Numerical Recipes*, 3rd ed., section 5.6), polished by
       one Newton step on p. It is <= 0 (H[1,1] = 0 bounds it by Rayleigh's
       principle), and after the Newton step carries a relative error of order 1e-16
       even at 1 nT, where it is ~ -1e-7 Hz.
    2. The other two levels from Vieta's relations in mu = lambda - D (the three roots
       of mu**3 + D mu**2 - K mu - Q, Q = D (bz**2 + E**2) + E c2, sum to -D and
       multiply to Q): their centre s = D - lambda_1 / 2 and their gap g with

           g**2 = lambda_1**2 + 4 Q / (D - lambda_1),

       a sum with no catastrophic cancellation where the pair nearly crosses (weak
       fields: g -> 2 sqrt(bz**2 + E**2)), unlike the textbook trigonometric formula
       (whose error there is ~ sqrt(eps) D ~ 10-100 Hz).
    3. The ms = 0 weight of each level, |<0|v>|**2 = ((lambda - D)**2 - bz**2 - E**2)
       / p'(lambda) (the eigenvector-eigenvalue identity: |v_j|**2 p'(lambda) =
       det(lambda - M_j) for the minor M_j without row and column j; Denton, Parke,
       Tao & Zhang 2022, Bull. Amer. Math. Soc. 59:31). The level with the largest
       weight is the ms = 0-like one (the lowest, for every field below the
       ground-state level anti-crossing, unless the field strongly mixes the states);
       the transitions are the differences from it to the two others.

    Parameters
    ----------
    bz, bx, by : arrays (...)
        gamma B along the NV axis and the two transverse frame axes, Hz.
    D, E : arrays broadcastable to bz
        Zero-field and strain splitting, Hz (D > 0).

    Returns
    -------
    (f_lo, f_hi, levels): transitions (...) in Hz with f_lo <= f_hi, and the three
    levels (lowest, lower pair member, upper pair member), each (...), Hz.
    """
    bz2, bx2, by2 = bz * bz, bx * bx, by * by
    E2 = E * E
    bp2 = bx2 + by2
    c2 = bx2 - by2
    K = bz2 + bp2 + E2
    Q = D * (bz2 + E2) + E * c2
    # 1. trigonometric lowest root (in mu = lambda - D: mu**3 + D mu**2 - K mu - Q = 0)
    P = (D * D + 3.0 * K) * (1.0 / 9.0)
    sP = jnp.sqrt(P)
    R = (2.0 * D * D * D + 9.0 * D * K - 27.0 * Q) * (1.0 / 54.0)
    r = jnp.clip(R / (P * sP), -1.0, 1.0)
    lam = (2.0 / 3.0) * D - 2.0 * sP * jnp.cos(jnp.arccos(r) * (1.0 / 3.0))
    # the derivative comes from the Newton step (implicit function theorem at the root)
    lam = jax.lax.stop_gradient(lam)
    c1 = D * D - K
    c0 = D * bp2 - E * c2
    lam = lam - (((lam - 2.0 * D) * lam + c1) * lam + c0) / ((3.0 * lam - 4.0 * D) * lam + c1)
    # 2. the remaining pair, without cancellation
    g = jnp.sqrt(jnp.maximum(lam * lam + 4.0 * Q / (D - lam), 0.0) + 1e-300)
    s = D - 0.5 * lam
    l_up = s + 0.5 * g
    l_dn = s - 0.5 * g

    # 3. which level is ms = 0-like
    def w0(lv):
        mu = lv - D
        return (mu * mu - bz2 - E2) / ((3.0 * mu + 2.0 * D) * mu - K)

    w_lo, w_up, w_dn = w0(lam), w0(l_up), w0(l_dn)
    # w_lo >= 1/2 settles it (weights sum to 1) and also covers the nearly degenerate
    # pair, whose individual weights are ill-conditioned there
    from_lowest = (w_lo >= 0.5) | ((w_lo >= w_up) & (w_lo >= w_dn))
    from_up = w_up >= w_dn
    a = l_dn - lam
    b = l_up - lam
    f_lo = jnp.where(from_lowest, a, jnp.where(from_up, jnp.minimum(g, b), jnp.minimum(a, g)))
    f_hi = jnp.where(from_lowest, b, jnp.where(from_up, jnp.maximum(g, b), jnp.maximum(a, g)))
    return f_lo, f_hi, (lam, l_dn, l_up)


def _solve(B, Dt, E, gamma, R):
    """:func:`_closed_form_levels` of the four orientations from the lab field (traceable)."""
    bz, bx, by = _frame_components_elementwise(B, _frame_matrix(gamma, R))
    Dt = jnp.broadcast_to(Dt, bz.shape)
    E = jnp.broadcast_to(E, bz.shape)
    return _closed_form_levels(bz, bx, by, Dt, E)


def _transitions(B, Dt, E, gamma, R):
    """(f_lo, f_hi), each (..., 4) Hz, from the lab field (traceable core)."""
    f_lo, f_hi, _ = _solve(B, Dt, E, gamma, R)
    return f_lo, f_hi


def _check_d(Dt):
    if is_concrete(Dt) and np.any(np.asarray(Dt) <= 0):
        v = np.asarray(Dt)[np.asarray(Dt) <= 0].ravel()[0]
        raise ValueError(f"D (at the given temperature) must be > 0 Hz; got {v}")


def _checked_inputs(B, D, temperature, rotation, E=0.0, gamma=GAMMA_NV):
    """Validated field, temperature-shifted D and rotation matrix for the jitted cores
    (E and gamma are checked too)."""
    _check_field(B)
    _check_rotation(rotation)
    _check_splittings(D, E, gamma)
    Dt = zero_field_splitting(D, temperature)
    _check_d(Dt)
    R = jnp.eye(3) if rotation is None else jnp.asarray(rotation, float)
    return jnp.asarray(B, float), Dt, R


def energy_levels(B, D=D_ZFS, E=0.0, temperature=None, gamma=GAMMA_NV, rotation=None):
    """Eigenvalues of the NV ground-state Hamiltonian, sorted ascending, in Hz.

    Closed form (see :func:`resonance_frequencies`); parameters are those of
    :func:`nv_hamiltonian`.

    Returns
    -------
    array (..., 4, 3) in Hz.
    """
    B, Dt, R = _checked_inputs(B, D, temperature, rotation, E, gamma)
    return _levels_jit(B, Dt, jnp.asarray(E, float), gamma, R)


@jax.jit
def _levels_jit(B, Dt, E, gamma, R):
    _, _, levels = _solve(B, Dt, E, gamma, R)
    return jnp.sort(jnp.stack(levels, axis=-1), axis=-1)


def resonance_frequencies(B, D=D_ZFS, E=0.0, temperature=None, gamma=GAMMA_NV, rotation=None):
    """ODMR transition frequencies of the four NV orientations, exact for any field.

    The transitions are the differences between the level whose eigenvector has the
    largest ms = 0 weight and the two other levels (for B along the axis and E = 0:
    D -+ gamma B). Closed-form diagonalisation in real arithmetic (characteristic cubic,
    Vieta deflation, eigenvector-eigenvalue identity; see ``_closed_form_levels`` and
    the module docstring); agrees with ``numpy.linalg.eigh`` of :func:`nv_hamiltonian`
    to ~1e-5 Hz from 1 nT to 100 mT in any direction (tests/forward_models/test_nv.py).

    Parameters
    ----------
    B : array (..., 3)
        Magnetic field in tesla, lab frame. Must be finite.
    D : float or array broadcastable to (..., 4)
        Zero-field splitting in Hz (default 2.870e9, at T_REF = 300 K); > 0.
    E : float or array broadcastable to (..., 4)
        Strain / electric splitting in Hz (default 0).
    temperature : float, array or None
        Temperature in K; shifts D by -74.2 kHz/K (Acosta et al. 2010) from 300 K.
    gamma : float
        Gyromagnetic ratio, Hz/T.
    rotation : array (3, 3) or None
        Proper rotation placing the crystal in the lab frame (default: crystal = lab).

    Returns
    -------
    array (..., 4, 2) in Hz, ascending along the last axis.
    """
    B, Dt, R = _checked_inputs(B, D, temperature, rotation, E, gamma)
    return _resonances_jit(B, Dt, jnp.asarray(E, float), gamma, R)


@jax.jit
def _resonances_jit(B, Dt, E, gamma, R):
    return jnp.stack(_transitions(B, Dt, E, gamma, R), axis=-1)


def hyperfine_lines(resonances, isotope="14N"):
    """Split each electron-spin resonance into its nitrogen hyperfine lines.

    Secular approximation (hyperfine small against the electron Zeeman/zero-field
    splitting): an ms = 0 -> ms = +-1 transition conserving m_I is shifted by
    +- A_par m_I; since m_I runs symmetrically the line set is f + |A_par| m_I.
    Constants from Felton et al. 2009 (Phys. Rev. B 79:075203).

    Parameters
    ----------
    resonances : array (..., 4, 2)
        Electron-spin resonance frequencies in Hz.
    isotope : {"14N", "15N", None}
        Nitrogen isotope; ``None`` returns a single line per transition.

    Returns
    -------
    lines : array (..., 4, 2, n_lines) in Hz (n_lines = 3 for 14N, 2 for 15N, 1 for None).
    weights : array (n_lines,)
        Relative amplitude of each line (equal nuclear populations at room temperature),
        summing to 1.
    """
    _check_finite("resonances", resonances)
    if isotope is None:
        return jnp.asarray(resonances)[..., None], jnp.ones(1)
    shifts, w = _hyperfine_shifts(isotope)
    return jnp.asarray(resonances)[..., None] + shifts, jnp.asarray(w)


def _hyperfine_shifts(isotope):
    """Offsets |A_par| m_I (Hz) and equal weights of the hyperfine lines, numpy arrays;
    one unshifted line for ``isotope=None``."""
    if isotope is None:
        return np.zeros(1), np.ones(1)
    check_option("isotope", isotope, HYPERFINE,
                 f"isotope must be one of {sorted(HYPERFINE)} or None; got {{value!r}}")
    spin, a_par = HYPERFINE[isotope]
    m_i = np.arange(-spin, spin + 0.5, 1.0)
    return abs(a_par) * m_i, np.full(m_i.shape, 1.0 / m_i.size)
