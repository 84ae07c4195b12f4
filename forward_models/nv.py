"""Nitrogen-vacancy (NV) centres in diamond: ground-state spin physics, CW-ODMR and sensitivity.

Pure JAX kernels in SI units (hertz, tesla, kelvin, seconds). Everything broadcasts over
leading axes and is jit-able; the resonance frequencies are differentiable wherever the
levels are not exactly degenerate.

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
CPU core. CW-ODMR spectra are one fused kernel (resonances and the Lorentzian sum,
frequency axis innermost).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from forward_models._checks import (
    check_dtype,
    check_finite,
    check_range,
    check_vector3,
    is_concrete,
)
from forward_models.constants import D_ZFS, DD_DT, GAMMA_NV, HYPERFINE

# ---------------------------------------------------------------------------------------
# constants (the physical ones are in forward_models.constants)
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
    # "iufcm" are the kinds of np.number (integers, timedelta64, floats, complex)
    check_dtype(name, x, "iufcm", "{name} must be numeric, got dtype {dtype}")


def _check_finite(name: str, x):
    _check_numeric(name, x)
    check_finite(name, x, _FINITE)


def _check_range(name: str, x, lo=None, hi=None, lo_open=False, what=""):
    _check_numeric(name, x)
    check_range(name, x, lo, hi, lo_open=lo_open, unit=what, finite=_FINITE)


def _check_field(B):
    _check_numeric("B", B)
    check_vector3("B", B, "B must have shape (..., 3) in tesla; got shape {shape}",
                  finite=_FINITE)


def _check_rotation(rotation):
    if rotation is None or not is_concrete(rotation):
        return
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
    if temperature is None:
        return jnp.asarray(D, dtype=float)
    _check_range("temperature", temperature, lo=0.0, lo_open=True, what=" K")
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


def _transitions(B, Dt, E, gamma, R):
    """(f_lo, f_hi), each (..., 4) Hz, from the lab field (traceable core)."""
    bz, bx, by = _frame_components_elementwise(B, _frame_matrix(gamma, R))
    Dt = jnp.broadcast_to(Dt, bz.shape)
    E = jnp.broadcast_to(E, bz.shape)
    f_lo, f_hi, _ = _closed_form_levels(bz, bx, by, Dt, E)
    return f_lo, f_hi


def _check_d(Dt):
    if is_concrete(Dt) and np.any(np.asarray(Dt) <= 0):
        v = np.asarray(Dt)[np.asarray(Dt) <= 0].ravel()[0]
        raise ValueError(f"D (at the given temperature) must be > 0 Hz; got {v}")


def _checked_inputs(B, D, temperature, rotation):
    """Validated field, temperature-shifted D and rotation matrix for the jitted cores."""
    _check_field(B)
    _check_rotation(rotation)
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
    B, Dt, R = _checked_inputs(B, D, temperature, rotation)
    return _levels_jit(B, Dt, jnp.asarray(E, float), gamma, R)


@jax.jit
def _levels_jit(B, Dt, E, gamma, R):
    bz, bx, by = _frame_components_elementwise(B, _frame_matrix(gamma, R))
    Dt = jnp.broadcast_to(Dt, bz.shape)
    E = jnp.broadcast_to(E, bz.shape)
    _, _, levels = _closed_form_levels(bz, bx, by, Dt, E)
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
    B, Dt, R = _checked_inputs(B, D, temperature, rotation)
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
    if isotope is None:
        return jnp.asarray(resonances)[..., None], jnp.ones(1)
    if isotope not in HYPERFINE:
        raise ValueError(
            f"isotope must be one of {sorted(HYPERFINE)} or None; got {isotope!r}")
    spin, a_par = HYPERFINE[isotope]
    m_i = np.arange(-spin, spin + 0.5, 1.0)
    shifts = abs(a_par) * m_i
    w = np.full(m_i.shape, 1.0 / m_i.size)
    return jnp.asarray(resonances)[..., None] + shifts, jnp.asarray(w)


# ---------------------------------------------------------------------------------------
# CW-ODMR spectra
# ---------------------------------------------------------------------------------------


def power_broadening(linewidth0, contrast_max, saturation):
    """Microwave power broadening of a CW-ODMR line.

    Two-level saturation (Abragam 1961, *Principles of Nuclear Magnetism*, ch. III; applied
    to NV CW-ODMR by Dreau et al. 2011, Phys. Rev. B 84:195204): with the saturation
    parameter s = Omega_R**2 T1 T2 (proportional to microwave power),

        linewidth = linewidth0 * sqrt(1 + s),   contrast = contrast_max * s / (1 + s).

    Parameters
    ----------
    linewidth0 : float or array
        Unbroadened full width at half maximum, Hz (> 0).
    contrast_max : float or array
        Contrast at full saturation, in [0, 1].
    saturation : float or array
        Saturation parameter s >= 0 (dimensionless).

    Returns
    -------
    (linewidth in Hz, contrast), broadcast shapes.
    """
    _check_range("linewidth0", linewidth0, lo=0.0, lo_open=True, what=" Hz")
    _check_range("contrast_max", contrast_max, lo=0.0, hi=1.0)
    _check_range("saturation", saturation, lo=0.0)
    s = jnp.asarray(saturation, dtype=float)
    return linewidth0 * jnp.sqrt(1.0 + s), contrast_max * s / (1.0 + s)


def lorentzian(f, f0, linewidth):
    """Unit-height Lorentzian of full width at half maximum ``linewidth`` (Hz)."""
    x = 2.0 * (f - f0) / linewidth
    return 1.0 / (1.0 + x * x)


_U_MAX = 1e70
"""Cap on 1 + x**2 in the fused Lorentzian sum: a line further than 1e35 half-widths
from a frequency contributes < 1e-70 (dropped), and products of four capped
denominators stay finite in float64."""


def _lorentzian_sum(freqs, centres, amps, inv_half_widths):
    """sum_l a_l / (1 + ((f - f_l) / (linewidth_l / 2))**2), shape (..., F), fused.

    ``centres``, ``amps`` and ``inv_half_widths`` are lists (one entry per line) of
    arrays broadcastable against each other (the leading ``...`` axes). Lines are
    combined four at a time over a common denominator (a/u + b/v = (a v + b u)/(u v)),
    one division per four lines instead of one per line; the frequency axis is
    innermost and nothing larger than (..., F) is formed.
    """
    acc = None
    for g0 in range(0, len(centres), 4):
        terms = []
        group = zip(centres[g0:g0 + 4], amps[g0:g0 + 4], inv_half_widths[g0:g0 + 4],
                    strict=True)
        for f0, a, k in group:
            x = (freqs - f0[..., None]) * k[..., None]
            terms.append((a[..., None], jnp.minimum(1.0 + x * x, _U_MAX)))
        while len(terms) > 1:
            merged = [(n1 * d2 + n2 * d1, d1 * d2)
                      for (n1, d1), (n2, d2) in zip(terms[0::2], terms[1::2], strict=False)]
            if len(terms) % 2:
                merged.append(terms[-1])
            terms = merged
        part = terms[0][0] / terms[0][1]
        acc = part if acc is None else acc + part
    return acc


def odmr_from_lines(freqs, lines, contrast, linewidth, weights=None):
    """Normalised CW-ODMR fluorescence for given resonance lines.

    S(f) = 1 - sum_l C w_l L(f; f_l, linewidth), L a unit-height Lorentzian.

    Parameters
    ----------
    freqs : array (F,)
        Microwave frequencies, Hz.
    lines : array (..., L)
        Line centres, Hz.
    contrast : float or array broadcastable to (..., L)
        Depth of one isolated line (fraction of the off-resonant fluorescence), in [0, 1].
    linewidth : float or array broadcastable to (..., L)
        Full width at half maximum, Hz (> 0).
    weights : array (..., L) or None
        Relative line amplitudes (default 1).

    Returns
    -------
    array (..., F), dimensionless (1 off resonance).
    """
    _check_range("contrast", contrast, lo=0.0, hi=1.0)
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")
    _check_finite("freqs", freqs)
    freqs = jnp.asarray(freqs, dtype=float)
    lines = jnp.asarray(lines, dtype=float)
    amp = jnp.broadcast_to(jnp.asarray(contrast, dtype=float), lines.shape)
    if weights is not None:
        amp = amp * weights
    k = 2.0 / jnp.broadcast_to(jnp.asarray(linewidth, dtype=float), lines.shape)
    n = lines.shape[-1]
    dip = _lorentzian_sum(freqs, [lines[..., i] for i in range(n)],
                          [amp[..., i] for i in range(n)], [k[..., i] for i in range(n)])
    return 1.0 - dip


def odmr_spectrum(freqs, B, contrast=0.01, linewidth=1e6, D=D_ZFS, E=0.0, temperature=None,
                  isotope=None, gamma=GAMMA_NV, rotation=None, saturation=None):
    """CW-ODMR spectrum of an NV ensemble (all four orientations) for a single sensor or a
    pixel array.

    Each of the 8 electron-spin resonances (4 orientations x 2 transitions, from
    :func:`resonance_frequencies`) is a Lorentzian dip of depth ``contrast`` (split evenly
    among the hyperfine lines when ``isotope`` is given) and full width ``linewidth``;
    with ``saturation`` s, width and depth follow :func:`power_broadening` (``contrast``
    is then the saturated contrast). Resonances and the Lorentzian sum are one compiled
    kernel (frequency axis innermost, no per-line temporaries): a 256 x 256 pixel image
    with 201 frequencies takes a few tens of ms on two CPU cores
    (benchmarks/odmr_imaging.py).

    Parameters
    ----------
    freqs : array (F,)
        Microwave frequencies, Hz.
    B : array (..., 3)
        Field in tesla: (3,) for one sensor, (ny, nx, 3) for a pixel image.
    contrast, linewidth : float
        Line depth in [0, 1] and FWHM in Hz.
    D, E, temperature, gamma, rotation
        As in :func:`resonance_frequencies`.
    isotope : {"14N", "15N", None}
        Resolve the nitrogen hyperfine structure.
    saturation : float or None
        Microwave saturation parameter (None: no power broadening model).

    Returns
    -------
    array (..., F), dimensionless fluorescence (1 off resonance).
    """
    if saturation is not None:
        linewidth, contrast = power_broadening(linewidth, contrast, saturation)
    _check_range("contrast", contrast, lo=0.0, hi=1.0)
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")
    _check_finite("freqs", freqs)
    B, Dt, R = _checked_inputs(B, D, temperature, rotation)
    if isotope is None:
        shifts, w = np.zeros(1), np.ones(1)
    elif isotope in HYPERFINE:
        spin, a_par = HYPERFINE[isotope]
        m_i = np.arange(-spin, spin + 0.5, 1.0)
        shifts, w = abs(a_par) * m_i, np.full(m_i.shape, 1.0 / m_i.size)
    else:
        raise ValueError(
            f"isotope must be one of {sorted(HYPERFINE)} or None; got {isotope!r}")
    return _odmr_spectrum_jit(jnp.asarray(freqs, float), B, Dt,
                              jnp.asarray(E, float), gamma, R, jnp.asarray(contrast, float),
                              jnp.asarray(linewidth, float), shifts, w)


@jax.jit
def _odmr_spectrum_jit(freqs, B, Dt, E, gamma, R, contrast, linewidth, shifts, w):
    f_lo, f_hi = _transitions(B, Dt, E, gamma, R)
    k = jnp.broadcast_to(2.0 / linewidth, f_lo.shape[:-1])
    centres, amps = [], []
    for f in (f_lo, f_hi):
        for o in range(4):
            for j in range(shifts.shape[0]):
                centres.append(f[..., o] + shifts[j])
                amps.append(jnp.broadcast_to(contrast * w[j], k.shape))
    return 1.0 - _lorentzian_sum(freqs, centres, amps, [k] * len(centres))


def simulate_noisy_spectrum(key, spectrum, photons_per_point):
    """Add photon shot noise to a normalised spectrum.

    Each point collects N = photons_per_point * S(f) photons (Poisson); for N >> 1 the
    normalised signal has standard deviation sqrt(S / photons_per_point), which is what
    is drawn here (Gaussian approximation of Poisson statistics).

    Parameters
    ----------
    key : jax.random key
        Explicit seed.
    spectrum : array (..., F)
        Noise-free normalised fluorescence.
    photons_per_point : float
        Photons detected off resonance per frequency point (> 0).

    Returns
    -------
    (noisy spectrum (..., F), sigma (..., F)).
    """
    _check_range("photons_per_point", photons_per_point, lo=0.0, lo_open=True)
    spectrum = jnp.asarray(spectrum, dtype=float)
    sigma = jnp.sqrt(spectrum / photons_per_point)
    return spectrum + sigma * jax.random.normal(key, spectrum.shape), sigma


# ---------------------------------------------------------------------------------------
# slope / lock-in readout and closed-loop tracking
# ---------------------------------------------------------------------------------------


def max_slope(contrast, linewidth):
    """Largest |dS/df| of a Lorentzian dip, 1/Hz: 3 sqrt(3) C / (4 linewidth).

    Reached at a detuning of linewidth / (2 sqrt 3) from the line centre.
    """
    _check_range("contrast", contrast, lo=0.0, hi=1.0)
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")
    return 3.0 * math.sqrt(3.0) * contrast / (4.0 * linewidth)


def slope_readout(delta_b, contrast, linewidth, photon_rate=None, gamma=GAMMA_NV,
                  projection=1.0):
    """Fluorescence change from a small field change at the steepest point of a line.

    dS = max_slope * gamma * projection * delta_b (first order, |gamma dB| << linewidth).

    Parameters
    ----------
    delta_b : float or array
        Field change, tesla.
    contrast, linewidth : float
        Line depth and FWHM (Hz).
    photon_rate : float or None
        Detected photon rate (1/s); if given the signal is returned in photons/s.
    gamma : float
        Hz/T.
    projection : float
        Cosine between the field change and the NV axis.

    Returns
    -------
    Fractional fluorescence change (or photons/s), same shape as ``delta_b``.
    """
    _check_finite("delta_b", delta_b)
    ds = max_slope(contrast, linewidth) * gamma * projection * jnp.asarray(delta_b, float)
    return ds if photon_rate is None else ds * photon_rate


def lockin_signal(f_mw, f_res, contrast, linewidth, mod_depth, n_phase=64):
    """In-phase first-harmonic lock-in output of a frequency-modulated CW-ODMR line.

    The microwave frequency is f_mw + mod_depth cos(theta); the output is
    X = (1/pi) int_0^{2 pi} S(f_mw + mod_depth cos theta) cos theta dtheta, evaluated with
    ``n_phase`` equally spaced phases (spectrally accurate for this periodic integrand).
    For mod_depth << linewidth, X -> mod_depth dS/df (the derivative readout).

    Parameters
    ----------
    f_mw : float or array
        Microwave carrier, Hz.
    f_res : float or array
        Resonance centre, Hz.
    contrast, linewidth : float
        Depth and FWHM (Hz).
    mod_depth : float
        Frequency deviation, Hz (> 0).
    n_phase : int
        Quadrature points per modulation period.

    Returns
    -------
    X, dimensionless (fraction of the off-resonant fluorescence), broadcast shape.
    """
    _check_range("contrast", contrast, lo=0.0, hi=1.0)
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")
    _check_range("mod_depth", mod_depth, lo=0.0, lo_open=True, what=" Hz")
    theta = 2.0 * math.pi * (jnp.arange(n_phase) + 0.5) / n_phase
    det = (jnp.asarray(f_mw, float) - jnp.asarray(f_res, float))[..., None]
    s = 1.0 - contrast * lorentzian(det + mod_depth * jnp.cos(theta), 0.0, linewidth)
    return 2.0 * jnp.mean(s * jnp.cos(theta), axis=-1)


def lockin_slope(contrast, linewidth, mod_depth, n_phase=64):
    """dX/df of :func:`lockin_signal` at zero detuning (1/Hz), by automatic differentiation."""
    return jax.grad(lambda f: lockin_signal(f, 0.0, contrast, linewidth, mod_depth, n_phase))(
        0.0)


class TrackingResult(NamedTuple):
    """Output of :func:`track_resonance` (all arrays of shape (T,))."""

    frequency: jax.Array
    """Locked microwave frequency at each step, Hz."""
    error: jax.Array
    """Lock-in error signal at each step (dimensionless)."""


def track_resonance(f_res_t, f_start, contrast, linewidth, mod_depth, gain=0.5, n_phase=64):
    """Closed-loop frequency tracking of one ODMR line (integral controller).

    At each step the lock-in error X_n = lockin_signal(f_n, f_res_n) is converted to a
    frequency with the zero-detuning slope k and the carrier is updated,
    f_{n+1} = f_n - gain X_n / k. For 0 < gain < 2 the loop converges within the
    linear range, and it follows resonance shifts far beyond one linewidth as long as
    each step moves less than about a linewidth (the usual frequency-locked NV
    magnetometer: the field is read from the carrier, f_n / gamma, not from the
    fluorescence, which extends the dynamic range).

    Parameters
    ----------
    f_res_t : array (T,)
        True resonance frequency at each step, Hz.
    f_start : float
        Initial carrier, Hz (must lie within about a linewidth of f_res_t[0]).
    contrast, linewidth, mod_depth : float
        Line depth, FWHM (Hz) and modulation deviation (Hz).
    gain : float
        Loop gain in (0, 2).

    Returns
    -------
    TrackingResult(frequency (T,), error (T,)).
    """
    _check_finite("f_res_t", f_res_t)
    _check_range("gain", gain, lo=0.0, lo_open=True, hi=2.0)
    k = lockin_slope(contrast, linewidth, mod_depth, n_phase)

    def step(f, fr):
        x = lockin_signal(f, fr, contrast, linewidth, mod_depth, n_phase)
        return f - gain * x / k, (f, x)

    _, (fs, xs) = jax.lax.scan(step, jnp.asarray(f_start, float),
                               jnp.asarray(f_res_t, float))
    return TrackingResult(fs, xs)


# ---------------------------------------------------------------------------------------
# shot-noise-limited sensitivities (Barry et al. 2020)
# ---------------------------------------------------------------------------------------

LORENTZIAN_PREFACTOR = 4.0 / (3.0 * math.sqrt(3.0))
"""Lineshape factor P_F of the CW-ODMR sensitivity for a Lorentzian (Barry et al. 2020)."""


def cw_sensitivity(linewidth, contrast, photon_rate, gamma=GAMMA_NV):
    """Photon-shot-noise-limited CW-ODMR magnetic sensitivity, T/sqrt(Hz).

    Barry et al. 2020 (Rev. Mod. Phys. 92:015004), the CW-ODMR shot-noise expression
    (their section on CW-ODMR; see docs/nv.md for the equation reference):

        eta_CW = 4 / (3 sqrt 3) * h / (g mu_B) * linewidth / (C sqrt(R)),

    with h / (g mu_B) = 1 / gamma. It follows from the maximum slope 3 sqrt(3) C /
    (4 linewidth) of a Lorentzian dip and the shot noise 1 / sqrt(R t) of a
    fluorescence measurement of duration t.

    Parameters
    ----------
    linewidth : float or array
        Full width at half maximum, Hz (> 0).
    contrast : float or array
        Line contrast in (0, 1].
    photon_rate : float or array
        Detected photon rate R, 1/s (> 0).
    gamma : float
        Gyromagnetic ratio, Hz/T.

    Returns
    -------
    eta in T/sqrt(Hz), broadcast shape.
    """
    _check_range("linewidth", linewidth, lo=0.0, lo_open=True, what=" Hz")
    _check_range("contrast", contrast, lo=0.0, hi=1.0, lo_open=True)
    _check_range("photon_rate", photon_rate, lo=0.0, lo_open=True, what=" 1/s")
    return LORENTZIAN_PREFACTOR * linewidth / (gamma * contrast * jnp.sqrt(photon_rate))


def photon_rate_from_volume(nv_density, volume, rate_per_nv):
    """Detected photon rate R = n_NV V r (1/s) of a sensing volume.

    Parameters
    ----------
    nv_density : float
        NV density, 1/m^3 (e.g. 1 ppm of diamond = 1.76e23 m^-3).
    volume : float
        Sensing volume, m^3.
    rate_per_nv : float
        Detected photons per second per NV (collection efficiency included).
    """
    for name, v in (("nv_density", nv_density), ("volume", volume),
                    ("rate_per_nv", rate_per_nv)):
        _check_range(name, v, lo=0.0, lo_open=True)
    return nv_density * volume * rate_per_nv


def volume_normalized_sensitivity(eta, volume):
    """Volume-normalised sensitivity eta sqrt(V), T m^1.5 / sqrt(Hz) (Barry et al. 2020)."""
    _check_range("volume", volume, lo=0.0, lo_open=True, what=" m^3")
    return eta * jnp.sqrt(volume)


def ramsey_sensitivity(t2star, tau, n_spins, contrast, photons_per_spin, t_overhead=0.0,
                       delta_ms=1, stretch=1.0, gamma=GAMMA_NV):
    """Shot-noise-limited Ramsey sensitivity of an NV ensemble, T/sqrt(Hz).

    Barry et al. 2020 (Rev. Mod. Phys. 92:015004), the ensemble Ramsey expression with
    readout fidelity and overhead (their section on Ramsey magnetometry; see
    docs/nv.md for the equation reference):

        eta = hbar / (delta_ms g mu_B) * exp((tau/T2*)**p) / sqrt(N tau)
              * sigma_R * sqrt((tau + t_O) / tau),
        sigma_R = sqrt(1 + 1 / (C**2 n_avg)),

    with hbar / (g mu_B) = 1 / (2 pi gamma), t_O = t_I + t_R the initialisation plus
    readout time, C the measurement contrast and n_avg the detected photons per spin
    per readout. For t_O = 0 the optimum free precession time is tau = T2*/2.

    Parameters
    ----------
    t2star : float or array
        Inhomogeneous dephasing time T2*, s (> 0).
    tau : float or array
        Free precession time, s (> 0).
    n_spins : float or array
        Number of interrogated NV spins N (> 0).
    contrast : float or array
        Readout contrast C in (0, 1].
    photons_per_spin : float or array
        Detected photons per spin per readout n_avg (> 0).
    t_overhead : float
        t_I + t_R, s (>= 0).
    delta_ms : {1, 2}
        1 for single-quantum, 2 for double-quantum Ramsey.
    stretch : float
        Stretched-exponent p of the dephasing envelope (1 or 2 typically).
    gamma : float
        Hz/T.

    Returns
    -------
    eta in T/sqrt(Hz).
    """
    for name, v in (("t2star", t2star), ("tau", tau), ("n_spins", n_spins),
                    ("photons_per_spin", photons_per_spin)):
        _check_range(name, v, lo=0.0, lo_open=True)
    _check_range("contrast", contrast, lo=0.0, hi=1.0, lo_open=True)
    _check_range("t_overhead", t_overhead, lo=0.0, what=" s")
    if delta_ms not in (1, 2):
        raise ValueError(f"delta_ms must be 1 or 2; got {delta_ms!r}")
    tau = jnp.asarray(tau, float)
    sigma_r = jnp.sqrt(1.0 + 1.0 / (contrast**2 * photons_per_spin))
    return (jnp.exp((tau / t2star) ** stretch) / (2.0 * math.pi * gamma * delta_ms)
            / jnp.sqrt(n_spins * tau) * sigma_r * jnp.sqrt((tau + t_overhead) / tau))


# ---------------------------------------------------------------------------------------
# vector reconstruction (Levenberg-Marquardt / Gauss-Newton in JAX)
# ---------------------------------------------------------------------------------------


def _levenberg_marquardt(resid, p0, n_iter):
    """Minimise |resid(p)|^2 with scaled LM steps; returns (p, J at p, chi2)."""
    def both(p):
        r = resid(p)
        return r, r

    val_jac = jax.jacfwd(both, has_aux=True)

    def evaluate(p):
        J, r = val_jac(p)
        return r, J

    def body(carry, _):
        p, lam, r, J = carry
        d = jnp.sqrt(jnp.sum(J * J, axis=0))
        d = jnp.where(d > 0, d, 1.0)
        Js = J / d
        A = Js.T @ Js
        g = Js.T @ r
        step = -jnp.linalg.solve(A + lam * jnp.diag(jnp.diag(A) + 1e-12), g) / d
        pn = p + step
        rn, Jn = evaluate(pn)
        better = jnp.sum(rn**2) < jnp.sum(r**2)
        p = jnp.where(better, pn, p)
        r = jnp.where(better, rn, r)
        J = jnp.where(better, Jn, J)
        lam = jnp.where(better, lam * 0.3, lam * 10.0)
        return (p, jnp.clip(lam, 1e-12, 1e12), r, J), None

    r0, J0 = evaluate(p0)
    (p, _, r, J), _ = jax.lax.scan(body, (p0, jnp.asarray(1e-3), r0, J0), None, length=n_iter)
    return p, J, jnp.sum(r**2)


def _covariance(J):
    d = jnp.sqrt(jnp.sum(J * J, axis=0))
    d = jnp.where(d > 0, d, 1.0)
    Js = J / d
    return jnp.linalg.inv(Js.T @ Js) / jnp.outer(d, d)


class VectorFit(NamedTuple):
    """Result of a vector-field reconstruction."""

    B: jax.Array
    """Estimated field, tesla, shape (..., 3)."""
    D: jax.Array
    """Estimated zero-field splitting, Hz, shape (...)."""
    covariance: jax.Array
    """Covariance of (Bx, By, Bz) in T^2, shape (..., 3, 3) (from the inverse Fisher
    information J^T W J of the weighted least-squares problem)."""
    B_sigma: jax.Array
    """Standard uncertainty of each component, tesla, shape (..., 3)."""
    chi2: jax.Array
    """Weighted residual sum of squares at the solution."""
    extra: jax.Array
    """Other fitted parameters (spectrum fits: contrast, linewidth in Hz, baseline)."""


def reconstruct_vector(resonances, sigma, B0, D0=D_ZFS, E=0.0, fit_D=True, gamma=GAMMA_NV,
                       rotation=None, n_iter=30):
    """Vector field from the eight resonance frequencies (weighted least squares).

    Minimises sum ((f_model(B, D) - f_meas) / sigma)**2 over B (and D if ``fit_D``) with
    Levenberg-Marquardt on the exact model :func:`resonance_frequencies`; the
    covariance is the inverse of J^T J of the whitened residuals (Cramer-Rao /
    Gauss-Newton covariance). The eight frequencies are invariant under B -> -B (time
    reversal) and under the tetrahedral symmetries that permute the NV axes, so the
    solution is the one nearest the prior ``B0`` (in practice the known bias field).

    Parameters
    ----------
    resonances : array (..., 4, 2)
        Measured frequencies, Hz, assigned to orientations.
    sigma : float or array broadcastable to (..., 4, 2)
        Standard uncertainty of each frequency, Hz (> 0).
    B0 : array (3,) or (..., 3)
        Starting field / prior branch, tesla.
    D0 : float
        Starting (or fixed) zero-field splitting, Hz.
    E : float
        Strain splitting, Hz (held fixed).
    fit_D : bool
        Fit D (temperature) as a fourth parameter.
    n_iter : int
        Levenberg-Marquardt iterations.

    Returns
    -------
    VectorFit
    """
    _check_finite("resonances", resonances)
    _check_range("sigma", sigma, lo=0.0, lo_open=True, what=" Hz")
    _check_field(B0)
    resonances = jnp.asarray(resonances, float)
    batch = resonances.shape[:-2]
    B0 = jnp.broadcast_to(jnp.asarray(B0, float), batch + (3,))
    sig = jnp.broadcast_to(jnp.asarray(sigma, float), resonances.shape)
    scale = 1e6  # work in MHz for conditioning

    def one(fm, s, b0):
        def model(p):
            B = p[:3] * scale / gamma
            Dv = p[3] * scale if fit_D else D0
            return resonance_frequencies(B, Dv, E, None, gamma, rotation)

        def resid(p):
            return ((model(p) - fm) / s).ravel()

        p0 = b0 * gamma / scale
        if fit_D:
            p0 = jnp.concatenate([p0, jnp.asarray([D0 / scale])])
        p, J, chi2 = _levenberg_marquardt(resid, p0, n_iter)
        cov = _covariance(J)[:3, :3] * (scale / gamma) ** 2
        Dv = p[3] * scale if fit_D else jnp.asarray(D0, float)
        return VectorFit(p[:3] * scale / gamma, Dv, cov, jnp.sqrt(jnp.diagonal(cov)), chi2,
                         jnp.zeros(0))

    f = one
    for _ in batch:
        f = jax.vmap(f)
    return jax.jit(f)(resonances, sig, B0)


def fit_odmr_vector(freqs, signal, sigma, B0, D0=D_ZFS, contrast0=0.01, linewidth0=1e6,
                    E=0.0, isotope=None, gamma=GAMMA_NV, rotation=None, n_iter=60):
    """Vector field straight from a CW-ODMR spectrum (weighted least squares).

    Fits the full model ``baseline * odmr_spectrum(freqs, B, contrast, linewidth, D)``
    (parameters Bx, By, Bz, D, contrast, linewidth, baseline) to the measured spectrum
    with Levenberg-Marquardt; uncertainties from the inverse of J^T W J at the
    solution. ``B0`` selects the branch (see :func:`reconstruct_vector`) and must put
    each line within about a linewidth of its true position.

    Parameters
    ----------
    freqs : array (F,)
        Microwave frequencies, Hz.
    signal : array (..., F)
        Normalised fluorescence.
    sigma : float or array broadcastable to (..., F)
        Standard deviation of each point (> 0).
    B0 : array (3,) or (..., 3)
        Starting field, tesla.
    D0, contrast0, linewidth0 : float
        Starting values (Hz, -, Hz).
    E, isotope, gamma, rotation
        Fixed model settings, as in :func:`odmr_spectrum`.

    Returns
    -------
    VectorFit with ``extra`` = (contrast, linewidth in Hz, baseline).
    """
    _check_finite("signal", signal)
    _check_range("sigma", sigma, lo=0.0, lo_open=True)
    _check_field(B0)
    _check_range("contrast0", contrast0, lo=0.0, hi=1.0, lo_open=True)
    _check_range("linewidth0", linewidth0, lo=0.0, lo_open=True, what=" Hz")
    freqs = jnp.asarray(freqs, float)
    signal = jnp.asarray(signal, float)
    batch = signal.shape[:-1]
    B0 = jnp.broadcast_to(jnp.asarray(B0, float), batch + (3,))
    sig = jnp.broadcast_to(jnp.asarray(sigma, float), signal.shape)
    scale = 1e6

    def one(y, s, b0):
        def model(p):
            B = p[:3] * scale / gamma
            lines = resonance_frequencies(B, p[3] * scale, E, None, gamma, rotation)
            lines, w = hyperfine_lines(lines, isotope)
            return p[6] * odmr_from_lines(freqs, lines.reshape(-1), p[4], p[5] * scale,
                                          jnp.tile(w, 8))

        def resid(p):
            return (model(p) - y) / s

        p0 = jnp.concatenate([b0 * gamma / scale,
                              jnp.asarray([D0 / scale, contrast0, linewidth0 / scale, 1.0])])
        p, J, chi2 = _levenberg_marquardt(resid, p0, n_iter)
        cov = _covariance(J)[:3, :3] * (scale / gamma) ** 2
        extra = jnp.stack([p[4], p[5] * scale, p[6]])
        return VectorFit(p[:3] * scale / gamma, p[3] * scale, cov, jnp.sqrt(jnp.diagonal(cov)),
                         chi2, extra)

    f = one
    for _ in batch:
        f = jax.vmap(f)
    return jax.jit(f)(signal, sig, B0)
