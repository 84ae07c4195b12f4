"""Tests of forward_models.bem against independent references.

- the primary field against a direct numpy Biot-Savart sum;
- the coil coefficients against a per-triangle numpy loop of Mosher, Leahy & Lewis
  (1999) eq. 35 (the kernel uses the equivalent vertex area-normal form);
- the whole BEM leadfield on a spherical mesh against the closed-form Sarvas (1987)
  field (BEM discretisation error only), with the BEM solution matrix from MNE;
- chunking and zero-padding invariance, and input validation.
"""

import numpy as np
import pytest

from forward_models import MU0
from forward_models import bem as fb


def _rng():
    return np.random.default_rng(1234)


def _sarvas(r, r0, q):
    """Sarvas (1987) field of dipole q at r0 seen at r (sphere at the origin), numpy."""
    a_vec = r - r0
    a = np.linalg.norm(a_vec)
    rn = np.linalg.norm(r)
    F = a * (rn * a + rn**2 - r0 @ r)
    gradF = (a**2 / rn + a_vec @ r / a + 2 * a + 2 * rn) * r - (a + 2 * rn + a_vec @ r / a) * r0
    qxr0 = np.cross(q, r0)
    return MU0 / (4 * np.pi * F**2) * (F * qxr0 - (qxr0 @ r) * gradF)


def _random_coils(rng, n_chan=5, n_pts=4, radius=0.11):
    centres = rng.normal(size=(n_chan, 3))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    pts = radius * centres[:, None, :] + 0.004 * rng.normal(size=(n_chan, n_pts, 3))
    nrm = centres[:, None, :] + 0.3 * rng.normal(size=(n_chan, n_pts, 3))
    nrm /= np.linalg.norm(nrm, axis=-1, keepdims=True)
    w = rng.uniform(-1.0, 1.0, size=(n_chan, n_pts))
    return pts, nrm, w


def test_primary_field_matches_numpy_biot_savart():
    rng = _rng()
    pts, nrm, w = _random_coils(rng)
    src = 0.05 * rng.normal(size=(7, 3))
    lf = np.asarray(fb.primary_leadfield(pts, nrm, w, src))
    ref = np.zeros_like(lf)
    for c in range(pts.shape[0]):
        for s in range(len(src)):
            for j in range(3):
                q = np.eye(3)[j]
                for p in range(pts.shape[1]):
                    d = pts[c, p] - src[s]
                    b = MU0 / (4 * np.pi) * np.cross(q, d) / np.linalg.norm(d) ** 3
                    ref[c, s, j] += w[c, p] * b @ nrm[c, p]
    np.testing.assert_allclose(lf, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def _ico_sphere(grade, radius):
    from mne.surface import _get_ico_surface

    ico = _get_ico_surface(grade)
    rr = ico["rr"] / np.linalg.norm(ico["rr"], axis=1, keepdims=True) * radius
    return rr, np.asarray(ico["tris"], dtype=np.int64)


def test_coil_coefficients_match_per_triangle_formula():
    rng = _rng()
    rr, tris = _ico_sphere(2, 0.08)
    pts, nrm, w = _random_coils(rng, n_chan=3, n_pts=3)
    got = np.asarray(fb.bem_coil_field_coefficients(rr, tris, pts, nrm, w))
    ref = np.zeros((3, len(rr)))
    for tri in tris:
        r0, r1, r2 = rr[tri]
        cr = np.cross(r1 - r0, r2 - r0)
        area, nn = np.linalg.norm(cr) / 2, cr / np.linalg.norm(cr)
        for v in tri:
            for c in range(3):
                for p in range(3):
                    d = pts[c, p] - rr[v]
                    ref[c, v] += area / 3 * w[c, p] * nrm[c, p] @ np.cross(d, nn) / np.linalg.norm(
                        d
                    ) ** 3
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())


def _sphere_solution(grade):
    """ico-`grade` spherical shell (R = 90 mm) with its BEM solution matrix from MNE."""
    import mne
    from mne.io.constants import FIFF

    rr, tris = _ico_sphere(grade, 0.09)
    surf = dict(
        rr=rr, tris=tris, id=FIFF.FIFFV_BEM_SURF_ID_BRAIN, sigma=0.3, np=len(rr),
        ntri=len(tris), coord_frame=FIFF.FIFFV_COORD_MRI, nn=rr / 0.09,
    )
    bem = mne.make_bem_solution([surf], verbose=False)
    return rr, tris, bem["solution"], float(bem["field_mult"][0]), float(bem["source_mult"][0])


@pytest.fixture(scope="module")
def sphere_bem():
    return _sphere_solution(3)


def _sphere_case():
    rng = _rng()
    n_chan = 40
    dirs = rng.normal(size=(n_chan, 3))
    dirs[:, 2] = np.abs(dirs[:, 2])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pts = (dirs * rng.uniform(0.11, 0.13, size=(n_chan, 1)))[:, None, :]
    nrm = rng.normal(size=(n_chan, 1, 3))
    nrm /= np.linalg.norm(nrm, axis=-1, keepdims=True)
    w = np.ones((n_chan, 1))
    src = rng.normal(size=(30, 3))
    src *= (0.09 * rng.uniform(0.1, 0.55, size=(30, 1))) / np.linalg.norm(src, axis=1)[:, None]
    ref = np.zeros((n_chan, len(src), 3))
    for c in range(n_chan):
        for s in range(len(src)):
            for j in range(3):
                ref[c, s, j] = _sarvas(pts[c, 0], src[s], np.eye(3)[j]) @ nrm[c, 0]
    return pts, nrm, w, src, ref


def test_bem_on_sphere_converges_to_sarvas(sphere_bem):
    """BEM on an icosahedral sphere vs the exact Sarvas field: discretisation error only.

    Point magnetometers 2-4 cm outside the 9 cm shell, dipoles up to 55 % of the radius.
    Linear collocation converges as h**2 (h: edge length, halved per ico grade), so the
    error must drop about 4x per grade: measured 12.1 % (ico-2), 1.85 % (ico-3) and
    0.44 % (ico-4, not run here: its solution takes ~15 s). The primary field alone is
    off by tens of percent, so the test fails without the volume-current term.
    """
    pts, nrm, w, src, ref = _sphere_case()
    errs = {}
    for grade, model in ((2, _sphere_solution(2)), (3, sphere_bem)):
        rr, tris, sol, fm, sm = model
        G = fb.bem_coil_matrix(rr, tris, sol, pts, nrm, w, fm, sm)
        lf = np.asarray(fb.bem_leadfield(G, rr, pts, nrm, w, src))
        errs[grade] = np.linalg.norm(lf - ref) / np.linalg.norm(ref)
    prim = np.asarray(fb.primary_leadfield(pts, nrm, w, src))
    err_prim = np.linalg.norm(prim - ref) / np.linalg.norm(ref)
    assert errs[3] < 0.025, errs
    assert errs[2] / errs[3] > 3.0, errs  # second-order convergence
    assert err_prim > 0.2, err_prim

    # radial dipoles produce no field outside a sphere: the BEM cancels their primary
    # field to within the discretisation error
    radial = src / np.linalg.norm(src, axis=1, keepdims=True)
    b_rad = np.einsum("csj,sj->cs", lf, radial)
    b_rad_prim = np.einsum("csj,sj->cs", prim, radial)
    assert np.linalg.norm(b_rad) < 0.02 * np.linalg.norm(b_rad_prim)


def test_chunking_and_padding_invariance(sphere_bem):
    rr, tris, sol, fm, sm = sphere_bem
    rng = _rng()
    pts, nrm, w = _random_coils(rng, n_chan=6, n_pts=3, radius=0.12)
    src = 0.04 * rng.normal(size=(23, 3))
    # Chunking and padding change only the order of floating-point sums, the longest of
    # which runs over the n_vert BEM vertices (G = (C * fm) @ S and v_inf @ G.T). Two
    # orders of an n-term sum differ by at most about (n - 1) eps sum|x_i|, so the
    # tolerance is a few ulps per summed term; the atol covers entries that cancel
    # (sum|x_i| >> |sum x_i|), where a bound relative to the entry itself cannot hold.
    n_terms = rr.shape[0]
    rtol = 4 * n_terms * np.finfo(float).eps  # 642 vertices: 5.7e-13
    G = fb.bem_coil_matrix(rr, tris, sol, pts, nrm, w, fm, sm)
    a = np.asarray(fb.bem_leadfield(G, rr, pts, nrm, w, src, chunk_size=256))
    b = np.asarray(fb.bem_leadfield(G, rr, pts, nrm, w, src, chunk_size=5))
    np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max())
    # zero-weight padding points (placed at the origin, even on a source) change nothing
    pad = lambda x, v: np.concatenate([x, np.full(x.shape[:1] + (2,) + x.shape[2:], v)], 1)  # noqa: E731
    pts_p, nrm_p, w_p = pad(pts, 0.0), pad(nrm, 0.0), pad(w, 0.0)
    src0 = np.vstack([src, np.zeros((1, 3))])
    G_p = fb.bem_coil_matrix(rr, tris, sol, pts_p, nrm_p, w_p, fm, sm)
    np.testing.assert_allclose(np.asarray(G_p), np.asarray(G), rtol=rtol,
                               atol=rtol * np.abs(np.asarray(G)).max())
    c = np.asarray(fb.bem_leadfield(G_p, rr, pts_p, nrm_p, w_p, src0))
    assert np.isfinite(c).all()
    np.testing.assert_allclose(c[:, :-1], a, rtol=rtol, atol=rtol * np.abs(a).max())
    assert fb.bem_leadfield(G, rr, pts, nrm, w, np.zeros((0, 3))).shape == (6, 0, 3)


def test_vertex_area_normals_close_surface(sphere_bem):
    rr, tris, *_ = sphere_bem
    an = np.asarray(fb.vertex_area_normals(rr, tris))
    # a closed surface has zero vector area; total area approaches 4 pi R^2
    assert np.abs(an.sum(axis=0)).max() < 1e-15
    _, areas = fb.triangle_normals_areas(rr, tris)
    assert abs(float(np.sum(areas)) / (4 * np.pi * 0.09**2) - 1) < 0.02


def test_solid_angle_inside_outside(sphere_bem):
    rr, tris, *_ = sphere_bem
    pts = np.array([[0, 0, 0], [0.05, 0.02, -0.03], [0.0, 0.0, 0.12], [0.2, 0, 0]])
    om = np.asarray(fb.surface_solid_angle(pts, rr, tris))
    np.testing.assert_allclose(om, [4 * np.pi, 4 * np.pi, 0, 0], atol=1e-9)


def test_validation_errors(sphere_bem):
    rr, tris, sol, fm, sm = sphere_bem
    pts, nrm, w = _random_coils(_rng(), n_chan=2, n_pts=2)
    with pytest.raises(ValueError, match="points"):
        fb.bem_coil_matrix(rr, tris, sol, pts[0], nrm, w, fm, sm)
    with pytest.raises(ValueError, match="weights"):
        fb.bem_coil_matrix(rr, tris, sol, pts, nrm, w[:, :1], fm, sm)
    with pytest.raises(ValueError, match="solution"):
        fb.bem_coil_matrix(rr, tris, sol[:-1], pts, nrm, w, fm, sm)
    G = fb.bem_coil_matrix(rr, tris, sol, pts, nrm, w, fm, sm)
    with pytest.raises(ValueError, match="sources"):
        fb.bem_leadfield(G, rr, pts, nrm, w, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="coil_matrix"):
        fb.bem_leadfield(G[:, :-1], rr, pts, nrm, w, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="chunk_size"):
        fb.bem_leadfield(G, rr, pts, nrm, w, np.zeros((3, 3)), chunk_size=0)


def test_differentiable_in_source_position(sphere_bem):
    """jax.jacfwd through the chunked BEM leadfield matches central differences (the
    Cramer-Rao bounds use derivatives with respect to the dipole position)."""
    import jax

    rr, tris, sol, fm, sm = sphere_bem
    pts, nrm, w = _random_coils(_rng(), n_chan=4, n_pts=2, radius=0.12)
    G = fb.bem_coil_matrix(rr, tris, sol, pts, nrm, w, fm, sm)
    src = np.array([[0.01, -0.02, 0.03], [0.0, 0.03, 0.01]])

    def f(x):
        return fb.bem_leadfield(G, rr, pts, nrm, w, x, chunk_size=1)

    jac = np.asarray(jax.jacfwd(f)(src))  # (C,S,3,S,3)
    h = 1e-6
    for s in range(2):
        for k in range(3):
            dp, dm = src.copy(), src.copy()
            dp[s, k] += h
            dm[s, k] -= h
            fd = (np.asarray(f(dp)) - np.asarray(f(dm))) / (2 * h)
            np.testing.assert_allclose(
                jac[:, :, :, s, k], fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max()
            )
