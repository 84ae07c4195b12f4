"""Exact (autodiff) Jacobians and Fisher information of a dipole in a sphere, against
finite differences of the Sarvas coil kernel and a hand-made singular case."""

import jax
import numpy as np
import pytest

import qsense as qs
from forward_models import conductors, fisher


@pytest.fixture(scope="module")
def setup(sphere_head):
    array = qs.arrays.opm_on_scalp(sphere_head, 32, "radial")
    r0 = sphere_head.sphere_origin + np.array([0.01, 0.02, 0.055])
    q = np.array([20e-9, -5e-9, 3e-9])
    return sphere_head, array.coil_geometry("normal"), r0, q


def _leadfield_fn(geometry, origin):
    pts, nrm, w = geometry
    return jax.jit(lambda r: conductors.sphere_coil_leadfield(pts, nrm, w, r[None, :],
                                                              origin)[:, 0, :])


def test_jacobian_matches_finite_differences(setup):
    head, geometry, r0, q = setup
    origin = head.sphere_origin
    jac = np.asarray(fisher.sphere_dipole_jacobian(*geometry, r0[None], q[None], origin))[0]
    basis = np.asarray(fisher.tangential_basis(r0, origin))
    lf = _leadfield_fn(geometry, origin)
    h = 1e-6
    for k in range(3):
        step = np.zeros(3)
        step[k] = h
        fd = (np.asarray(lf(r0 + step)) @ q - np.asarray(lf(r0 - step)) @ q) / (2 * h)
        np.testing.assert_allclose(jac[:, k], fd, rtol=0, atol=1e-6 * np.abs(fd).max())
    np.testing.assert_allclose(jac[:, 3:], np.asarray(lf(r0)) @ basis.T, rtol=1e-12,
                               atol=0)
    # the basis is orthonormal and tangential
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-14)
    np.testing.assert_allclose(basis @ (r0 - origin), 0, atol=1e-16)


def test_fisher_is_the_whitened_gram_matrix(setup):
    head, geometry, r0, q = setup
    noise = np.linspace(5e-15, 20e-15, 32)
    jac = np.asarray(fisher.sphere_dipole_jacobian(*geometry, r0[None], q[None],
                                                   head.sphere_origin))[0]
    info = np.asarray(fisher.sphere_dipole_fisher(*geometry, r0[None], q[None],
                                                  head.sphere_origin, noise))[0]
    np.testing.assert_allclose(info, (jac / noise[:, None]).T @ (jac / noise[:, None]),
                               rtol=1e-12)
    cov = np.asarray(fisher.position_covariance_bound(info))
    np.testing.assert_allclose(cov, np.linalg.inv(info)[:3, :3], rtol=1e-8)


def test_singular_information_gives_infinite_bound():
    info = np.diag([1e6, 1e6, 1e6, 1e16, 1e16])
    info[2, :] = info[0, :]
    info[:, 2] = info[:, 0]  # z indistinguishable from x
    assert np.all(np.isinf(np.asarray(fisher.position_covariance_bound(info))))
    assert np.all(np.isinf(np.asarray(fisher.position_covariance_bound(np.zeros((5, 5))))))
