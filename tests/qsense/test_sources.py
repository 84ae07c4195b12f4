"""Source spaces: volume grids, fsaverage5 cortex as an MNE surface source space."""

import mne
import numpy as np
import pytest

import qsense as qs


def test_volume_grid_spacing_and_margin(sphere_head):
    src = qs.sources.volume(sphere_head, spacing=0.01, mindist=0.005)
    d = np.linalg.norm(src.positions - sphere_head.sphere_origin, axis=1)
    assert d.max() < sphere_head.sphere_radius - 0.005
    # a 10 mm grid fills the sphere of radius R - mindist: count ~ volume / spacing^3
    expected = 4 / 3 * np.pi * (sphere_head.sphere_radius - 0.005) ** 3 / 0.01**3
    assert abs(len(src) - expected) / expected < 0.05
    steps = np.diff(np.unique(np.round(src.positions[:, 0], 9)))
    np.testing.assert_allclose(steps, 0.01, rtol=1e-9)


def test_fsaverage_volume_inside_inner_skull(fsaverage_sphere):
    src = qs.sources.volume(fsaverage_sphere, spacing=0.01, mindist=0.005)
    # expected count: volume inside the surface shrunk by mindist (divergence theorem
    # for the volume, minus area x mindist to first order) over spacing^3
    rr, tris = fsaverage_sphere.brain.rr, fsaverage_sphere.brain.tris
    a, b, c = rr[tris[:, 0]], rr[tris[:, 1]], rr[tris[:, 2]]
    vol = np.sum(np.einsum("ij,ij->i", a, np.cross(b, c))) / 6
    area = np.sum(np.linalg.norm(np.cross(b - a, c - a), axis=1)) / 2
    expected = (vol - area * 0.005) / 0.01**3
    assert abs(len(src) - expected) / expected < 0.05
    assert fsaverage_sphere.brain.contains_exact(src.positions).all()


@pytest.mark.parametrize("spacing,n", [("ico2", 162), ("ico3", 642), ("ico4", 2562)])
def test_cortex_decimation(spacing, n, fsaverage_sphere):
    src = qs.sources.cortex(fsaverage_sphere, spacing)
    assert len(src) == 2 * n
    msrc = src.to_mne()
    assert [s["type"] for s in msrc] == ["surf", "surf"]
    assert msrc.kind == "surface"
    assert [s["nuse"] for s in msrc] == [n, n]
    assert msrc[0]["subject_his_id"] == "fsaverage"


def test_cortex_vertices_are_mne_ico_vertices(fsaverage_sphere):
    """The prefix decimation picks the ico-4 vertices: their sphere positions match
    MNE's own ico-4 icosahedron."""
    import nibabel as nib
    from scipy.spatial import cKDTree

    from qsense.sources import _nilearn_fsaverage5

    sph = nib.load(_nilearn_fsaverage5() / "sphere_left.gii.gz").darrays[0].data[:2562]
    sph = sph / np.linalg.norm(sph, axis=1, keepdims=True)
    ico = mne.surface._get_ico_surface(4)["rr"]
    d, _ = cKDTree(ico).query(sph)
    assert d.max() < 1e-3  # radians on the unit sphere


def test_cortex_inside_inner_skull_with_normals(fsaverage_sphere):
    src = qs.sources.cortex(fsaverage_sphere, "ico4")
    assert fsaverage_sphere.brain.contains(src.positions).all()
    np.testing.assert_allclose(np.linalg.norm(src.normals, axis=1), 1.0, rtol=1e-12)
    # white-surface normals point outwards on average (away from the brain centre)
    out = src.positions - fsaverage_sphere.sphere_origin
    assert np.mean(np.sum(out * src.normals, axis=1) > 0) > 0.6


def test_cortex_normals_match_mne(fsaverage_sphere):
    """Our vertex normals equal MNE's own surface-normal computation."""
    from mne.surface import complete_surface_info

    from qsense.sources import _white_surfaces

    rr, tris = _white_surfaces()[0]
    surf = complete_surface_info(dict(rr=rr.copy(), tris=tris.copy()), verbose=False)
    src = qs.sources.cortex(fsaverage_sphere, "ico5").to_mne()
    np.testing.assert_allclose(src[0]["nn"], surf["nn"], atol=1e-10)


def test_from_mne_round_trip(sphere_head):
    msrc = mne.setup_volume_source_space(
        pos=10.0, sphere=(*sphere_head.sphere_origin, 0.07), verbose=False)
    src = qs.sources.from_mne(msrc, sphere_head)
    expected = {"vol": "volume", "discrete": "discrete"}[msrc[0]["type"]]
    assert src.kind == expected and len(src) == msrc[0]["nuse"]
    np.testing.assert_allclose(src.positions, msrc[0]["rr"][msrc[0]["vertno"]])


def test_superficial_tangential_on_hand_placed_sources(sphere_head):
    """Sources placed at known depths and tilts in the 9 cm sphere (origin z = 4 cm)."""
    o, r = sphere_head.sphere_origin, sphere_head.sphere_radius
    up = np.array([0.0, 0.0, 1.0])
    pos = np.array([o + (r - 0.010) * up,      # shallow, tangential normal: kept
                    o + (r - 0.010) * up,      # shallow, radial normal: dropped
                    o + (r - 0.030) * up,      # deep, tangential: dropped
                    o - (r - 0.010) * up,      # shallow, tangential, below centre
                    o + (r - 0.010) * up])     # tilted 60 deg from radial: 1-cos = 0.5
    tilt = np.array([np.sin(np.pi / 3), 0.0, np.cos(np.pi / 3)])
    nn = np.array([[1.0, 0, 0], up, [0, 1.0, 0], [1.0, 0, 0], tilt])
    src = qs.sources.points(pos, sphere_head, normals=nn)
    np.testing.assert_array_equal(qs.sources.superficial_tangential(src, sphere_head), [0])
    np.testing.assert_array_equal(
        qs.sources.superficial_tangential(src, sphere_head, upper=False), [0, 3])
    np.testing.assert_array_equal(
        qs.sources.superficial_tangential(src, sphere_head, min_tangential=0.45), [0, 4])
    np.testing.assert_array_equal(
        qs.sources.superficial_tangential(src, sphere_head, max_depth=0.04), [0, 2])


def test_superficial_tangential_rejects_bad_input(sphere_head):
    vol = qs.sources.volume(sphere_head, 0.02)
    with pytest.raises(ValueError, match="normals"):
        qs.sources.superficial_tangential(vol, sphere_head)
    src = qs.sources.points([[0, 0, 0.1]], sphere_head, normals=[[1.0, 0, 0]])
    with pytest.raises(ValueError, match="max_depth"):
        qs.sources.superficial_tangential(src, sphere_head, max_depth=20.0)
    with pytest.raises(ValueError, match="min_tangential"):
        qs.sources.superficial_tangential(src, sphere_head, min_tangential=1.5)
    with pytest.raises(TypeError, match="src"):
        qs.sources.superficial_tangential(np.zeros((3, 3)), sphere_head)
