"""Lead fields: the field each channel reads from a unit current dipole at each source.

:func:`leadfield` evaluates the JAX kernels of :mod:`forward_models` in chunks of
sources (bounded memory) and returns an ``xarray.DataArray``; :func:`make_forward`
wraps the same numbers as an ``mne.Forward`` that MNE's inverse code accepts.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._checks import check_int, check_same_head
from .coils import _accuracy
from .head import Head
from .sensor_array import SensorArray
from .sources import SourceSpace, _points

__all__ = ["leadfield", "make_forward", "check_geometry", "DEFAULT_MEMORY_BUDGET"]

DEFAULT_MEMORY_BUDGET = 512 * 2**20
"""Bytes of intermediate arrays one chunk of sources may use (the output array, 24 bytes
per channel and source, comes on top)."""

_BYTES_PER_POINT_SOURCE = 8 * 12  # fused kernels keep a few (point, source) temporaries


def check_geometry(array, head, sources, *, name="sources"):
    """Validate an array, a head and sources for a forward computation.

    Checks types, that a :class:`SourceSpace` was built for this head, that the
    sources lie inside the conductor and that no channel is on or inside the scalp.
    Returns the sources as a :class:`SourceSpace`; ``name`` is the sources' argument
    name in messages.
    """
    if not isinstance(array, SensorArray):
        raise TypeError(f"array must be a qsense.SensorArray, got {type(array).__name__}")
    if not isinstance(head, Head):
        raise TypeError(f"head must be a qsense.Head, got {type(head).__name__}")
    if isinstance(sources, SourceSpace):
        src = sources
        check_same_head(name, src, head)
        trusted = (head.subject == "fsaverage" and src.subject == "fsaverage"
                   and src.kind in ("volume", "surface")
                   and np.allclose(src.head_mri_t, head.head_mri_t))
        if not trusted:
            d = head.brain_distance(src.positions)
            if np.any(d >= 0):
                i = int(np.argmax(d))
                raise ValueError(
                    f"{name} must lie inside the conductor of head {head.name!r}; source {i} "
                    f"at {src.positions[i].round(4).tolist()} m is {d[i] * 1e3:.1f} mm outside"
                )
    else:
        # positions: "sources" names them as "source positions"
        pos_name = "source positions" if name == "sources" else name
        src = _points(_check_source_positions(sources, pos_name), head, None, pos_name)
    gap = head.scalp_distance(array.positions)
    if np.any(gap <= 0):
        i = int(np.argmin(gap))
        raise ValueError(
            f"array has {int(np.sum(gap <= 0))} channel(s) on or inside the scalp, e.g. "
            f"{array.names[i]!r} at {array.positions[i].round(4).tolist()} m is "
            f"{-gap[i] * 1e3:.1f} mm inside; check positions, units (metres) and dev_head_t"
        )
    return src


def _check_source_positions(sources, name):
    """Sources given as positions: not MNE source spaces (they need a frame)."""
    import mne

    if isinstance(sources, mne.SourceSpaces):
        raise TypeError(f"{name} must be a qsense SourceSpace or positions (n, 3), got "
                        "mne.SourceSpaces; wrap it with qsense.sources.from_mne(src, head)")
    return sources


def _check_options(accuracy, memory_budget) -> int:
    """Check ``accuracy`` and ``memory_budget`` (bytes, returned as an int)."""
    _accuracy(accuracy)
    return check_int("memory_budget", memory_budget, low=1)


def _chunk_size(n_points, budget):
    return int(np.clip(budget // max(1, n_points * _BYTES_PER_POINT_SOURCE), 16, 16384))


def _evaluate(kernel, n_sources, chunk, n_channels, dtype=np.float64):
    """Run ``kernel(source_chunk_index_array)`` over fixed-size padded chunks."""
    out = np.empty((n_channels, n_sources, 3), dtype=dtype)
    for start in range(0, n_sources, chunk):
        stop = min(start + chunk, n_sources)
        idx = np.arange(start, start + chunk)
        idx[idx >= n_sources] = n_sources - 1  # pad with a repeat: one compiled shape
        block = np.asarray(kernel(idx))
        out[:, start:stop] = block[:, : stop - start]
    return out


def leadfield(
    array: SensorArray,
    head: Head,
    sources,
    *,
    accuracy: str = "accurate",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> xr.DataArray:
    """Lead field of a sensor array for current dipoles in a head.

    Parameters
    ----------
    array : SensorArray
    head : Head
        Its ``conductor`` evaluates the field (:mod:`qsense.conductors`): a sphere
        (Sarvas 1987) or the single-shell linear-collocation BEM (Hamalainen & Sarvas
        1989).
    sources : SourceSpace or array_like, shape (n_sources, 3)
        Dipole positions, head frame, m.
    accuracy : {"point", "normal", "accurate"}
        Coil integration accuracy (MNE's ``coil_def.dat``); "accurate" by default, as
        in ``mne.make_forward_solution``.
    memory_budget : int
        Bytes of intermediates per chunk of sources; the sources are processed in
        fixed-size chunks so that memory stays bounded whatever their number.

    Returns
    -------
    xarray.DataArray, dims (channel, source, orientation)
        Field read by each channel for a unit dipole along head-frame x, y, z:
        T/(A m) for magnetometers and axial gradiometers, T/(A m**2) for planar
        gradiometers (the ``units`` coordinate on ``channel`` says which).
    """
    memory_budget = _check_options(accuracy, memory_budget)
    src = check_geometry(array, head, sources)
    data = _compute(array, head, src, accuracy, memory_budget)
    return _to_dataarray(data, array, head, src, accuracy)


def _compute(array, head, src, accuracy, memory_budget):
    """Lead field values (n_channels, n_sources, 3) for already validated inputs."""
    cp = array.coil_points(accuracy)
    pos = src.positions
    chunk = _chunk_size(len(cp.points), memory_budget)
    chunk = min(chunk, max(16, int(2 ** np.ceil(np.log2(len(pos))))))
    n_ch = array.n_channels
    kernel = head.conductor.leadfield_kernel(cp, pos)
    return _evaluate(kernel, len(pos), chunk, n_ch)


def _to_dataarray(data, array, head, src, accuracy):
    planar = array.is_planar_gradiometer
    grad = array.is_gradiometer
    kind = np.where(planar, "planar_grad", np.where(grad, "axial_grad", "mag"))
    units = np.where(planar, "T/(A m^2)", "T/(A m)")
    return xr.DataArray(
        data,
        dims=("channel", "source", "orientation"),
        coords={
            "channel": ("channel", list(array.names), {"long_name": "channel name"}),
            "channel_kind": ("channel", kind.tolist(), {"long_name": "coil kind"}),
            "units": ("channel", units.tolist(), {"long_name": "unit of each row"}),
            "source": ("source", np.arange(len(src)), {"long_name": "source index"}),
            "source_x": ("source", src.positions[:, 0], {"units": "m",
                                                         "long_name": "source x (head)"}),
            "source_y": ("source", src.positions[:, 1], {"units": "m",
                                                         "long_name": "source y (head)"}),
            "source_z": ("source", src.positions[:, 2], {"units": "m",
                                                         "long_name": "source z (head)"}),
            "orientation": ("orientation", ["x", "y", "z"],
                            {"long_name": "dipole orientation (head frame axis)"}),
        },
        name="leadfield",
        attrs={
            "units": "T/(A m)",
            "long_name": "lead field (planar gradiometer rows in T/(A m^2))",
            "frame": "head",
            "head": head.name,
            "conductor": head.conductor.name,
            "accuracy": accuracy,
            "sensor": array.sensor,
        },
    )


def make_forward(array: SensorArray, head: Head, sources, *, accuracy: str = "accurate",
                 memory_budget: int = DEFAULT_MEMORY_BUDGET):
    """An ``mne.Forward`` (free orientation, head frame) for MNE's inverse code.

    Same arguments as :func:`leadfield`. The forward writes and reads as FIF
    (``mne.write_forward_solution``), converts (``mne.convert_forward_solution``,
    fixed orientation needs cortical sources) and feeds ``make_inverse_operator``.
    """
    import mne
    from mne.io.constants import FIFF

    memory_budget = _check_options(accuracy, memory_budget)
    src = check_geometry(array, head, sources)
    data = _compute(array, head, src, accuracy, memory_budget).reshape(array.n_channels, -1)
    info = array.to_info()
    mri_head_t = mne.transforms.Transform("mri", "head", np.linalg.inv(head.head_mri_t))
    fwd_info = mne.Info(
        chs=info["chs"], comps=info["comps"], dev_head_t=info["dev_head_t"],
        mri_file="", mri_id=dict(machid=np.zeros(2, np.int32), version=0, secs=0, usecs=0),
        meas_file="", meas_id=None, working_dir="", command_line="qsense.make_forward",
        bads=[], mri_head_t=mri_head_t,
    )
    fwd_info._update_redundant()
    fwd_info._check_consistency()
    mne_src = src.to_mne()
    for s in mne_src:
        mne.transform_surface_to(s, "head", mri_head_t)
    names = list(array.names)
    sol = dict(data=data, nrow=data.shape[0], ncol=data.shape[1], row_names=names,
               col_names=[])
    fwd = mne.Forward(
        sol=sol, source_ori=FIFF.FIFFV_MNE_FREE_ORI, nsource=len(src),
        coord_frame=FIFF.FIFFV_COORD_HEAD, sol_grad=None, nchan=len(names),
        _orig_source_ori=FIFF.FIFFV_MNE_FREE_ORI, _orig_sol=data.copy(),
        _orig_sol_grad=None, info=fwd_info, src=mne_src,
        source_nn=np.tile(np.eye(3), (len(src), 1)), source_rr=src.positions.copy(),
        surf_ori=False, mri_head_t=mri_head_t,
    )
    return fwd
