"""Head trajectories: MNE's head-position format, its blending weights and poses.

References are MNE's own code (``mne._ola._Interp2`` for the weights,
``mne.simulation.raw._check_head_pos`` for the control points) and closed-form
rotations."""

import mne
import numpy as np
import pytest
from mne._ola import _Interp2
from mne.simulation.raw import _check_head_pos

import qsense as qs
from qsense.simulation.trajectory import (
    INTERPS,
    check_head_pos,
    check_sensors_outside,
    control_points,
    head_pos_transforms,
    interp_weights,
    poses_at,
)

SFREQ = 200.0


def _rot(axis, angle):
    """Right-handed rotation by ``angle`` (rad) about x, y or z (closed form)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _row(t, rot, trans):
    return np.concatenate([[t], mne.transforms.rot_to_quat(rot), trans, [1.0, 0.0, 0.0]])


def _trajectory(times, seed=0):
    """Rows at ``times`` (s): rotations of a few degrees, translations of a few mm about
    a helmet-like position (4 cm up)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in times:
        rot = _rot("x", rng.uniform(-0.05, 0.05)) @ _rot("z", rng.uniform(-0.05, 0.05))
        rows.append(_row(t, rot, [0.0, 0.0, 0.04] + rng.uniform(-0.004, 0.004, 3)))
    return np.array(rows)


def _dense(left, right, w, m):
    """The (m, n) weight of every control point at every sample."""
    out = np.zeros((m, len(w)))
    cols = np.arange(len(w))
    np.add.at(out, (left, cols), w)
    np.add.at(out, (right, cols), 1.0 - w)
    return out


# ---------------------------------------------------------------- weights vs MNE's
@pytest.mark.parametrize("interp", INTERPS)
@pytest.mark.parametrize("offsets", [[0, 7, 20, 21, 50, 130], [3, 40], [0]])
def test_interp_weights_match_mne(interp, offsets):
    """Every sample range, computed on its own, equals MNE's _Interp2 fed from that
    range's start (one rounding at most); control points may lie past the end."""
    n_times = 120
    m = len(offsets)
    weights = interp_weights(np.array(offsets), n_times, interp)
    for start, stop in [(0, n_times), (0, 1), (5, 33), (20, 21), (19, 52), (64, 120)]:
        ref = _Interp2(offsets, np.eye(m), interp, offset=start).feed(stop - start)[0]
        ours = _dense(*weights(start, stop), m)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-16)


def test_interp_weights_closed_form():
    """cos2: w = cos^2(pi/2 j / L) on the earlier point; linear: 1 - j / L."""
    j = np.arange(10)
    _, _, w = interp_weights(np.array([0, 10]), 10, "cos2")(0, 10)
    np.testing.assert_allclose(w, np.cos(np.pi / 2 * j / 10) ** 2, rtol=0, atol=1e-15)
    _, _, w = interp_weights(np.array([0, 10]), 10, "linear")(0, 10)
    np.testing.assert_allclose(w, 1 - j / 10, rtol=0, atol=1e-15)


def test_interp_weights_validation():
    with pytest.raises(ValueError, match="interp='spline' is not allowed"):
        interp_weights(np.array([0, 5]), 10, "spline")
    with pytest.raises(ValueError, match="strictly increasing"):
        interp_weights(np.array([0, 5, 5]), 10)
    with pytest.raises(ValueError, match="1-D array of int"):
        interp_weights(np.array([0.0, 5.0]), 10)
    with pytest.raises(ValueError, match="stop <= n_times=10"):
        interp_weights(np.array([0, 5]), 10)(0, 11)


# ------------------------------------------------------- control points vs MNE's
@pytest.mark.parametrize("case", ["at_zero", "half_sample", "later", "first_samp", "dict"])
def test_control_points_match_mne(case):
    """Times, the snap of a first time under half a sample to 0, the insertion of the
    recording's dev_head_t at 0 and the first_samp shift, as simulate_raw makes them."""
    info = mne.create_info(["a"], SFREQ, "mag")
    dev = np.eye(4)
    dev[:3, :3] = _rot("y", 0.1)
    dev[:3, 3] = [0.001, -0.002, 0.045]
    info["dev_head_t"] = mne.transforms.Transform("meg", "head", dev)
    times = {"at_zero": [0.0, 0.3, 0.61], "half_sample": [0.4 / SFREQ, 0.3, 0.61],
             "later": [0.25, 0.3, 0.61], "first_samp": [5.0, 5.3, 5.61],
             "dict": [0.1, 0.3, 0.61]}[case]
    first_samp = 1000 if case == "first_samp" else 0
    hp = _trajectory(times)
    given = hp
    if case == "dict":
        given = {float(t): tr for t, tr in zip(hp[:, 0], head_pos_transforms(hp), strict=True)}
    ref_t, ref_off = _check_head_pos(given, info, first_samp)
    pos = check_head_pos(given, sfreq=SFREQ, first_samp=first_samp)
    transforms, offsets, rows = control_points(pos, SFREQ, initial=dev)
    np.testing.assert_array_equal(offsets, ref_off)
    np.testing.assert_allclose(transforms, [d["trans"] for d in ref_t], rtol=0, atol=1e-15)
    assert rows[0] == (-1 if case in ("later", "dict") else 0)


def test_head_pos_transforms_closed_form():
    """q = (0, 0, sin(theta / 2)) is a rotation by theta about z, (sin(theta / 2), 0, 0)
    one about x."""
    theta = 0.3
    hp = np.array([[0.0, 0, 0, np.sin(theta / 2), 0.01, 0.02, 0.03, 1, 0, 0],
                   [0.5, np.sin(theta / 2), 0, 0, 0.0, 0.0, 0.04, 1, 0, 0]])
    t = head_pos_transforms(hp)
    np.testing.assert_allclose(t[0, :3, :3], _rot("z", theta), atol=1e-15)
    np.testing.assert_allclose(t[1, :3, :3], _rot("x", theta), atol=1e-15)
    np.testing.assert_array_equal(t[:, :3, 3], hp[:, 4:7])
    np.testing.assert_array_equal(t[:, 3], [[0, 0, 0, 1]] * 2)


# -------------------------------------------------------------------------- poses
def test_poses_rotation_closed_form():
    """dev_head_t turning by theta about z moves the head by -theta in the device
    (room) frame; cos2 blending turns it by -theta sin^2(pi/2 j / L) on the way, linear
    by -theta j / L, zero in one step."""
    theta, c1 = 0.2, 40
    hp = np.array([_row(0.0, np.eye(3), [0, 0, 0]), _row(c1 / SFREQ, _rot("z", theta),
                                                          [0, 0, 0])])
    j = np.arange(60)
    share = {"cos2": np.sin(np.pi / 2 * np.minimum(j, c1) / c1) ** 2,
             "linear": np.minimum(j, c1) / c1, "zero": (j >= c1).astype(float)}
    for interp, f in share.items():
        rot, trans = poses_at(hp, SFREQ, 0, 60, interp)
        want = np.array([_rot("z", -theta * x) for x in f])
        np.testing.assert_allclose(rot, want, rtol=0, atol=1e-14, err_msg=interp)
        np.testing.assert_allclose(trans, 0.0, atol=1e-16)


def test_poses_translation_and_reference():
    """The reference pose is the first row; a device origin 1 cm further along +y in the
    head frame means the head moved 1 cm along -y in the room. Before the first row the
    head stays at the reference pose."""
    r0 = _rot("x", 0.1)
    hp = np.array([_row(0.1, r0, [0, 0, 0.04]), _row(0.3, r0, [0, 0.01, 0.04])])
    rot, trans = poses_at(hp, SFREQ, 0, 80, "linear")
    np.testing.assert_allclose(rot, np.broadcast_to(np.eye(3), (80, 3, 3)), atol=1e-15)
    c0, c1 = 20, 60
    j = np.arange(80)
    f = np.clip((j - c0) / (c1 - c0), 0, 1)
    want = -np.outer(f, [0, 0.01, 0])  # room frame = head frame at the reference
    np.testing.assert_allclose(trans, want, rtol=0, atol=2e-17)  # rounding of 0.04 m


def test_poses_place_head_points():
    """At a row's sample a head-fixed point p is at T_0 inv(T_k) p (mne.transforms)."""
    hp = _trajectory([0.0, 0.2, 0.45])
    p = np.array([[0.03, -0.02, 0.09], [0.0, 0.05, 0.02]])
    for k, s in enumerate([0, 40, 90]):
        rot, trans = poses_at(hp, SFREQ, s, s + 1)
        t0, tk = head_pos_transforms(hp)[[0, k]]
        want = mne.transforms.apply_trans(t0 @ mne.transforms.invert_transform(
            mne.transforms.Transform("meg", "head", tk))["trans"], p)
        np.testing.assert_allclose(p @ rot[0].T + trans[0], want, rtol=0, atol=1e-15)


def test_poses_chunks():
    hp = _trajectory([0.0, 0.2, 0.45, 0.5])
    whole = poses_at(hp, SFREQ, 0, 150)
    parts = [poses_at(hp, SFREQ, a, b) for a, b in [(0, 13), (13, 90), (90, 150)]]
    for k in range(2):
        np.testing.assert_allclose(np.concatenate([p[k] for p in parts]), whole[k],
                                   rtol=0, atol=1e-16)


# ---------------------------------------------------------------------- validation
def _bad(hp, match, exc=ValueError, **kw):
    with pytest.raises(exc, match=match):
        check_head_pos(hp, sfreq=SFREQ, **kw)


def test_check_head_pos_accepts_and_copies():
    hp = _trajectory([0.0, 0.2, 0.45])
    out = check_head_pos(hp, sfreq=SFREQ, n_times=100)
    np.testing.assert_array_equal(out, hp)
    assert out is not hp and out.dtype == float


def test_check_head_pos_reads_pos_file(tmp_path):
    hp = _trajectory([0.0, 0.2, 0.45])
    mne.chpi.write_head_pos(tmp_path / "move.pos", hp)
    out = check_head_pos(tmp_path / "move.pos", sfreq=SFREQ)
    np.testing.assert_allclose(out, hp, rtol=0, atol=5e-6)  # the file keeps 5 decimals


def test_check_head_pos_errors():
    hp = _trajectory([0.0, 0.2, 0.45])
    bad = hp.copy()
    bad[1, 5] = np.nan
    _bad(bad, r"head_movement must be finite; row 1 column 5 \(y\) is nan")
    _bad(bad, "traj must be finite", name="traj")
    mm = hp.copy()
    mm[:, 4:7] *= 1000
    _bad(mm, r"row 0: translation .* exceeds 0.5 m; .*millimetres")
    back = hp[[0, 2, 1]]
    _bad(back, r"strictly increasing; row 2 has t = 0.2 after t = 0.45")
    same = hp.copy()
    same[1, 0] = 0.001  # 0.2 samples: rounds onto sample 0 with row 0
    _bad(same, "rows 0 and 1 .* fall on the same sample")
    neg = hp.copy()
    neg[:, 0] -= 0.1
    _bad(neg, r"times must be >= 0 s .*row 0 has t = -0.1")
    _bad(hp, r"after subtracting first_samp / sfreq = 0.5 s", first_samp=100)
    _bad(hp, r"row 2 has t = 0.45 s, after the last sample \(0.245 s .*milliseconds",
         n_times=50)
    q = hp.copy()
    q[2, 1:4] = [0.8, 0.6, 0.1]
    _bad(q, r"row 2: the quaternion part .* norm 1.00499 > 1")
    _bad(hp[:, :9], r"shape \(n, 10\) .*got shape \(3, 9\)")
    _bad(hp[0], r"shape \(n, 10\) .*got shape \(10,\)")
    _bad(hp[:0], "has no rows")
    _bad([["a"] * 10], "real numbers", TypeError)
    _bad(None, "got NoneType", TypeError)
    _bad([[0.0] * 10, [1.0] * 9], "ragged")
    skew = np.eye(4)
    skew[0, 1] = 0.5
    _bad({0.0: skew}, r"head_movement\[0.0\] must be a rigid 4x4 transform")
    _bad({"0": np.eye(4)}, "times .* as keys", TypeError)


def test_check_head_pos_dict_equals_array():
    hp = _trajectory([0.0, 0.2, 0.45])
    as_dict = {float(t): tr for t, tr in zip(hp[:, 0], head_pos_transforms(hp), strict=True)}
    out = check_head_pos(as_dict, sfreq=SFREQ)
    np.testing.assert_allclose(head_pos_transforms(out), head_pos_transforms(hp), atol=1e-15)


# ----------------------------------------------------------- sensors inside the head
def test_sensors_inside_the_scalp_are_named(sphere_head):
    """Moving the head 3 cm sideways in a Neuromag helmet seated 2 cm off the scalp (at
    the sides) pushes side coils into it; the error names the argument, the row, its
    time and a channel whose coil points the helmet geometry confirms inside."""
    array = qs.arrays.neuromag306(sphere_head)
    up = np.array([array.dev_head_t, array.dev_head_t])
    up[1, 0, 3] -= 0.03  # device origin 3 cm further -x in the head frame: head moved +x
    check_sensors_outside(array, sphere_head, up[:1])  # the seated helmet is fine
    with pytest.raises(ValueError, match=r"head_movement row 1 \(t = 0.5 s\) puts channel "
                       r"'MEG ?\d+' of the fixed helmet [\d.]+ mm inside the scalp") as err:
        check_sensors_outside(array, sphere_head, up, times=[0.0, 0.5])
    name = str(err.value).split("'")[1]
    moved = array.replace(dev_head_t=up[1]).pick([name])
    pts = moved.coil_points("accurate").points
    assert np.any(np.linalg.norm(pts - sphere_head.sphere_origin, axis=1) < 0.09)
    with pytest.raises(ValueError, match=r"traj the array's own dev_head_t \(in effect"):
        check_sensors_outside(array, sphere_head, up[::-1], "traj", rows=[-1, 0])


def test_sensors_outside_matches_testing_every_point(fsaverage_sphere):
    """On the fsaverage scalp mesh, a drifting head: the first row reported is the first
    row at which testing every coil point of every row (head.scalp.contains) finds one
    inside the scalp, and the channel named is one of those inside."""
    head = fsaverage_sphere
    array = qs.arrays.neuromag306(head).pick(np.arange(0, 306, 4))  # 77 channels: quicker
    n = 40
    rng = np.random.default_rng(3)
    tr = np.repeat(array.dev_head_t[None], n, axis=0)
    tr[:, :3, 3] += np.cumsum(rng.normal(0, 0.0015, (n, 3)), axis=0) + np.outer(
        np.linspace(0, 1, n), [0.0, 0.0, -0.03])  # sinking device: the head rises
    first = None
    for i in range(n):
        pts = array.replace(dev_head_t=tr[i]).coil_points("accurate")
        inside = head.scalp.contains(pts.points)
        if inside.any():
            first = i
            names = {array.names[c] for c in pts.segments[inside]}
            break
    print(f"first row inside: {first}")
    assert first is not None and first > 5  # the drift reaches the scalp part-way
    check_sensors_outside(array, head, tr[:first])
    with pytest.raises(ValueError, match=rf"head_movement row {first} puts channel") as err:
        check_sensors_outside(array, head, tr)
    assert str(err.value).split("'")[1] in names
