"""The fsaverage single-shell BEM: agreement with MNE, physics, cache, offline use.

Must-show points of the BEM issue:
1. the JAX BEM leadfield matches ``mne.make_forward_solution`` with the same BEM
   solution for Neuromag-306, CTF-275 and on-scalp OPMs (radial and tangential):
   ``test_matches_mne_forward*``;
3. volume currents cut tangential-OPM signals far more than radial-OPM signals, and the
   fitted sphere is close to the BEM for radial sensors over the top of the head:
   ``test_volume_currents_*``, ``test_fitted_sphere_close_to_bem_on_top``;
4. the BEM solution is cached, and a corrupted or mismatched cache file is detected
   and rebuilt: ``test_cache_*``;
5. the whole realistic forward runs with sockets disabled: ``test_offline_forward``.

Coil geometry for the reference comparisons comes from MNE itself
(``_prep_meg_channels``, "accurate" integration points, as make_forward_solution
uses), and, where available, from ``qsense.SensorArray.coil_geometry``.
"""

import contextlib
import logging
import os
import socket
from pathlib import Path

import mne
import numpy as np
import pytest

from forward_models import bem as fb
from qsense import bem as qbem

FULL = os.environ.get("QSENSE_FULL", "") == "1"
TOL_MNE = 1e-5  # relative Frobenius error required by the issue


# ----------------------------------------------------------------------------- helpers
def _mne_coils(info, accuracy="accurate"):
    from mne.forward._make_forward import _prep_meg_channels

    defs = _prep_meg_channels(info, accuracy=accuracy, verbose=False)["defs"]
    n, p = len(defs), max(len(d["w"]) for d in defs)
    pts, nrm, w = np.zeros((n, p, 3)), np.zeros((n, p, 3)), np.zeros((n, p))
    for i, d in enumerate(defs):
        k = len(d["w"])
        pts[i, :k], nrm[i, :k], w[i, :k] = d["rmag"], d["cosmag"], d["w"]
    return pts, nrm, w


def _scalp(bem):
    d = Path(mne.__file__).parent / "data" / "fsaverage"
    s = mne.read_bem_surfaces(d / "fsaverage-head.fif", patch_stats=True, verbose=False)[0]
    mri_head = np.linalg.inv(bem.head_mri_t["trans"])
    rr = mne.transforms.apply_trans(mri_head, s["rr"])
    nn = mne.transforms.apply_trans(mri_head, s["nn"], move=False)
    return rr, nn


def _farthest_points(points, n):
    idx = [int(np.argmax(points[:, 2]))]
    d = np.linalg.norm(points - points[idx[0]], axis=1)
    for _ in range(n - 1):
        idx.append(int(np.argmax(d)))
        d = np.minimum(d, np.linalg.norm(points - points[idx[-1]], axis=1))
    return np.array(idx)


def _opm_info(bem, axes, n=60, standoff=0.0065, coil_type=8002):
    """On-scalp QuSpin Gen-2 OPMs (MNE coil 8002) 6.5 mm outside the fsaverage scalp
    along the scalp normal, spread over the scalp above the head-frame xy plane.
    ``axes="radial"``: sensitive axis along the normal; ``"tangential"``: along the
    azimuthal direction (normal x z)."""
    rr, nn = _scalp(bem)
    sel = np.flatnonzero(rr[:, 2] > 0.0)
    sel = sel[_farthest_points(rr[sel], n)]
    pos, normal = rr[sel] + standoff * nn[sel], nn[sel]
    if axes == "radial":
        ez = normal
    else:
        ez = np.cross(normal, [0.0, 0.0, 1.0])
        flat = np.linalg.norm(ez, axis=1) < 1e-3
        ez[flat] = np.cross(normal[flat], [1.0, 0.0, 0.0])
        ez /= np.linalg.norm(ez, axis=1, keepdims=True)
    ex = np.cross([0.0, 0.0, 1.0], ez)
    flat = np.linalg.norm(ex, axis=1) < 1e-3
    ex[flat] = np.cross([1.0, 0.0, 0.0], ez[flat])
    ex /= np.linalg.norm(ex, axis=1, keepdims=True)
    ey = np.cross(ez, ex)
    info = mne.create_info([f"OPM{i:03d}" for i in range(n)], 1000.0, "mag")
    for ch, p, a, b, c in zip(info["chs"], pos, ex, ey, ez, strict=True):
        ch["coil_type"] = coil_type
        ch["loc"][:] = np.r_[p, a, b, c]
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", np.eye(4))
    return info


def _squid_info(system):
    """MNE's canonical sensors, helmet origin moved up to clear the fsaverage scalp
    (min. distance to the scalp 10 mm for Neuromag, 6 mm for CTF)."""
    info = mne.channels.read_meg_canonical_info(system)
    t = np.eye(4)
    t[2, 3] = 0.04 if system == "neuromag" else 0.05
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", t)
    return info


def _volume_sources(bem, n, seed=0):
    lo, hi = bem.vertices.min(0), bem.vertices.max(0)
    axes = [np.arange(a + 0.0025, b, 0.005) for a, b in zip(lo, hi, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    grid = grid[bem.contains(grid)]
    return grid[np.random.default_rng(seed).choice(len(grid), n, replace=False)]


def _cortex(bem, n, seed=0):
    """fsaverage5 white-surface vertices (nilearn, shipped), head frame, with normals."""
    import nibabel as nib
    from nilearn import datasets

    fs = datasets.fetch_surf_fsaverage("fsaverage5")
    rrs, nns = [], []
    for hemi in ("left", "right"):
        rr, tris = nib.load(fs[f"white_{hemi}"]).agg_data()
        rr = rr.astype(float) / 1000.0  # mm -> m, surface RAS = MNE's MRI frame
        cr = np.cross(rr[tris[:, 1]] - rr[tris[:, 0]], rr[tris[:, 2]] - rr[tris[:, 0]])
        nn = np.zeros_like(rr)
        for k in range(3):
            np.add.at(nn, tris[:, k], cr)
        rrs.append(rr)
        nns.append(nn / np.linalg.norm(nn, axis=1, keepdims=True))
    mri_head = np.linalg.inv(bem.head_mri_t["trans"])
    rr = mne.transforms.apply_trans(mri_head, np.vstack(rrs))
    nn = mne.transforms.apply_trans(mri_head, np.vstack(nns), move=False)
    idx = np.random.default_rng(seed).choice(len(rr), n, replace=False)
    return rr[idx], nn[idx]


def _single_blas_thread():
    """MNE's inside-skull check (scipy Delaunay.find_simplex) runs many tiny LAPACK
    calls that take seconds instead of milliseconds when OpenBLAS threads compete with
    other work; one BLAS thread makes the reference computation fast. Speed only: the
    numbers are the same."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # not installed: same results, just slower
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _mne_forward(info, bem, src_head, trans=None, conductor=None):
    """mne.make_forward_solution on the same BEM; returns (n_chan, n_src, 3) and the
    head-frame source positions MNE used."""
    trans = bem.head_mri_t if trans is None else trans
    src_mri = mne.transforms.apply_trans(trans, src_head)
    src = mne.setup_volume_source_space(
        pos=dict(rr=src_mri, nn=np.tile([0.0, 0.0, 1.0], (len(src_mri), 1))), verbose=False
    )
    with _single_blas_thread():
        fwd = mne.make_forward_solution(
            info, trans, src, bem.conductor if conductor is None else conductor, eeg=False,
            verbose=False,
        )
    assert fwd["nsource"] == len(src_head)
    return fwd["sol"]["data"].reshape(fwd["nchan"], -1, 3), fwd["source_rr"]


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bem-cache")


@pytest.fixture(scope="module")
def bem3(cache_dir):
    return qbem.fsaverage_bem(ico=3, cache_dir=cache_dir)


# ------------------------------------------------------------ must-show 1: versus MNE
def _in_head_frame(info):
    """Copy of ``info`` with the device->head transform folded into each channel's loc
    (identity dev_head_t), so that arrays with different placements can be combined."""
    info = info.copy()
    t = info["dev_head_t"]["trans"]
    for ch in info["chs"]:
        loc = ch["loc"]
        loc[:3] = t[:3, :3] @ loc[:3] + t[:3, 3]
        for k in (3, 6, 9):
            loc[k : k + 3] = t[:3, :3] @ loc[k : k + 3]
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", np.eye(4))
    return info


def _combined_info(infos):
    """One mne.Info holding the channels of several arrays (all in the head frame), so
    that a single make_forward_solution call serves every case."""
    chs, blocks, start = [], {}, 0
    for name, info in infos.items():
        info = _in_head_frame(info)
        for ch in info["chs"]:
            ch = dict(ch)
            ch["ch_name"] = f"{name}-{ch['ch_name']}"
            chs.append(ch)
        blocks[name] = slice(start, len(chs))
        start = len(chs)
    out = mne.create_info([c["ch_name"] for c in chs], 1000.0, "mag")
    with out._unlock():
        for i, ch in enumerate(chs):
            out["chs"][i].update(
                coil_type=ch["coil_type"], loc=ch["loc"].copy(), kind=ch["kind"],
                unit=ch["unit"], coord_frame=ch["coord_frame"],
            )
    out["dev_head_t"] = mne.transforms.Transform("meg", "head", np.eye(4))
    return out, blocks


@pytest.fixture(scope="module")
def mne_comparison(bem3):
    """MNE and qsense leadfields for Neuromag-306, CTF-275 and 40 radial / 40
    tangential on-scalp OPMs, ico-3 BEM, 200 volume sources."""
    infos = {
        "neuromag": _squid_info("neuromag"),
        "ctf275": _squid_info("ctf275"),
        "opm_radial": _opm_info(bem3, "radial", n=40),
        "opm_tangential": _opm_info(bem3, "tangential", n=40),
    }
    info, blocks = _combined_info(infos)
    src = _volume_sources(bem3, 200)
    ref, src_used = _mne_forward(info, bem3, src)
    pts, nrm, w = _mne_coils(info)
    ours = bem3.leadfield(pts, nrm, w, src_used)
    prim = np.asarray(fb.primary_leadfield(pts, nrm, w, src_used))
    return blocks, ref, ours, prim


@pytest.mark.parametrize("case", ["neuromag", "ctf275", "opm_radial", "opm_tangential"])
def test_matches_mne_forward(mne_comparison, case):
    """Relative Frobenius error <= 1e-5 per array (measured 3e-15 to 8e-15)."""
    blocks, ref, ours, prim = mne_comparison
    sl = blocks[case]
    err = _rel(ours[sl], ref[sl])
    print(f"{case}: relative Frobenius error vs MNE {err:.2e}")
    assert err <= TOL_MNE
    # the volume-current term matters at this level: without it the error is large
    assert _rel(prim[sl], ref[sl]) > 100 * TOL_MNE


@pytest.fixture(scope="module")
def sensor_array_comparison(bem3):
    import qsense as qs

    head = qs.Head.fsaverage(conductor="sphere")
    arrays = {
        "neuromag306": qs.arrays.neuromag306(head),
        "ctf275": qs.arrays.ctf275(head),
        "radial": qs.arrays.opm_on_scalp(head, n_sensors=32, axes="radial"),
        "tangential": qs.arrays.opm_on_scalp(head, n_sensors=32, axes="tangential"),
    }
    info, blocks = _combined_info({k: a.to_info() for k, a in arrays.items()})
    src = _volume_sources(bem3, 150, seed=1)
    ref, src_used = _mne_forward(info, bem3, src)
    ours = {}
    for name, arr in arrays.items():
        pts, nrm, w = arr.coil_geometry("accurate")
        ours[name] = bem3.leadfield(pts, nrm, w, src_used)
    return blocks, ref, ours


@pytest.mark.parametrize("case", ["neuromag306", "ctf275", "radial", "tangential"])
def test_matches_mne_forward_through_sensor_array(sensor_array_comparison, case):
    """Same comparison with coils from qsense.SensorArray.coil_geometry("accurate")
    and MNE fed with SensorArray.to_info()."""
    blocks, ref, ours = sensor_array_comparison
    err = _rel(ours[case], ref[blocks[case]])
    print(f"SensorArray {case}: relative Frobenius error vs MNE {err:.2e}")
    assert err <= TOL_MNE


def test_public_leadfield_matches_mne(cache_dir):
    """qs.leadfield on qs.Head.fsaverage(conductor="bem") (wired through
    qsense.bem.bem_kernel) vs mne.make_forward_solution, tangential OPMs, ico-3."""
    import qsense as qs

    head = qs.Head.fsaverage(conductor="bem", ico=3, cache_dir=cache_dir)
    arr = qs.arrays.opm_on_scalp(head, n_sensors=24, axes="tangential")
    src = qs.sources.volume(head, spacing=0.015)
    lf = qs.leadfield(arr, head, src)
    ref, src_used = _mne_forward(arr.to_info(), head.bem, src.positions)
    np.testing.assert_allclose(src_used, src.positions, atol=1e-12)
    err = _rel(lf.values, ref)
    print(f"qs.leadfield (BEM head): relative Frobenius error vs MNE {err:.2e}")
    assert err <= TOL_MNE


def test_matches_mne_with_raw_shipped_transform(bem3):
    """With the single-precision rotation stored in fsaverage-trans.fif (orthogonal to
    ~2e-7), MNE rotates positions with the matrix and directions with its transpose;
    the agreement is then limited to ~3e-7 but still within the requirement."""
    d = Path(mne.__file__).parent / "data" / "fsaverage"
    raw = mne.read_trans(d / "fsaverage-trans.fif", verbose=False)
    info = _squid_info("neuromag")
    src = _volume_sources(bem3, 100, seed=2)
    ref, src_used = _mne_forward(info, bem3, src, trans=raw)
    pts, nrm, w = _mne_coils(info)
    err = _rel(bem3.leadfield(pts, nrm, w, src_used), ref)
    assert err <= TOL_MNE
    assert err > 1e-9  # the inconsistency is real: orthogonalising the rotation matters


@pytest.mark.heavy
def test_matches_mne_forward_ico4(cache_dir):
    """ico-4 (the default), Neuromag-306 + 64 tangential OPMs; 200 sources
    (QSENSE_FULL=1: ico-4 with 3000 sources and ico-5 is left to the benchmark)."""
    bem = qbem.fsaverage_bem(ico=4, cache_dir=cache_dir)
    src = _volume_sources(bem, 3000 if FULL else 200, seed=3)
    info, blocks = _combined_info(
        {"neuromag": _squid_info("neuromag"), "opm": _opm_info(bem, "tangential", n=64)}
    )
    ref, src_used = _mne_forward(info, bem, src)
    pts, nrm, w = _mne_coils(info)
    ours = bem.leadfield(pts, nrm, w, src_used)
    for sl in blocks.values():
        assert _rel(ours[sl], ref[sl]) <= TOL_MNE


# ------------------------------------------------------------------ must-show 3: physics
@pytest.fixture(scope="module")
def physics_case(bem3):
    src, nn = _cortex(bem3, 1500)
    out = {}
    for axes in ("radial", "tangential"):
        info = _opm_info(bem3, axes, n=80)
        pts, nrm, w = _mne_coils(info)
        b = np.einsum("csj,sj->cs", bem3.leadfield(pts, nrm, w, src), nn)
        b0 = np.einsum("csj,sj->cs", np.asarray(fb.primary_leadfield(pts, nrm, w, src)), nn)
        out[axes] = (info, b, b0)
    return src, nn, out


def test_volume_currents_cut_tangential_far_more_than_radial(physics_case):
    """Signal reduction by volume currents, 1 - ||B_BEM|| / ||B_primary|| over 80 OPMs
    (6.5 mm off the scalp) x 1500 cortical dipoles normal to the fsaverage5 white surface.

    Iivanainen et al. (2017, NeuroImage 147:542-553) report about 10 % (radial) and 72 %
    (tangential). Measured here (ico-3; ico-4 gives the same to 0.2 %): 6.4 % radial,
    71.5 % tangential (in power: 12 % and 92 %).
    """
    _, _, out = physics_case
    red = {k: 1 - np.linalg.norm(b) / np.linalg.norm(b0) for k, (_, b, b0) in out.items()}
    print(f"volume-current reduction: radial {red['radial']:.3f}, "
          f"tangential {red['tangential']:.3f}")
    assert 0.0 < red["radial"] < 0.2
    assert 0.6 < red["tangential"] < 0.85
    assert red["tangential"] > 5 * red["radial"]


def test_fitted_sphere_close_to_bem_on_top(bem3, physics_case):
    """Radial OPMs over the top of the head (z > 10 cm in the head frame) and superior
    cortical sources (z > 8 cm): the least-squares sphere fitted to the inner skull
    (Sarvas field, computed by MNE's sphere model) agrees with the BEM (topography
    correlation 0.98, relative error 14 %, measured on ico-4), whereas ignoring the
    volume currents (infinite medium) would be several times worse for tangential
    sensors. The sphere is exact only for a spherical skull, so the relative error is
    that of a geometry approximation, not a numerical one."""
    src, nn, out = physics_case
    pts_v = bem3.vertices
    a = np.c_[2 * pts_v, np.ones(len(pts_v))]
    sol, *_ = np.linalg.lstsq(a, np.sum(pts_v**2, 1), rcond=None)
    centre = sol[:3]
    sphere = mne.make_sphere_model(r0=centre, head_radius=None, verbose=False)
    sup = src[:, 2] > 0.08
    res = {}
    for axes in ("radial", "tangential"):
        info, b, b0 = out[axes]
        pos = np.array([ch["loc"][:3] for ch in info["chs"]])
        top = np.flatnonzero(pos[:, 2] > 0.10)
        sub = mne.pick_info(info, top)
        srcs = mne.setup_volume_source_space(pos=dict(rr=src[sup], nn=nn[sup]), verbose=False)
        fwd = mne.make_forward_solution(sub, None, srcs, sphere, eeg=False, verbose=False)
        bs = np.einsum("csj,sj->cs", fwd["sol"]["data"].reshape(len(top), -1, 3), nn[sup])
        bb, bp = b[np.ix_(top, sup)], b0[np.ix_(top, sup)]
        corr = np.mean([np.corrcoef(bs[:, k], bb[:, k])[0, 1] for k in range(bb.shape[1])])
        res[axes] = (_rel(bs, bb), corr, _rel(bp, bb))
        print(f"{axes} (top, {len(top)} sensors): sphere vs BEM rel. error {res[axes][0]:.3f}, "
              f"topography corr. {corr:.4f}; infinite medium vs BEM {res[axes][2]:.3f}")
    rel_sph, corr, _ = res["radial"]
    assert rel_sph < 0.2
    assert corr > 0.97
    assert res["tangential"][2] > 3 * res["tangential"][0]


# ------------------------------------------------------------------- must-show 4: cache
def _only_cache_file(d):
    files = sorted(Path(d).glob("*.npz"))
    assert len(files) == 1, files
    assert not list(Path(d).glob("*.tmp")), "temporary files left behind"
    return files[0]


def test_cache_hit_second_run(tmp_path, count_solutions):
    first = qbem.fsaverage_bem_solution(ico=3, cache_dir=tmp_path)
    assert len(count_solutions) == 1
    path = _only_cache_file(tmp_path)
    mtime = path.stat().st_mtime_ns
    second = qbem.fsaverage_bem_solution(ico=3, cache_dir=tmp_path)
    assert len(count_solutions) == 1, "second run recomputed the BEM solution"
    assert path.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(second["solution"], first["solution"])
    # the ConductorModel rebuilt from the cache is what make_bem_solution returns
    assert sorted(second.keys()) == sorted(first.keys())
    for key in ("sigma", "source_mult", "field_mult", "gamma", "nsol", "bem_method", "solver"):
        np.testing.assert_array_equal(second[key], first[key])
    s1, s2 = first["surfs"][0], second["surfs"][0]
    assert sorted(s1.keys()) == sorted(s2.keys())
    for key in ("rr", "tris", "nn", "tri_nn", "tri_area", "tri_cent", "sigma", "id", "np"):
        np.testing.assert_allclose(s2[key], s1[key], rtol=0, atol=1e-15)


def test_cache_env_variable(tmp_path, monkeypatch, count_solutions):
    monkeypatch.setenv("QSENSE_CACHE_DIR", str(tmp_path / "env"))
    assert qbem.bem_cache_dir() == tmp_path / "env"
    qbem.fsaverage_bem_solution(ico=2)
    _only_cache_file(tmp_path / "env")
    qbem.fsaverage_bem_solution(ico=2)
    assert len(count_solutions) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip_solution", "garbage"])
def test_cache_corruption_detected_and_rebuilt(tmp_path, count_solutions, caplog, damage):
    good = qbem.fsaverage_bem_solution(ico=2, cache_dir=tmp_path)["solution"]
    path = _only_cache_file(tmp_path)
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a cache file")
    else:  # a valid npz whose solution no longer matches its checksum
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["solution"] = arrays["solution"].copy()
        arrays["solution"][3, 5] *= 1.0 + 1e-12
        np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING, logger="qsense.bem"):
        again = qbem.fsaverage_bem_solution(ico=2, cache_dir=tmp_path)["solution"]
    assert len(count_solutions) == 2, "corrupted cache was used instead of rebuilt"
    assert any("invalid" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(again, good)
    # rebuilt file is valid again: next call is a hit
    qbem.fsaverage_bem_solution(ico=2, cache_dir=tmp_path)
    assert len(count_solutions) == 2


def test_cache_mismatched_key_detected(tmp_path, count_solutions, caplog):
    """A self-consistent file for another conductivity, put where the 0.3 S/m file
    belongs, is rejected by its key (not silently used)."""
    other = tmp_path / "other"
    qbem.fsaverage_bem_solution(ico=2, conductivity=0.33, cache_dir=other)
    qbem.fsaverage_bem_solution(ico=2, conductivity=0.3, cache_dir=tmp_path)
    target = _only_cache_file(tmp_path)
    target.write_bytes(_only_cache_file(other).read_bytes())
    with caplog.at_level(logging.WARNING, logger="qsense.bem"):
        qbem.fsaverage_bem_solution(ico=2, conductivity=0.3, cache_dir=tmp_path)
    assert len(count_solutions) == 3
    assert any("key" in r.getMessage() for r in caplog.records)


def test_cache_write_failure_is_not_fatal(tmp_path, monkeypatch, caplog):
    def fail(*args, **kwargs):
        raise OSError("read-only file system")

    monkeypatch.setattr(qbem, "_write_cache", fail)
    with caplog.at_level(logging.WARNING, logger="qsense.bem"):
        bem = qbem.fsaverage_bem_solution(ico=2, cache_dir=tmp_path)
    assert bem["solution"].shape == (162, 162)
    assert any("could not write" in r.getMessage() for r in caplog.records)
    assert not list(tmp_path.glob("*"))


# ----------------------------------------------------------- must-show 5: no network
def test_offline_forward(tmp_path, monkeypatch):
    """Whole realistic forward (BEM solution from scratch, scalp OPMs, fsaverage5
    cortex, leadfield) with every socket creation failing."""

    def no_socket(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    bem = qbem.fsaverage_bem(ico=3, cache_dir=tmp_path)
    info = _opm_info(bem, "radial", n=16)
    src, nn = _cortex(bem, 100)
    pts, nrm, w = _mne_coils(info)
    lf = bem.leadfield(pts, nrm, w, src)
    assert lf.shape == (16, 100, 3) and np.isfinite(lf).all()
    # a 10 nAm cortical dipole gives fT-to-pT fields on the scalp
    b = np.abs(np.einsum("csj,sj->cs", lf, nn) * 10e-9)
    assert 1e-15 < b.max() < 1e-11


def test_offline_public_api(tmp_path, monkeypatch):
    """The same through the public API: Head.fsaverage (BEM), on-scalp array, cortical
    source space from nilearn's fsaverage5, qs.leadfield, with sockets disabled."""
    import qsense as qs

    def no_socket(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    head = qs.Head.fsaverage(conductor="bem", ico=3, cache_dir=tmp_path)
    arr = qs.arrays.opm_on_scalp(head, n_sensors=16, axes="radial")
    src = qs.sources.cortex(head, spacing="ico3")
    lf = qs.leadfield(arr, head, src)
    assert lf.shape == (16, len(src.positions), 3)
    assert np.isfinite(lf.values).all()


# ----------------------------------------------------------------- geometry / validation
def test_contains_matches_solid_angle(bem3):
    rng = np.random.default_rng(5)
    centre = bem3.vertices.mean(0)
    pts = centre + rng.uniform(-0.1, 0.1, size=(400, 3))
    omega = np.asarray(fb.surface_solid_angle(pts, bem3.vertices, bem3.triangles))
    np.testing.assert_array_equal(bem3.contains(pts), omega > 2 * np.pi)


def test_head_frame_vertices(bem3):
    """The BEM vertices are the MRI-frame surface moved by the (orthogonalised)
    fsaverage transform: distances are preserved and the rotation is orthogonal."""
    rot = bem3.head_mri_t["trans"][:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-15)
    mri = bem3.conductor["surfs"][0]["rr"]
    d_head = np.linalg.norm(bem3.vertices[1:] - bem3.vertices[:-1], axis=1)
    d_mri = np.linalg.norm(mri[1:] - mri[:-1], axis=1)
    np.testing.assert_allclose(d_head, d_mri, rtol=1e-12)
    assert len(bem3.vertices) == 642 and bem3.ico == 3


def test_validation(bem3, tmp_path):
    with pytest.raises(ValueError, match="ico"):
        qbem.fsaverage_bem(ico=6, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="conductivity"):
        qbem.fsaverage_bem_solution(ico=2, conductivity=-1.0, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="conductivity"):
        qbem.fsaverage_bem_solution(ico=2, conductivity=330.0, cache_dir=tmp_path)
    with pytest.raises(TypeError, match="cache_dir"):
        qbem.bem_cache_dir(3.5)
    info = _opm_info(bem3, "radial", n=4)
    pts, nrm, w = _mne_coils(info)
    with pytest.raises(ValueError, match="outside the inner skull"):
        bem3.leadfield(pts, nrm, w, np.array([[0.0, 0.0, 0.2]]))
    with pytest.raises(ValueError, match="millimetres"):
        bem3.leadfield(pts * 1000, nrm, w, np.array([[0.0, 0.0, 0.05]]))
    with pytest.raises(ValueError, match="NaN"):
        bem3.leadfield(pts, nrm, w, np.array([[np.nan, 0.0, 0.05]]))
    with pytest.raises(ValueError, match="weights"):
        bem3.leadfield(pts, nrm, w[:, :1], np.array([[0.0, 0.0, 0.05]]))
