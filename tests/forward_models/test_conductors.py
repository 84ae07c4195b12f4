"""Physics properties of the conductor kernels (Sarvas sphere, Biot-Savart, magnetic
dipole), checked against independent facts rather than stored outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from forward_models import MU0
from forward_models.conductors import (
    magnetic_dipole_field,
    primary_dipole_field,
    sphere_coil_leadfield,
    sphere_dipole_field,
)

ORIGIN = np.array([0.0, 0.0, 0.04])
R_BRAIN = 0.08


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


vec = st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 3).filter(
    lambda v: np.linalg.norm(v) > 0.1
)
depth = st.floats(0.005, 0.075)
height = st.floats(0.095, 0.2)


def _inside(direction, r):
    return ORIGIN + r * _unit(direction)


def _scale(r, r0, qnorm):
    """Physical field scale: |q| times the largest field of the three unit dipoles."""
    return qnorm * max(np.linalg.norm(sphere_dipole_field(r, r0, e, ORIGIN))
                       for e in np.eye(3))


@settings(max_examples=40, deadline=None)
@given(d_src=vec, r_src=depth, d_obs=vec, r_obs=height)
def test_radial_dipole_is_silent(d_src, r_src, d_obs, r_obs):
    r0 = _inside(d_src, r_src)
    q = 1e-8 * _unit(d_src)  # parallel to r0 - origin
    r = _inside(d_obs, r_obs)
    b = np.asarray(sphere_dipole_field(r, r0, q, ORIGIN))
    # compare with the field of a tangential dipole of the same strength there
    t = _unit(np.cross(_unit(d_src), [0.3, 0.5, 0.81]))
    ref = np.linalg.norm(sphere_dipole_field(r, r0, 1e-8 * t, ORIGIN))
    assert np.linalg.norm(b) <= 1e-12 * ref + 1e-30


@settings(max_examples=40, deadline=None)
@given(d_src=vec, r_src=depth, d_obs=vec, r_obs=height, q1=vec, q2=vec,
       a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_field_is_linear_in_moment(d_src, r_src, d_obs, r_obs, q1, q2, a, b):
    r0, r = _inside(d_src, r_src), _inside(d_obs, r_obs)
    q1, q2 = 1e-8 * np.array(q1), 1e-8 * np.array(q2)
    lhs = sphere_dipole_field(r, r0, a * q1 + b * q2, ORIGIN)
    rhs = a * sphere_dipole_field(r, r0, q1, ORIGIN) + b * sphere_dipole_field(r, r0, q2, ORIGIN)
    # field scale per unit moment: the largest over the three unit dipoles
    unit = max(np.linalg.norm(sphere_dipole_field(r, r0, e, ORIGIN)) for e in np.eye(3))
    scale = unit * (abs(a) * np.linalg.norm(q1) + abs(b) * np.linalg.norm(q2))
    np.testing.assert_allclose(lhs, rhs, atol=1e-12 * scale + 1e-40)


@settings(max_examples=30, deadline=None)
@given(d_src=vec, r_src=depth, d_obs=vec, r_obs=height, q=vec,
       rot=st.tuples(*[st.floats(-np.pi, np.pi)] * 3))
def test_rotation_covariance(d_src, r_src, d_obs, r_obs, q, rot):
    R = Rotation.from_euler("xyz", rot).as_matrix()
    r0, r = _inside(d_src, r_src) - ORIGIN, _inside(d_obs, r_obs) - ORIGIN
    q = 1e-8 * np.array(q)
    b = np.asarray(sphere_dipole_field(r, r0, q, np.zeros(3)))
    b_rot = np.asarray(sphere_dipole_field(R @ r, R @ r0, R @ q, np.zeros(3)))
    scale = _scale(r + ORIGIN, r0 + ORIGIN, np.linalg.norm(q))
    np.testing.assert_allclose(b_rot, R @ b, rtol=0, atol=1e-12 * scale)


@settings(max_examples=25, deadline=None)
@given(d_src=vec, r_src=depth, d_obs=vec, r_obs=height, q=vec)
def test_divergence_and_curl_free_outside(d_src, r_src, d_obs, r_obs, q):
    r0, r = _inside(d_src, r_src), _inside(d_obs, r_obs)
    q = jnp.asarray(1e-8 * np.array(q))
    jac = np.asarray(jax.jacfwd(lambda x: sphere_dipole_field(x, r0, q, ORIGIN))(jnp.asarray(r)))
    # gradient scale: field scale over the distance to the source
    scale = _scale(r, r0, float(jnp.linalg.norm(q))) / np.linalg.norm(r - r0)
    assert abs(np.trace(jac)) <= 1e-9 * scale
    curl = np.array([jac[2, 1] - jac[1, 2], jac[0, 2] - jac[2, 0], jac[1, 0] - jac[0, 1]])
    assert np.abs(curl).max() <= 1e-9 * scale


@settings(max_examples=40, deadline=None)
@given(d_src=vec, r_src=depth, d_obs=vec, r_obs=height, q=vec)
def test_radial_component_equals_primary_field(d_src, r_src, d_obs, r_obs, q):
    """Volume currents in a spherically symmetric conductor add nothing to the radial
    field component (Sarvas 1987, eq. 19): B.r_hat = B0.r_hat."""
    r0, r = _inside(d_src, r_src), _inside(d_obs, r_obs)
    q = 1e-8 * np.array(q)
    n = _unit(r - ORIGIN)
    b = np.asarray(sphere_dipole_field(r, r0, q, ORIGIN))
    b0 = np.asarray(primary_dipole_field(r, r0, q))
    assert abs(b @ n - b0 @ n) <= 1e-12 * _scale(r, r0, np.linalg.norm(q))


def test_dipole_at_centre_limit():
    """Any dipole becomes radial as it approaches the centre: the sphere field goes to
    zero linearly in its distance from the centre, while the primary field does not."""
    q = np.array([1e-8, 0, 0])
    r = ORIGIN + np.array([0.0, 0.0, 0.1])
    fields = [np.linalg.norm(sphere_dipole_field(r, ORIGIN + [0, 0, e], q, ORIGIN))
              for e in (1e-4, 1e-5, 1e-6)]
    np.testing.assert_allclose(np.array(fields[:-1]) / np.array(fields[1:]), 10.0, rtol=5e-3)
    assert np.linalg.norm(primary_dipole_field(r, ORIGIN + [0, 0, 1e-6], q)) > 1e4 * fields[-1]


def test_sphere_field_far_limit_matches_closed_form():
    """Tangential dipole at depth z0 under the sensor on the z axis: Sarvas reduces to
    B = mu0 q / (4 pi) * ... ; check against the independent closed form of the
    tangential field on the axis, B_y = mu0 q r / (4 pi r0 ... ) via F and grad F."""
    r0 = np.array([0.0, 0.0, 0.05])
    r = np.array([0.0, 0.0, 0.1])
    q = np.array([1e-8, 0.0, 0.0])
    # on the axis: a = r - r0, F = a (r a + r^2 - r r0) = 0.05*(0.1*0.05 + 0.01 - 0.005)
    a, rn, z0 = 0.05, 0.1, 0.05
    F = a * (rn * a + rn**2 - z0 * rn)
    qxr0 = np.cross(q, r0)  # along -y
    expected = MU0 / (4 * np.pi) * qxr0 / F  # (q x r0).r = 0 on the axis
    np.testing.assert_allclose(sphere_dipole_field(r, r0, q), expected, rtol=1e-13)


def test_primary_field_biot_savart_numeric():
    """The current-dipole field equals a short current element integrated numerically."""
    r0 = np.array([0.01, -0.02, 0.03])
    q = np.array([2e-8, -1e-8, 0.5e-8])
    r = np.array([0.05, 0.04, 0.12])
    # element of length L carrying I = |q| / L, split in N pieces
    L, N = 1e-4, 200
    u = _unit(q)
    s = (np.arange(N) + 0.5) / N * L - L / 2
    pts = r0 + s[:, None] * u
    dl = (L / N) * u
    current = np.linalg.norm(q) / L
    d = r - pts
    b = MU0 / (4 * np.pi) * current * np.sum(
        np.cross(dl, d) / np.linalg.norm(d, axis=1)[:, None] ** 3, axis=0)
    np.testing.assert_allclose(primary_dipole_field(r, r0, q), b, rtol=1e-6)


def test_magnetic_dipole_on_axis_and_equator():
    m = np.array([0.0, 0.0, 1e-3])
    d = 0.2
    on_axis = magnetic_dipole_field([0, 0, d], [0, 0, 0], m)
    equator = magnetic_dipole_field([d, 0, 0], [0, 0, 0], m)
    np.testing.assert_allclose(on_axis, [0, 0, MU0 / (4 * np.pi) * 2e-3 / d**3], rtol=1e-14)
    np.testing.assert_allclose(equator, [0, 0, -MU0 / (4 * np.pi) * 1e-3 / d**3], rtol=1e-14)


def test_broadcasting_over_leading_axes():
    rng = np.random.default_rng(1)
    r = ORIGIN + 0.1 * np.array([_unit(v) for v in rng.normal(size=(4, 3))])
    r0 = ORIGIN + 0.03 * np.array([_unit(v) for v in rng.normal(size=(5, 3))])
    q = 1e-8 * rng.normal(size=(5, 3))
    b = sphere_dipole_field(r[:, None, :], r0[None], q[None], ORIGIN)
    assert b.shape == (4, 5, 3)
    np.testing.assert_allclose(b[2, 3], sphere_dipole_field(r[2], r0[3], q[3], ORIGIN),
                               rtol=1e-14)
    assert sphere_dipole_field(r, r0[0], q[0], ORIGIN).dtype == jnp.float64


def test_coil_leadfield_sums_weighted_points():
    """A two-point 'gradiometer' equals the weighted difference of point fields, and a
    zero-weight padding point adds nothing."""
    pts = ORIGIN + np.array([[[0, 0, 0.1], [0, 0, 0.12]], [[0.1, 0, 0], [0.1, 0, 0]]])
    nrm = np.array([[[0, 0, 1.0], [0, 0, 1.0]], [[0, 1.0, 0], [0, 1.0, 0]]])
    w = np.array([[50.0, -50.0], [1.0, 0.0]])
    src = ORIGIN + np.array([[0.02, 0.01, 0.03], [-0.01, 0.02, 0.0]])
    lf = np.asarray(sphere_coil_leadfield(pts, nrm, w, src, ORIGIN))
    assert lf.shape == (2, 2, 3)
    for s in range(2):
        for k in range(3):
            q = np.eye(3)[k]
            b = [np.asarray(sphere_dipole_field(p, src[s], q, ORIGIN)) @ n
                 for p, n in zip(pts.reshape(-1, 3), nrm.reshape(-1, 3), strict=True)]
            assert lf[0, s, k] == pytest.approx(50 * b[0] - 50 * b[1], rel=1e-12)
            assert lf[1, s, k] == pytest.approx(b[2], rel=1e-12)
