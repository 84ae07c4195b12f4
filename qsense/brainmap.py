"""Maps on the brain, offline: any per-source quantity drawn on the fsaverage cortex.

:func:`plot_brain_map` draws an ``mne.SourceEstimate`` on qsense's cortical sources, a
per-source array (``xarray.DataArray`` or NumPy) or a column of the comparison study's
``compare.nc`` on nilearn's fsaverage5 surfaces (inflated, pial or white; they ship in
nilearn's wheel, so nothing is downloaded) and returns a ``matplotlib.figure.Figure``. It
uses neither pyplot nor a 3-D backend: each view is an orthographic projection of the
surface's front-facing triangles, rasterised with a depth buffer into an image (which
triangle each pixel shows is computed once per surface, view and size, so drawing another
map costs a colour look-up), lit from the viewer (Lambert), and shown with ``imshow``.

Vertex numbers
--------------
qsense's cortex (:func:`qsense.sources.cortex`) puts its sources on fsaverage5 vertices:
``cortex(head, spacing).to_mne()`` numbers them ``0 .. n-1`` in each hemisphere, ``n`` =
162, 642, 2562 or 10242 for ico2 .. ico5. fsaverage5 is the ico-5 subdivision: its
registration sphere equals MNE's ico-5 surface vertex for vertex, and its first 642 /
2562 vertices are the ico-3 / ico-4 vertices (``tests/report/test_brainmap.py`` checks
both against ``mne.surface``), and fsaverage's own first 10242 vertices are the same
ico-5 vertices (so ``fsaverage-ico-5-src`` vertex numbers are fsaverage5 numbers).

Between the sources: nearest neighbour
--------------------------------------
A coarse source space leaves most fsaverage5 vertices without a value. Each such vertex
takes the value of the NEAREST SOURCE VERTEX ON THE REGISTRATION SPHERE (fsaverage5
``sphere_left/right``; distances along the sphere, where neighbours on the cortex are
neighbours, unlike the folded surface). No interpolation: every colour drawn is a value of
the data, and a triangle shows the mean of its three vertices' values.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ._checks import check_bool, check_int, check_option

__all__ = ["plot_brain_map", "HEMIS", "VIEWS", "SURFACES"]

HEMIS = ("lh", "rh")
SURFACES = ("inflated", "pial", "white")
_N_FSAVERAGE5 = 10242  # vertices per hemisphere (ico-5)
_SURFACE_KEY = {"inflated": "infl", "pial": "pial", "white": "white"}
_HEMI_NAME = {"lh": "left", "rh": "right"}
_HEMI_ALIASES = {"lh": "lh", "left": "lh", "l": "lh", "rh": "rh", "right": "rh", "r": "rh"}

# view -> (direction towards the viewer, screen up), for the left hemisphere; the right
# hemisphere mirrors x (its lateral side faces +x)
VIEWS = ("lateral", "medial", "dorsal", "ventral", "anterior", "posterior")
_VIEW_GEOMETRY = {
    "lateral": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "medial": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "dorsal": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
    "ventral": ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),
    "anterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
}


# ------------------------------------------------------------------ the surfaces
@functools.cache
def _fsaverage5() -> dict:
    """nilearn's fsaverage5 files (paths inside nilearn's wheel; no download)."""
    from nilearn.datasets import fetch_surf_fsaverage

    return dict(fetch_surf_fsaverage("fsaverage5"))


@functools.cache
def _mesh(surface: str, hemi: str):
    """(vertices in mm, triangles) of one fsaverage5 surface, read-only."""
    import nibabel as nib

    g = nib.load(_fsaverage5()[f"{_SURFACE_KEY[surface]}_{_HEMI_NAME[hemi]}"])
    rr = np.asarray(g.darrays[0].data, dtype=float)
    tris = np.asarray(g.darrays[1].data, dtype=np.int64)
    rr.flags.writeable = tris.flags.writeable = False
    return rr, tris


@functools.cache
def _sulc(hemi: str) -> np.ndarray:
    import nibabel as nib

    out = np.asarray(nib.load(_fsaverage5()[f"sulc_{_HEMI_NAME[hemi]}"]).darrays[0].data,
                     dtype=float)
    out.flags.writeable = False
    return out


@functools.cache
def _sphere_unit(hemi: str):
    """Unit vectors of the registration sphere's vertices."""
    rr, _ = _mesh_sphere(hemi)
    return rr / np.linalg.norm(rr, axis=1, keepdims=True)


@functools.cache
def _mesh_sphere(hemi: str):
    import nibabel as nib

    g = nib.load(_fsaverage5()[f"sphere_{_HEMI_NAME[hemi]}"])
    return np.asarray(g.darrays[0].data, dtype=float), np.asarray(g.darrays[1].data)


def _fill_nearest(hemi: str, vertno: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values on all fsaverage5 vertices of ``hemi``: each vertex takes the value of the
    nearest vertex of ``vertno`` on the registration sphere."""
    out = np.full(_N_FSAVERAGE5, np.nan)
    if vertno.size == 0:
        return out
    if vertno.size == _N_FSAVERAGE5 and np.array_equal(np.sort(vertno),
                                                      np.arange(_N_FSAVERAGE5)):
        out[vertno] = values
        return out
    from scipy.spatial import cKDTree

    unit = _sphere_unit(hemi)
    _, nearest = cKDTree(unit[vertno]).query(unit)
    return values[nearest]


# ------------------------------------------------------------------ the data
def _hemi_key(value, name: str) -> str:
    key = _HEMI_ALIASES.get(str(value).strip().lower())
    if key is None:
        raise ValueError(f"{name} holds {value!r}; a hemisphere must be one of 'lh', 'rh' "
                         "(or 'left', 'right')")
    return key


def _check_vertno(vertno, hemi: str, what: str) -> np.ndarray:
    v = np.asarray(vertno)
    if v.ndim != 1 or (v.size and not np.issubdtype(v.dtype, np.integer)):
        raise ValueError(f"{what}: the {hemi} vertex numbers must be a 1-D integer array, got "
                         f"dtype {v.dtype}, shape {v.shape}")
    bad = v[(v < 0) | (v >= _N_FSAVERAGE5)]
    if bad.size:
        raise ValueError(
            f"{what}: {hemi} vertex {int(bad[0])} is not an fsaverage5 vertex (0 to "
            f"{_N_FSAVERAGE5 - 1}, the ico-5 vertices of fsaverage); morph the estimate to "
            "an ico-5 or coarser fsaverage source space first (mne.compute_source_morph(..., "
            "subject_to='fsaverage', spacing=5))")
    if np.unique(v).size != v.size:
        raise ValueError(f"{what}: the {hemi} vertex numbers repeat a vertex")
    return v.astype(np.int64)


def _source_vertices(sources, what="sources") -> list[np.ndarray]:
    """[lh vertno, rh vertno] of a qsense cortex or an ``mne.SourceSpaces``."""
    import mne

    from .sources import SourceSpace

    if isinstance(sources, SourceSpace):
        if sources.kind != "surface" or sources.mne_src is None:
            raise ValueError(f"{what} must be a cortical source space (qsense.sources.cortex);"
                             f" got a {sources.kind} source space")
        src = sources.mne_src
    elif isinstance(sources, mne.SourceSpaces):
        src = sources
    else:
        raise TypeError(f"{what} must be a qsense SourceSpace (qsense.sources.cortex) or "
                        f"mne.SourceSpaces, got {type(sources).__name__}")
    if len(src) != 2 or any(s["type"] != "surf" for s in src):
        raise ValueError(f"{what} must hold two cortical surfaces (lh, rh), got "
                         f"{[s['type'] for s in src]}")
    subject = src[0].get("subject_his_id")
    if subject not in (None, "fsaverage"):
        raise ValueError(f"{what} belong to subject {subject!r}; brain maps are drawn on "
                         "fsaverage (morph to fsaverage first)")
    return [_check_vertno(s["vertno"], h, what) for s, h in zip(src, HEMIS, strict=True)]


def _default_vertices(n: int, what: str) -> list[np.ndarray]:
    from .sources import CORTEX_SPACINGS

    for per in CORTEX_SPACINGS.values():
        if n == 2 * per:
            return [np.arange(per), np.arange(per)]
    allowed = ", ".join(f"{2 * p} ({s})" for s, p in CORTEX_SPACINGS.items())
    raise ValueError(f"{what} has {n} values; without sources= its length must be that of a "
                     f"qsense cortex, {allowed}; pass sources= for any other source space")


def _check_values(values, what: str, allow_nan: bool) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must hold real numbers, got dtype "
                        f"{np.asarray(values).dtype}") from None
    if v.ndim != 1:
        raise ValueError(f"{what} must be one value per source (1-D), got shape {v.shape}")
    if np.any(np.isinf(v)):
        i = int(np.flatnonzero(np.isinf(v))[0])
        raise ValueError(f"{what} must be finite; source {i} is {v[i]}")
    if not allow_nan and np.any(np.isnan(v)):
        nan = np.flatnonzero(np.isnan(v))
        raise ValueError(f"{what} holds NaN at {nan.size} of {v.size} sources (first: source "
                         f"{int(nan[0])}); pass allow_nan=True to draw them grey")
    return v


def _from_stc(stc, sources, time):
    import mne

    if not isinstance(stc, mne.SourceEstimate):  # vector, volume, mixed estimates
        raise TypeError(f"data must be a surface mne.SourceEstimate (one value per vertex), "
                        f"got {type(stc).__name__}")
    if stc.subject not in (None, "fsaverage"):
        raise ValueError(f"data is an estimate on subject {stc.subject!r}; brain maps are "
                         "drawn on fsaverage (mne.compute_source_morph to fsaverage first)")
    vertices = [_check_vertno(v, h, "data") for v, h in zip(stc.vertices, HEMIS, strict=True)]
    if sources is not None:
        known = _source_vertices(sources)
        for h, v, k in zip(HEMIS, vertices, known, strict=True):
            missing = np.setdiff1d(v, k)
            if missing.size:
                raise ValueError(f"data: {h} vertex {int(missing[0])} (of {missing.size}) is "
                                 f"not in the source space sources= ({k.size} {h} vertices)")
    times = np.asarray(stc.times)
    if time is None:
        it = int(np.argmax(np.max(np.abs(stc.data), axis=0))) if times.size > 1 else 0
    else:
        t = float(time)
        if not times[0] - 1e-9 <= t <= times[-1] + 1e-9:
            raise ValueError(f"time={t} s lies outside the estimate's times ({times[0]} to "
                             f"{times[-1]} s)")
        it = int(np.argmin(np.abs(times - t)))
    return vertices, stc.data[:, it], float(times[it])


def _from_dataarray(da, sources):
    if da.ndim != 1 or da.dims[0] != "source":
        raise ValueError(f"data must be 1-D along 'source' (select the other dimensions "
                         f"first, e.g. .sel(array='opm')), got dims {da.dims}")
    if "hemisphere" in da.coords and "vertex" in da.coords:
        hemi = np.array([_hemi_key(h, "data's hemisphere coordinate")
                         for h in da["hemisphere"].values])
        vert = np.asarray(da["vertex"].values)
        order = [np.flatnonzero(hemi == h) for h in HEMIS]
        vertices = [_check_vertno(vert[i], h, "data's vertex coordinate")
                    for i, h in zip(order, HEMIS, strict=True)]
        return vertices, np.concatenate(order)
    return None, None


def _per_hemisphere(data, sources, time, allow_nan):
    """{hemi: (vertno, values)}, the time drawn (or None) and the default label."""
    import mne
    import xarray as xr

    label, t = None, None
    if isinstance(data, mne.SourceEstimate | mne.VectorSourceEstimate |
                  mne.VolSourceEstimate | mne.MixedSourceEstimate):
        vertices, values, t = _from_stc(data, sources, time)
        values = _check_values(values, "data", allow_nan)
    else:
        if time is not None:
            raise ValueError("time= applies to an mne.SourceEstimate only")
        order = None
        vertices = None
        if isinstance(data, xr.DataArray):
            vertices, order = _from_dataarray(data, sources)
            units = data.attrs.get("units")
            label = data.attrs.get("long_name", data.name)
            if label is not None and units not in (None, "", "1"):
                label = f"{label} ({units})"
            data = data.values
        values = _check_values(data, "data", allow_nan)
        if vertices is not None:
            values = values[order]
        elif sources is not None:
            vertices = _source_vertices(sources)
        else:
            vertices = _default_vertices(values.size, "data")
    n = sum(v.size for v in vertices)
    if values.size != n:
        raise ValueError(f"data has {values.size} values but the source space has {n} sources "
                         f"({vertices[0].size} lh + {vertices[1].size} rh)")
    split = np.split(values, [vertices[0].size])
    return dict(zip(HEMIS, zip(vertices, split, strict=True), strict=True)), t, label


# ------------------------------------------------------------------ drawing
def _norm(values, vmin, vmax, log, symmetric):
    from matplotlib.colors import LogNorm, Normalize

    finite = values[np.isfinite(values)]
    if log:
        pos = finite[finite > 0]
        if vmin is None and pos.size == 0:
            raise ValueError("log=True needs positive values (or vmin, vmax)")
        lo = float(np.min(pos)) if vmin is None else float(vmin)
        hi = float(np.max(pos)) if vmax is None else float(vmax)
        if not 0 < lo < hi:
            raise ValueError(f"log=True needs 0 < vmin < vmax, got vmin={lo}, vmax={hi}")
        return LogNorm(lo, hi)
    if symmetric:
        m = float(np.max(np.abs(finite))) if finite.size else 1.0
        lo = -m if vmin is None else float(vmin)
        hi = m if vmax is None else float(vmax)
    else:
        lo = float(np.min(finite)) if vmin is None and finite.size else (
            0.0 if vmin is None else float(vmin))
        hi = float(np.max(finite)) if vmax is None and finite.size else (
            1.0 if vmax is None else float(vmax))
    if not lo < hi:  # a constant map: widen symmetrically so its colour is the middle one
        d = abs(lo) * 0.5 or 1.0
        lo, hi = lo - d, hi + d
    return Normalize(lo, hi)


def _view_basis(view: str, hemi: str):
    d, up = (np.array(v) for v in _VIEW_GEOMETRY[view])
    if hemi == "rh":
        d = d * np.array([-1.0, 1.0, 1.0])
    right = np.cross(up, d)
    return d, up, right


@functools.cache
def _raster(surface: str, hemi: str, view: str, size: int):
    """Which triangle each pixel of a ``size`` x ``size`` orthographic view shows (-1:
    background), the Lambert shading per pixel, and the view's half-width (mm).

    Each front-facing triangle is sampled at barycentric points under a pixel apart; per
    pixel the sample nearest the viewer wins (a z-buffer). The result depends on the
    geometry only, so it is computed once per surface, hemisphere, view and size.
    """
    rr, tris = _mesh(surface, hemi)
    d, up, right = _view_basis(view, hemi)
    p = rr - rr.mean(axis=0)
    xy = np.stack([p @ right, p @ up], axis=1)
    depth = p @ d
    a, b, c = (rr[tris[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    facing = n @ d
    front = np.flatnonzero(facing > 0)
    half = 0.52 * float(np.max(np.ptp(xy, axis=0)))
    scale = size / (2 * half)  # pixels per mm
    corners = xy[tris[front]] * scale  # (n_front, 3, 2), pixels
    zc = depth[tris[front]]
    edge = np.max(np.linalg.norm(corners - np.roll(corners, 1, axis=1), axis=2), axis=1)
    # samples per edge, under ~0.7 pixel apart (no gaps), in powers of two so that
    # triangles of similar size are sampled together
    kk = 2 ** np.ceil(np.log2(np.maximum(1.5 * edge, 2))).astype(np.int64)
    pix, zz, tri = [], [], []
    for k in np.unique(kk):
        sel = np.flatnonzero(kk == k)
        i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
        keep = i + j <= k
        w = np.stack([i[keep], j[keep], k - i[keep] - j[keep]], axis=1) / k  # (n_w, 3)
        pts = np.einsum("wk,tkc->twc", w, corners[sel])  # (n_sel, n_w, 2)
        col = np.floor(pts[..., 0] + size / 2).astype(np.int64)
        row = np.floor(size / 2 - pts[..., 1]).astype(np.int64)
        inside = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        pix.append((row * size + col)[inside])
        zz.append(np.einsum("wk,tk->tw", w, zc[sel])[inside])
        tri.append(np.broadcast_to(front[sel][:, None], inside.shape)[inside])
    pix, zz, tri = np.concatenate(pix), np.concatenate(zz), np.concatenate(tri)
    order = np.lexsort((-zz, pix))  # per pixel, the nearest sample first
    pix, tri = pix[order], tri[order]
    first = np.r_[True, pix[1:] != pix[:-1]]
    ids = np.full(size * size, -1, dtype=np.int64)
    ids[pix[first]] = tri[first]
    shade = np.zeros(size * size)
    shade[pix[first]] = facing[tri[first]]
    ids, shade = ids.reshape(size, size), shade.reshape(size, size)
    ids.flags.writeable = shade.flags.writeable = False
    return ids, shade, half


def _draw_panel(ax, hemi, view, surface, face_values, norm, cmap, shading, nan_grey,
                size):
    ids, facing, half = _raster(surface, hemi, view, size)
    _, tris = _mesh(surface, hemi)
    rgba = np.zeros((*ids.shape, 4))
    hit = ids >= 0
    vals = face_values[ids[hit]]
    ok = np.isfinite(vals)
    rgb = np.empty((vals.size, 3))
    rgb[ok] = cmap(norm(vals[ok]))[:, :3]
    sulc = _sulc(hemi)[tris[ids[hit][~ok]]].mean(axis=1)
    rgb[~ok] = np.where(sulc > 0, nan_grey[0], nan_grey[1])[:, None]
    if shading:
        rgb *= (0.35 + 0.65 * facing[hit])[:, None]
    rgba[hit, :3] = rgb
    rgba[hit, 3] = 1.0
    ax.imshow(rgba, extent=(-half, half, -half, half), interpolation="nearest",
              origin="upper")
    # limits: the surface's bounding box and a 3 % margin
    rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
    px = 2 * half / ids.shape[0]
    pad = 0.03 * 2 * half
    return ((-half + cols[0] * px - pad, -half + (cols[-1] + 1) * px + pad),
            (half - (rows[-1] + 1) * px - pad, half - rows[0] * px + pad))


def plot_brain_map(data, sources=None, *, time: float | None = None,
                   hemis: Sequence[str] = HEMIS, views: Sequence[str] = ("lateral", "medial"),
                   surface: str = "inflated", cmap=None, vmin: float | None = None,
                   vmax: float | None = None, log: bool = False, symmetric: bool | None = None,
                   label: str | None = None, title: str | None = None, shading: bool = True,
                   allow_nan: bool = False, colorbar: bool = True, axes=None,
                   figsize: tuple[float, float] | None = None, resolution: int = 400):
    """Draw one value per cortical source on the fsaverage cortex (offline, matplotlib).

    Parameters
    ----------
    data : mne.SourceEstimate, xarray.DataArray or array_like, shape (n_sources,)
        - ``mne.SourceEstimate`` on fsaverage vertices ``0 .. 10241`` (qsense's cortex, or
          any ico-5-or-coarser fsaverage source space); one time point is drawn;
        - ``xarray.DataArray`` along ``source``: with ``hemisphere`` and ``vertex``
          coordinates (``compare.nc``'s sources) those place the values; ``units`` and
          ``long_name`` label the colour bar;
        - a 1-D array in the order of ``sources`` (left hemisphere first).
    sources : qsense.sources.SourceSpace or mne.SourceSpaces, optional
        The cortex the values belong to (``qsense.sources.cortex(...)``). Default: taken
        from ``data`` (a SourceEstimate's vertices, a DataArray's coordinates), else a
        qsense cortex of the matching size (324, 1284, 5124 or 20484 values). With a
        SourceEstimate, every vertex of the estimate must be in ``sources``.
    time : float, optional
        Time of a SourceEstimate to draw, s (nearest sample). Default: the time of the
        largest absolute value (the only one for a single time point).
    hemis : sequence of {"lh", "rh"}
        Hemispheres, one panel column each.
    views : sequence of {"lateral", "medial", "dorsal", "ventral", "anterior", "posterior"}
        Views, one panel row each.
    surface : {"inflated", "pial", "white"}
        fsaverage5 surface to draw on.
    cmap : str or matplotlib Colormap, optional
        Default ``"RdBu_r"`` for symmetric maps, else ``"viridis"``.
    vmin, vmax : float, optional
        Colour limits; default the data's range (symmetric: +-max |value|).
    log : bool
        Logarithmic colour scale (positive values).
    symmetric : bool, optional
        Colour limits symmetric about zero; default: when the data have both signs.
    label : str, optional
        Colour-bar label; default a DataArray's ``long_name (units)``.
    title : str, optional
        Figure title (with a SourceEstimate the time drawn is appended).
    shading : bool
        Light the surface from the viewer (False: flat colours, exactly the colour map's).
    allow_nan : bool
        Draw NaN values (e.g. undefined bounds) grey instead of raising ValueError.
    colorbar : bool
        Add a colour bar below the panels.
    axes : sequence of matplotlib Axes, optional
        ``len(views) * len(hemis)`` axes to draw into, row by row (views) and column by
        column (hemis); default a new figure.
    figsize : (float, float), optional
        Size of a new figure, inches; default 3.2 in per panel column.
    resolution : int
        Pixels across each panel's image (64 to 2000; default 400).

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot; ``fig.savefig(path)`` writes it. Each panel's title
        is ``"<left|right> <view>"``.

    Raises
    ------
    TypeError, ValueError
        Unsupported data types; a length that matches no source space; NaN or inf values;
        vertices outside fsaverage5 or outside ``sources``; unknown hemis, views, surface.

    Notes
    -----
    Between the sources each fsaverage5 vertex takes the value of the nearest source on
    the registration sphere (no interpolation; see the module docstring). Surfaces:
    nilearn's fsaverage5 (Fischl et al. 1999, NeuroImage 9:195 for fsaverage).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

    hemis = tuple(_hemi_key(h, "hemis") for h in
                  ((hemis,) if isinstance(hemis, str) else hemis))
    views = tuple((views,) if isinstance(views, str) else views)
    if not hemis or len(set(hemis)) != len(hemis):
        raise ValueError(f"hemis must be distinct hemispheres from {HEMIS}, got {hemis!r}")
    if not views:
        raise ValueError(f"views must name at least one of {VIEWS}")
    for v in views:
        check_option("views", v, VIEWS)
    check_option("surface", surface, SURFACES)
    log, shading = check_bool("log", log), check_bool("shading", shading)
    resolution = check_int("resolution", resolution, low=64, high=2000)
    allow_nan, colorbar = check_bool("allow_nan", allow_nan), check_bool("colorbar", colorbar)

    per_hemi, t, default_label = _per_hemisphere(data, sources, time, allow_nan)
    drawn = np.concatenate([per_hemi[h][1] for h in hemis])
    if not np.any(np.isfinite(drawn)):
        raise ValueError("data has no finite value in the hemispheres drawn")
    if symmetric is None:
        symmetric = (not log) and bool(np.nanmin(drawn) < 0 < np.nanmax(drawn))
    norm = _norm(drawn, vmin, vmax, log, bool(symmetric))
    cmap = colormaps[cmap] if isinstance(cmap, str) else (
        cmap if cmap is not None else colormaps["RdBu_r" if symmetric else "viridis"])

    n_rows, n_cols = len(views), len(hemis)
    if axes is None:
        w = 3.2 * n_cols if figsize is None else figsize[0]
        h = (2.4 * n_rows + (0.7 if colorbar else 0) + (0.4 if title else 0)
             if figsize is None else figsize[1])
        fig = Figure(figsize=(w, h), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    else:
        axes = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(axes) != n_rows * n_cols:
            raise ValueError(f"axes must hold len(views) * len(hemis) = {n_rows * n_cols} "
                             f"axes, got {len(axes)}")
        fig = axes[0].figure
    for i, h in enumerate(hemis):
        vertno, values = per_hemi[h]
        full = _fill_nearest(h, vertno, values)
        _, tris = _mesh(surface, h)
        fv = full[tris]
        count = np.sum(np.isfinite(fv), axis=1)  # a triangle: the mean of its known values
        face = np.where(count > 0, np.nansum(fv, axis=1) / np.maximum(count, 1), np.nan)
        for j, v in enumerate(views):
            ax = axes[j * n_cols + i]
            (x0, x1), (y0, y1) = _draw_panel(ax, h, v, surface, face, norm, cmap, shading,
                                             (0.55, 0.75), resolution)
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_aspect("equal")
            ax.set_axis_off()
            ax.set_title(f"{_HEMI_NAME[h]} {v}", fontsize=9)
    if colorbar:
        sm = ScalarMappable(norm=norm, cmap=cmap)
        cb = fig.colorbar(sm, ax=axes, orientation="horizontal", fraction=0.06, pad=0.03,
                          aspect=40, shrink=0.8)
        cb.set_label(label if label is not None else (default_label or ""), fontsize=9)
    if title is not None or t is not None:
        text = title or ""
        if t is not None:
            text = f"{text} (t = {t * 1e3:.1f} ms)".strip()
        fig.suptitle(text, fontsize=10)
    return fig
