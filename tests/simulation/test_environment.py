"""The environment stage against closed forms and against the noise budget.

* Sensor physics in a uniform remnant field (issue 12, must-show 2): the Bloch-model
  OPM readings equal the SERF steady state (PHYSICS.md section 2) of the total field,
  the source part first-order low-passed: the gain of each transverse axis drops and
  the cross-axis projection term appears.
* Sensors moving through a known field (must-show 3, on-scalp part): the reading is
  the field's projection on the moved coil, from MNE's own coil definitions.
* Empty-room spectra and interference rejection against ``qsense budget``
  (must-show 4).
* Paired arrays share the environment's draws; seeds and chunking (must-show 6).
"""

import mne
import numpy as np
from mne.forward._make_forward import _create_meg_coils, _read_coil_defs
from scipy import signal
from scipy.spatial.transform import Rotation

import qsense as qs
from qsense.environment import Environment, Room


def _lowpass(x, sfreq, f3db):
    """Continuous first-order low-pass of the linearly interpolated samples, settled at
    the first sample (scipy.signal.lsim)."""
    a = 2 * np.pi * f3db
    sys = signal.StateSpace([[-a]], [[a]], [[1.0]], [[0.0]])
    t = np.arange(x.shape[-1]) / sfreq
    return np.array([signal.lsim(sys, row, t, X0=[row[0]])[1] for row in x])


def _still_room(b0=(0.0, 0.0, 0.0), gradient=(0.0,) * 9, **changes):
    """A room with only a remnant field and gradient (no interferers, power line,
    movement or shield noise)."""
    room = Room(name="test", s0=1.0, remnant_field=tuple(b0), remnant_gradient=tuple(gradient))
    kw = dict(room=room, sources=(), power_line=None, movement=None)
    kw.update(changes)
    return Environment(**kw)


# ------------------------------------------------------------------ must-show 2
def _readings(b):
    """The SERF steady state read as the dual-axis sensor reads it, in linewidths:
    (x, y) = (-P_y, P_x) / P0 = ((b_x - b_y b_z), (b_y + b_x b_z)) / (1 + |b|^2)
    (PHYSICS.md section 2)."""
    den = 1 + np.sum(b**2, axis=0)
    return np.stack([(b[0] - b[1] * b[2]) / den, (b[1] + b[0] * b[2]) / den])


def test_remnant_field_gain_drop_and_cape(sphere_head, sphere_points, sim):
    """A dual-axis OPM in a uniform remnant field, 12 nT along its beam and 3 and -2 nT
    across. Its static reading is the SERF steady state of the remnant field; its small
    signals are read with the gains of the closed form: d(x)/d(b_x) = 1 / (1 + b_y0^2 +
    b_z0^2) and d(y)/d(b_y) = 1 / (1 + b_x0^2 + b_z0^2) when the read component's own
    static part is zero, and cross-axis terms (b_x0 b_z0, b_y0 b_z0, ...) carry the
    other components into each reading.

    The gains are recovered by least squares on the three low-passed components of the
    source field and their time derivatives: in the static field the response is no
    longer a plain low-pass (the spins precess about it), which at frequency f adds
    terms of first order in f / f_3dB in quadrature, absorbed by the derivatives; the
    rest is of second order, about 1e-4 for the 0.3-1.9 Hz signals used here."""
    sfreq = 500.0
    full = qs.arrays.opm_on_scalp(sphere_head, 4, "dual")
    array = full.pick(np.flatnonzero(full.sensor_index == full.sensor_index[0]))
    model = array.channel_presets[0].bloch
    lw, f3db = model.linewidth, model.bandwidth
    _, _, frames, ch_axis, ch_sign, mode = qs.opm.sensor_frames_from_array(array)
    assert mode == "dual" and array.n_channels == 2
    b0 = frames[0].T @ np.array([3e-9, -2e-9, 12e-9])  # readings inside the +-5 nT range
    env = _still_room(b0)
    rng = np.random.default_rng(7)
    t = np.arange(7500) / sfreq
    x = sum(rng.standard_normal((3, 1)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (3, 1)))
            for f in (0.3, 0.7, 1.3, 1.9))
    stc = sim.point_stc(sphere_points, 20e-9 * x / np.abs(x).max(), sfreq)
    real = qs.simulate_raw(array, sphere_head, sphere_points, stc, environment=env,
                           noise=False, chunk_duration=4.0).get_data()
    # a uniform field reaches the cell as MNE's "accurate" coil definition integrates it:
    # its weights sum to 1.0008, not 1 (rounded in MNE's coil_def.dat)
    w = [d["w"].sum() for d in _read_coil_defs(verbose=False)
         if d["coil_type"] == array.coil_types[0] and d["accuracy"] == 2]
    assert len(w) == 1 and abs(w[0] - 1) < 1e-3
    beta0 = w[0] * frames[0] @ b0 / lw
    # the source field in the pump frame, low-passed (small signals: first order)
    cells = qs.simulation.true_field(array, sphere_head, sphere_points, stc)["cell_field"]
    src = _lowpass(frames[0] @ cells.values[0], sfreq, f3db)  # (3, n), T
    peak = np.abs(src).max()
    assert 1e-14 < peak < 1e-12  # small against the 25 nT half-width
    # closed-form Jacobian of the readings at beta0, central differences of _readings
    eps = 1e-6
    jac = np.stack([(_readings(beta0 + eps * e) - _readings(beta0 - eps * e)) / (2 * eps)
                    for e in np.eye(3)], axis=-1)  # (reading, component)
    static = lw * _readings(beta0)
    settle = 200  # the start-up (settled at the first sample's field) has decayed
    deriv = np.gradient(src, axis=1) * sfreq / (2 * np.pi * f3db)
    X = np.column_stack([src[:, settle:].T / peak, deriv[:, settle:].T / peak,
                         np.ones(real.shape[1] - settle)])
    for c in range(2):
        a = ch_axis[c]
        got, *_ = np.linalg.lstsq(X, ch_sign[c] * real[c, settle:] / peak, rcond=None)
        np.testing.assert_allclose(got[:3], jac[a], atol=1e-3)
        assert abs(got[6] * peak - static[a]) <= 1e-3 * peak
    # the closed form's gains and cross terms, and that they are visible here
    b, den = beta0, 1 + np.sum(beta0**2)
    # d(x)/d(b_x) = (1 + b_y0^2 + b_z0^2 - b_x0^2 + 2 b_x0 b_y0 b_z0) / (1 + b0^2)^2, which
    # is 1 / (1 + b_y0^2 + b_z0^2) at b_x0 = 0; likewise for y
    assert abs(jac[0, 0] - (1 + b[1]**2 + b[2]**2 - b[0]**2 + 2 * b[0] * b[1] * b[2])
               / den**2) < 1e-8
    assert abs(jac[1, 1] - (1 + b[0]**2 + b[2]**2 - b[1]**2 - 2 * b[0] * b[1] * b[2])
               / den**2) < 1e-8
    assert jac[0, 0] < 0.85 and jac[1, 1] < 0.85
    assert abs(jac[0, 1]) > 0.1 and abs(jac[1, 0]) > 0.1  # cross-axis projection


# ------------------------------------------------------------------ must-show 3
def _moves(n, sfreq):
    """A large, smooth head trajectory: up to 11 degrees about a tilted axis and 1 cm."""
    t = np.arange(n) / sfreq
    angle = 0.2 * np.sin(2 * np.pi * 0.7 * t)
    axis = np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2])
    R = Rotation.from_rotvec(angle[:, None] * axis).as_matrix()
    T = np.stack([0.01 * np.sin(2 * np.pi * 0.4 * t), 0.005 * np.cos(2 * np.pi * t) - 0.005,
                  -0.003 * t], axis=1)
    return R, T


def _mne_coils(array):
    """MNE's own "accurate" coil integration points in the head frame."""
    info = array.to_info(1000.0)
    return _create_meg_coils(info["chs"], "accurate", t=info["dev_head_t"])


def test_moving_opm_reads_field_projection(sphere_head, sphere_points, sim):
    """An OPM array turned and shifted through a room with a known uniform field and
    gradient, no sources, ideal sensors, given as MNE head positions: each channel reads
    sum_k w_k (R n_k) . B(R r_k + T) over MNE's coil points (= B(r(t)) . n(t) for
    a field linear in position), to 1e-6; at every sample, whatever the chunking."""
    sfreq, n = 500.0, 1000
    b0 = np.array([1e-9, -2e-9, 3e-9])
    G = np.array([[2.0, 1.0, 0.0], [1.0, -1.5, 0.5], [0.0, 0.5, -0.5]]) * 1e-9
    env = _still_room(b0, G.ravel())
    array = qs.arrays.opm_on_scalp(sphere_head, 8, "radial")
    R, T = _moves(n, sfreq)
    # MNE head positions: dev_head_t at each sample, so that the head's pose in the room
    # (the device frame, = head frame at the first sample) is (R, T)
    hp = np.zeros((n, 10))
    hp[:, 0] = np.arange(n) / sfreq
    inv_R = np.transpose(R, (0, 2, 1))
    hp[:, 1:4] = mne.transforms.rot_to_quat(inv_R)
    hp[:, 4:7] = -np.einsum("tij,tj->ti", inv_R, T)
    raw = qs.simulate_raw(array, sphere_head, sphere_points, None, environment=env,
                          head_movement=hp, duration=n / sfreq, sfreq=sfreq,
                          sensor_physics=False, noise=False, chunk_duration=0.37)
    got = raw.get_data()
    want = np.empty_like(got)
    for c, coil in enumerate(_mne_coils(array)):
        x = np.einsum("tij,kj->tki", R, coil["rmag"]) + T[:, None]
        nr = np.einsum("tij,kj->tki", R, coil["cosmag"])
        want[c] = np.einsum("k,tki,tki->t", coil["w"], nr, b0 + x @ G.T)
    err = sim.rel(got, want)
    assert err <= 1e-6, err
    # and the movement is visible: a still array reads ~1e-1 different
    assert sim.rel(np.repeat(got[:, :1], n, axis=1), want) > 1e-2
