"""Figures of qsense results, drawn on :class:`matplotlib.figure.Figure` objects.

Nothing here touches pyplot or the matplotlib backend: pass an Axes to draw into your
own figure, or take the returned Axes' ``.figure`` and call ``savefig`` on it.

- :func:`plot_budget`: the noise budget of one array (every contributor and the total);
- :func:`plot_noise_spectra`: the total noise of several arrays on one axes;
- :func:`plot_sensor_layout`: where the sensors sit on the head, flat (``"2d"``) or in
  perspective (``"3d"``);
- :func:`plot_topography`: one value per channel (a field map) on the flat layout;
- :func:`layout_coordinates`: the flat layout itself.

Maps on the cortex: :func:`qsense.plot_brain_map` (:mod:`qsense.brainmap`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["plot_budget", "plot_noise_spectra", "plot_sensor_layout", "plot_topography",
           "layout_coordinates"]

_MAG_UNIT = "T/sqrt(Hz)"
_GRAD_UNIT = "T/(m sqrt(Hz))"


def _new_axes(ax, figsize, projection=None):
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot(projection=projection)


def _budget_channels(ds: xr.Dataset, unit: str | None):
    """Channels of one unit (default: the magnetometer unit where several are present)
    and that unit."""
    if "unit" not in ds.coords:
        return ds, unit or _MAG_UNIT
    units = [str(u) for u in ds["unit"].values]
    present = sorted(set(units))
    if unit is None:
        unit = _MAG_UNIT if _MAG_UNIT in present else present[0]
    if unit not in present:
        raise ValueError(f"unit={unit!r} is not among the budget's channel units {present}")
    if len(present) == 1:
        return ds, unit
    return ds.isel(channel=[i for i, u in enumerate(units) if u == unit]), unit


def _budget_scale(unit: str):
    """(factor, label) turning SI spectral densities into the plotted unit."""
    if unit == _GRAD_UNIT:
        return 1e13, "fT/(cm sqrt(Hz))"
    return 1e15, "fT/sqrt(Hz)"


def plot_budget(ds: xr.Dataset, ax=None, title: str | None = None, *, unit: str | None = None):
    """Plot the channel-median ASD of every contributor and the total.

    Parameters
    ----------
    ds : xarray.Dataset
        A noise budget from :func:`qsense.budget.noise_budget`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. Default: a new ``matplotlib.figure.Figure`` (7 x 4.5 in),
        not registered with pyplot.
    title : str, optional
        Default: ``"<sensor> in room <room>"`` from the dataset's attributes.
    unit : {"T/sqrt(Hz)", "T/(m sqrt(Hz))"}, optional
        Which channels to take the median over where the array mixes magnetometers and
        planar gradiometers (a median over both units would mean nothing). Default: the
        magnetometers where present. Drawn in fT/sqrt(Hz) or fT/(cm sqrt(Hz)).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into; ``ax.figure.savefig(path)`` writes the figure.
    """
    ax = _new_axes(ax, (7, 4.5))
    mixed = "unit" in ds.coords and len(set(map(str, ds["unit"].values))) > 1
    ds, unit = _budget_channels(ds, unit)
    scale, label = _budget_scale(unit)
    f = ds["frequency"].values
    for c in ds["contributor"].values:
        y = ds["asd"].sel(contributor=c).median("channel").values * scale
        if np.any(y > 0):
            ax.loglog(f, y, label=str(c))
    total = ds["total"].median("channel").values * scale
    ax.loglog(f, total, "k", lw=2, label="total")
    # contributors far below the total (line skirts, tiny tails) say nothing: clip there
    ax.set_ylim(bottom=1e-3 * float(np.min(total)))
    ax.set_xlabel("frequency (Hz)")
    which = (" of the magnetometers" if unit == _MAG_UNIT else " of the gradiometers") \
        if mixed else ""
    ax.set_ylabel(f"ASD, channel median{which} ({label})")
    ax.set_title(title or f"{ds.attrs.get('sensor')} in room {ds.attrs.get('room')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


# line styles that keep overlapping curves apart: thick solid under thinner dashed ones
CURVE_STYLES = (
    dict(ls="-", lw=3.2, marker="o", alpha=0.55),
    dict(ls="--", lw=2.0, marker="s"),
    dict(ls=":", lw=2.4, marker="^"),
    dict(ls="-.", lw=1.4, marker="D"),
    dict(ls=(0, (5, 1, 1, 1, 1, 1)), lw=1.2, marker="v"),
    dict(ls=(0, (1, 1)), lw=1.0, marker="x"),
)


def curve_style(i: int) -> dict:
    """Line style ``i`` of :data:`CURVE_STYLES` (cycled), colour ``C<i>``."""
    return dict(CURVE_STYLES[i % len(CURVE_STYLES)], color=f"C{i % 10}")


def plot_noise_spectra(budgets, ax=None, *, unit: str | None = None, title: str | None = None):
    """Total noise (channel median) of several arrays on one axes.

    Parameters
    ----------
    budgets : mapping of str to xarray.Dataset
        Label -> noise budget (:func:`qsense.budget.noise_budget`).
    ax : matplotlib.axes.Axes, optional
        Default: a new Figure (7 x 4.5 in).
    unit : {"T/sqrt(Hz)", "T/(m sqrt(Hz))"}, optional
        Channels drawn (see :func:`plot_budget`); default the magnetometers where an
        array mixes units. An array without channels of that unit is left out.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not budgets:
        raise ValueError("budgets is empty: pass at least one label -> noise budget")
    ax = _new_axes(ax, (7, 4.5))
    want = unit or _MAG_UNIT
    scale, label = _budget_scale(want)
    drawn = 0
    for i, (name, ds) in enumerate(budgets.items()):
        try:
            sub, u = _budget_channels(ds, want)
        except ValueError:
            continue
        style = curve_style(i)
        style.pop("marker")
        ax.loglog(sub["frequency"].values, sub["total"].median("channel").values * scale,
                  label=str(name), **style)
        drawn += 1
    if not drawn:
        raise ValueError(f"no budget has channels in {want}")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel(f"total noise, channel median ({label})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


# ------------------------------------------------------------------ layouts
def _fit_origin(pos: np.ndarray) -> np.ndarray:
    """Centre of the least-squares sphere through the points (linear fit)."""
    a = np.c_[2 * pos, np.ones(len(pos))]
    sol, *_ = np.linalg.lstsq(a, np.sum(pos**2, axis=1), rcond=None)
    return sol[:3]


def layout_coordinates(array, origin=None) -> np.ndarray:
    """Flat layout of the channels: azimuthal equidistant projection about an origin.

    Seen from above, nose up (+y), right ear right (+x); a channel at polar angle
    theta from +z (the vertex) and azimuth phi lies at ``(theta / 90 deg) (cos phi, sin
    phi)``: the circle of radius 1 is the origin's horizontal plane (the head outline).

    Parameters
    ----------
    array : qsense.SensorArray
    origin : array_like, shape (3,), optional
        Head frame, m; default the centre of the sphere fitted to the channel positions
        (``head.sphere_origin`` is a good choice for a :class:`qsense.Head`).

    Returns
    -------
    ndarray, shape (n_channels, 2)
    """
    from ._checks import check_points, validate_type
    from .sensor_array import SensorArray

    validate_type(array, SensorArray, "array", "qsense.SensorArray")
    pos = np.asarray(array.positions, dtype=float)
    o = _fit_origin(pos) if origin is None else check_points("origin", np.reshape(
        np.asarray(origin, dtype=float), (1, 3)))[0]
    r = pos - o
    theta = np.arccos(np.clip(r[:, 2] / np.linalg.norm(r, axis=1), -1, 1))
    phi = np.arctan2(r[:, 1], r[:, 0])
    return np.c_[np.cos(phi), np.sin(phi)] * (theta / (np.pi / 2))[:, None]


def _head_outline(ax):
    t = np.linspace(0, 2 * np.pi, 200)
    kw = dict(color="0.35", lw=1.2, zorder=1)
    ax.plot(np.cos(t), np.sin(t), **kw)
    ax.plot([-0.1, 0.0, 0.1], [0.995, 1.1, 0.995], **kw)  # nose (+y)
    ear = np.linspace(-0.2, 0.2, 20)
    ax.plot(1 + 0.05 * np.cos(ear / 0.2 * np.pi / 2), ear, **kw)
    ax.plot(-1 - 0.05 * np.cos(ear / 0.2 * np.pi / 2), ear, **kw)


def _origin(array, head, origin):
    if origin is not None:
        return origin
    if head is not None:
        return head.sphere_origin
    return _fit_origin(np.asarray(array.positions, dtype=float))


def plot_sensor_layout(array, ax=None, *, head=None, view: str = "2d", origin=None,
                       title: str | None = None):
    """Where the channels sit: flat from above (``"2d"``) or in perspective (``"3d"``).

    Parameters
    ----------
    array : qsense.SensorArray
    ax : matplotlib.axes.Axes, optional
        For ``view="3d"`` a 3-D axes (``fig.add_subplot(projection="3d")``). Default: a
        new Figure (4.5 x 4.5 in).
    head : qsense.Head, optional
        Draws its scalp in the 3-D view and centres the flat layout on its sphere origin.
    view : {"2d", "3d"}
    origin : array_like, shape (3,), optional
        Centre of the flat projection (see :func:`layout_coordinates`).
    title : str, optional
        Default: the array's label and channel count.

    Returns
    -------
    matplotlib.axes.Axes
        Magnetometers are circles, planar gradiometers triangles, axial gradiometers
        squares; the 3-D view draws each channel's sensitive axis (1 cm).
    """
    from ._checks import check_option

    check_option("view", view, ("2d", "3d"))
    if head is not None:
        from ._checks import validate_type
        from .head import Head

        validate_type(head, Head, "head", "qsense.Head")
    planar = np.asarray(array.is_planar_gradiometer)
    axial = np.asarray(array.is_gradiometer) & ~planar
    # (name, marker, size, filled, colour, channels); planar gradiometers share their
    # magnetometer's position (Neuromag triplets): larger hollow triangles around it
    groups = [("planar gradiometer", "^", 8, False, "C2", planar),
              ("magnetometer", "o", 4, True, "C0", ~np.asarray(array.is_gradiometer)),
              ("axial gradiometer", "s", 4, True, "C3", axial)]
    title = title or f"{array.sensor}: {array.n_channels} channels"
    if view == "2d":
        ax = _new_axes(ax, (4.5, 4.5))
        xy = layout_coordinates(array, _origin(array, head, origin))
        _head_outline(ax)
        for name, marker, size, filled, colour, sel in groups:
            if np.any(sel):
                pts = np.unique(np.round(xy[sel], 6), axis=0)
                ax.plot(pts[:, 0], pts[:, 1], marker, ms=size, ls="none", mec=colour,
                        mfc=colour if filled else "none", label=f"{name} ({int(np.sum(sel))})")
        lim = max(1.15, float(np.max(np.abs(xy))) + 0.1)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=2,
                  frameon=False)
        ax.set_title(title + "\n(seen from above, nose up)", fontsize=9)
        return ax
    ax = _new_axes(ax, (4.5, 4.5), projection="3d")
    pos = np.asarray(array.positions, dtype=float) * 1e3
    if head is not None:
        rr = head.scalp.rr * 1e3
        ax.plot_trisurf(rr[:, 0], rr[:, 1], rr[:, 2], triangles=head.scalp.tris,
                        color="0.85", alpha=0.25, linewidth=0, shade=True)
    for name, marker, size, filled, colour, sel in groups:
        if np.any(sel):
            ax.scatter(*pos[sel].T, marker=marker, s=2 * size, depthshade=False, label=name,
                       edgecolors=colour, facecolors=colour if filled else "none")
    ez = np.asarray(array.orientations, dtype=float) * 10.0  # 1 cm arrows
    ax.quiver(*pos.T, *ez.T, color="C1", linewidth=0.5, arrow_length_ratio=0.0)
    ax.view_init(elev=20, azim=200)
    ax.set_box_aspect((1, 1, 1))
    pts = pos if head is None else np.vstack([pos, head.scalp.rr * 1e3])
    c, h = pts.mean(axis=0), 0.5 * float(np.max(np.ptp(pts, axis=0)))
    for setter, k in ((ax.set_xlim, 0), (ax.set_ylim, 1), (ax.set_zlim, 2)):
        setter(c[k] - h, c[k] + h)
    ax.set_xlabel("x (mm)", fontsize=7)
    ax.set_ylabel("y (mm)", fontsize=7)
    ax.set_zlabel("z (mm)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(title + "\n(head frame, left front view)", fontsize=9)
    return ax


def plot_topography(array, values, ax=None, *, picks=None, origin=None, head=None,
                    cmap: str = "RdBu_r", vmax: float | None = None,
                    label: str = "field (fT)", scale: float = 1e15, title: str | None = None,
                    colorbar: bool = True):
    """One value per channel drawn on the flat layout (filled contours between channels).

    Parameters
    ----------
    array : qsense.SensorArray
    values : array_like, shape (n_channels,)
        E.g. the field of a dipole at each channel, T.
    ax : matplotlib.axes.Axes, optional
        Default: a new Figure (4.5 x 4.2 in).
    picks : array_like of bool or int, optional
        Channels to draw; default the magnetometers where the array mixes magnetometers
        and planar gradiometers, else all. Channels at the same position: the first.
    origin, head : optional
        Centre of the flat layout (see :func:`plot_sensor_layout`).
    cmap : str
    vmax : float, optional
        Colour limits +-vmax in drawn units; default the largest |value|.
    label : str
        Colour-bar label.
    scale : float
        Factor from ``values`` to drawn units (default T -> fT).
    title : str, optional
    colorbar : bool

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.tri import Triangulation

    vals = np.asarray(values, dtype=float)
    if vals.shape != (array.n_channels,):
        raise ValueError(f"values must have shape ({array.n_channels},) (one per channel), "
                         f"got {vals.shape}")
    if not np.all(np.isfinite(vals)):
        raise ValueError("values must be finite")
    if picks is None:
        grad = np.asarray(array.is_planar_gradiometer)
        picks = ~grad if grad.any() and not grad.all() else np.ones(array.n_channels, bool)
    idx = np.arange(array.n_channels)[np.asarray(picks)]
    if idx.size < 3:
        raise ValueError(f"picks must select at least 3 channels, got {idx.size}")
    xy = layout_coordinates(array, _origin(array, head, origin))[idx]
    _, first = np.unique(np.round(xy, 6), axis=0, return_index=True)
    keep = np.sort(first)
    xy, v = xy[keep], vals[idx][keep] * scale
    ax = _new_axes(ax, (4.5, 4.2))
    m = float(np.max(np.abs(v))) if vmax is None else float(vmax)
    m = m or 1.0
    levels = np.linspace(-m, m, 17)
    cs = ax.tricontourf(Triangulation(xy[:, 0], xy[:, 1]), np.clip(v, -m, m), levels=levels,
                        cmap=cmap, extend="neither")
    ax.plot(xy[:, 0], xy[:, 1], "k.", ms=1.5)
    _head_outline(ax)
    lim = max(1.15, float(np.max(np.abs(xy))) + 0.1)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if colorbar:
        cb = ax.figure.colorbar(cs, ax=ax, shrink=0.7, ticks=np.linspace(-m, m, 5))
        cb.set_label(label, fontsize=8)
        cb.ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
