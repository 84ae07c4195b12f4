"""Source spaces: where current dipoles may sit (volume grids, the cortex, any points)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import (
    check_array,
    check_bool,
    check_distance,
    check_number,
    check_option,
    check_points,
    check_rigid,
    check_same_head,
    validate_type,
)
from .head import Head

__all__ = ["SourceSpace", "volume", "cortex", "points", "from_mne", "superficial_tangential",
           "CORTEX_SPACINGS"]

KINDS = ("volume", "surface", "discrete")

CORTEX_SPACINGS = {"ico2": 162, "ico3": 642, "ico4": 2562, "ico5": 10242}
"""Cortical decimations: vertices per hemisphere. fsaverage5 is an ico-5 subdivision
whose first 2562/642/162 vertices are exactly the ico-4/3/2 vertices, so decimation
keeps a prefix of the vertex list (MNE's ``spacing='ico4'`` picks the same vertices)."""


@dataclass(frozen=True, eq=False)
class SourceSpace:
    """Dipole locations (and normals) in the head frame.

    Attributes
    ----------
    kind : {"volume", "surface", "discrete"}
    positions : ndarray, shape (n_sources, 3)
        Head frame, m.
    normals : ndarray, shape (n_sources, 3) or None
        Unit surface normals (cortex), head frame.
    head_mri_t : ndarray, shape (4, 4)
        Head -> MRI transform of the head the sources belong to.
    subject : str or None
    spacing : str
        How the space was made (e.g. "ico4", "5.0 mm").
    mne_src : mne.SourceSpaces or None
        The same sources as MNE source spaces in the MRI frame.
    """

    kind: str
    positions: np.ndarray
    normals: np.ndarray | None
    head_mri_t: np.ndarray
    subject: str | None = None
    spacing: str = ""
    mne_src: object = None

    def __post_init__(self):
        check_option("kind", self.kind, KINDS)
        object.__setattr__(self, "head_mri_t", check_rigid("head_mri_t", self.head_mri_t))
        if self.subject is not None:
            validate_type(self.subject, str, "subject")
        pos = np.array(check_array("positions", self.positions, finite=False, unit="m"))
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
            raise ValueError(f"positions must have shape (n_sources, 3), got {pos.shape}")
        check_points("positions", pos)
        pos.flags.writeable = False
        object.__setattr__(self, "positions", pos)
        if self.normals is not None:
            nn = np.array(check_array("normals", self.normals, finite=False))
            if nn.shape != pos.shape:
                raise ValueError(f"normals must have shape {pos.shape}, got {nn.shape}")
            norm = np.linalg.norm(nn, axis=1)
            if not np.all(np.isfinite(nn)) or np.any(norm < 1e-9):
                i = int(np.argmin(np.where(np.isfinite(norm), norm, -1)))
                raise ValueError(f"normals must be finite and non-zero; source {i} has {nn[i]}")
            nn = nn / norm[:, None]
            nn.flags.writeable = False
            object.__setattr__(self, "normals", nn)

    @property
    def n_sources(self) -> int:
        return len(self.positions)

    def __len__(self):
        return self.n_sources

    def __repr__(self):
        return f"<SourceSpace | {self.kind}, {self.n_sources} sources, spacing {self.spacing}>"

    def to_mne(self):
        """These sources as ``mne.SourceSpaces`` in the MRI frame (a copy)."""
        import mne

        if self.mne_src is not None:
            return self.mne_src.copy()
        rr = _apply(self.head_mri_t, self.positions)
        nn = (np.tile([0.0, 0.0, 1.0], (self.n_sources, 1)) if self.normals is None
              else self.normals @ self.head_mri_t[:3, :3].T)
        src = mne.setup_volume_source_space(pos=dict(rr=rr, nn=nn), verbose=False)
        src[0]["subject_his_id"] = self.subject
        return src


def _apply(t, x):
    return np.asarray(x) @ t[:3, :3].T + t[:3, 3]


def _check_head(head):
    validate_type(head, Head, "head", "qsense.Head")


def volume(head: Head, spacing: float = 0.005, *, mindist: float = 0.005) -> SourceSpace:
    """A regular grid of sources inside the conductor.

    Parameters
    ----------
    head : Head
    spacing : float
        Grid step, m (default 5 mm, MNE's default).
    mindist : float
        Keep sources at least this far inside the conductor boundary (inner skull
        or conductor sphere), m (default 5 mm, MNE's ``setup_volume_source_space``
        default).

    Notes
    -----
    The grid is offset by half a step from the sphere centre so that no source sits
    at the centre, where the field of any dipole vanishes in a sphere model.

    Returns
    -------
    SourceSpace
        Kind "volume"; its ``to_mne()`` is a discrete MNE source space at the same
        points.
    """
    _check_head(head)
    spacing = check_distance("spacing", spacing, low=0.001, high=0.05,
                             what="a source grid (coarser than 5 cm)")
    mindist = check_distance("mindist", mindist, high=0.05)
    # half-step offset: no source at the sphere centre, where every dipole is radial
    # and its gain is exactly zero (Sarvas), which breaks noise-normalised inverses
    c = head.sphere_origin + spacing / 2
    lo = head.brain.rr.min(axis=0)
    hi = head.brain.rr.max(axis=0)
    axes = [c[k] + spacing * np.arange(np.floor((lo[k] - c[k]) / spacing),
                                       np.ceil((hi[k] - c[k]) / spacing) + 1)
            for k in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    keep = head.brain_distance(grid) < -mindist
    pos = grid[keep]
    if len(pos) == 0:
        raise ValueError(f"no grid point lies {mindist} m inside the conductor")
    return SourceSpace("volume", pos, None, head.head_mri_t, head.subject,
                       f"{spacing * 1e3:g} mm")


def points(positions, head: Head, normals=None) -> SourceSpace:
    """Sources at given positions (head frame, m), checked to lie inside the conductor.

    Parameters
    ----------
    positions : array_like, shape (n, 3)
    head : Head
    normals : array_like, shape (n, 3), optional
        Orientations for fixed-orientation use.
    """
    return _points(positions, head, normals, "positions")


def _points(positions, head, normals, name) -> SourceSpace:
    """:func:`points`, with ``name`` for the positions' argument in messages."""
    _check_head(head)
    pos = np.atleast_2d(check_array(name, positions, finite=False, unit="m"))
    if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) == 0:
        raise ValueError(f"{name} must have shape (n, 3), got {pos.shape}")
    check_points(name, pos)
    d = head.brain_distance(pos)
    if np.any(d >= 0):
        i = int(np.argmax(d))
        raise ValueError(
            f"{name} must lie inside the conductor; source {i} at {pos[i].tolist()} m is "
            f"{d[i] * 1e3:.1f} mm outside it"
        )
    return SourceSpace("discrete", pos, normals, head.head_mri_t, head.subject, "points")


def superficial_tangential(src: SourceSpace, head: Head, *, max_depth: float = 0.02,
                           min_tangential: float = 0.7, upper: bool = True) -> np.ndarray:
    """Indices of the sources MEG sees best: shallow, with normals far from radial.

    Depth and the radial direction are taken from the head's conductor sphere (for
    ``Head.fsaverage`` the sphere fitted to the inner skull), the model in which a
    radial dipole is silent (Sarvas 1987).

    Parameters
    ----------
    src : SourceSpace
        With normals (``cortex`` or ``points(..., normals=...)``).
    head : Head
    max_depth : float
        Largest depth below the sphere's surface, m (default 20 mm).
    min_tangential : float
        Smallest ``1 - |n . r_hat|`` (0: radial normal, 1: tangential).
    upper : bool
        Keep only sources above the sphere centre (under helmets and on-scalp arrays).

    Returns
    -------
    ndarray of int
    """
    _check_head(head)
    if not isinstance(src, SourceSpace):
        raise TypeError(f"src must be a qsense SourceSpace, got {type(src).__name__}")
    if src.normals is None:
        raise ValueError(f"src must have normals (a cortex); got a {src.kind} source space "
                         f"without them")
    check_same_head("src", src, head)
    max_depth = check_distance("max_depth", max_depth, low_open=True, high=0.2,
                               what="a depth below the conductor sphere")
    min_tangential = check_number("min_tangential", min_tangential, low=0.0, high=1.0)
    upper = check_bool("upper", upper)
    out = src.positions - head.sphere_origin
    dist = np.linalg.norm(out, axis=1)
    tangential = 1 - np.abs(np.sum(out * src.normals, axis=1)) / dist
    keep = (head.sphere_radius - dist < max_depth) & (tangential >= min_tangential)
    if upper:
        keep &= out[:, 2] > 0
    return np.flatnonzero(keep)


def from_mne(src, head: Head) -> SourceSpace:
    """Wrap ``mne.SourceSpaces`` (MRI or head frame) as a :class:`SourceSpace`."""
    import mne
    from mne.io.constants import FIFF

    _check_head(head)
    if not isinstance(src, mne.SourceSpaces):
        raise TypeError(f"src must be mne.SourceSpaces, got {type(src).__name__}")
    rr, nn = [], []
    for s in src:
        t = head.mri_head_t if s["coord_frame"] == FIFF.FIFFV_COORD_MRI else np.eye(4)
        rr.append(_apply(t, s["rr"][s["vertno"]]))
        nn.append(s["nn"][s["vertno"]] @ t[:3, :3].T)
    kinds = sorted({s["type"] for s in src})
    kind = {"surf": "surface", "vol": "volume"}.get(kinds[0], "discrete") if len(
        kinds) == 1 else "discrete"
    if src[0]["coord_frame"] != FIFF.FIFFV_COORD_MRI:
        src = src.copy()
        for s in src:
            mne.transform_surface_to(s, "mri", mne.transforms.Transform(
                "head", "mri", head.head_mri_t))
    out = SourceSpace(kind, np.concatenate(rr), np.concatenate(nn), head.head_mri_t,
                      head.subject, "mne", src)
    d = head.brain_distance(out.positions)
    if np.any(d >= 0):
        raise ValueError(
            f"src has {int(np.sum(d >= 0))} sources outside the conductor of head "
            f"{head.name!r}; are the frames right?"
        )
    return out


# ------------------------------------------------------------------- cortex
def _nilearn_fsaverage5() -> Path:
    import nilearn

    return Path(nilearn.__file__).parent / "datasets" / "data" / "fsaverage5"


@functools.cache
def _white_surfaces():
    """fsaverage5 white surfaces (MRI frame, m): [(rr, tris) for lh, rh]."""
    import nibabel as nib

    out = []
    for hemi in ("left", "right"):
        g = nib.load(_nilearn_fsaverage5() / f"white_{hemi}.gii.gz")
        rr = np.asarray(g.darrays[0].data, dtype=float) * 1e-3  # GIFTI in mm
        tris = np.asarray(g.darrays[1].data, dtype=np.int64)
        out.append((rr, tris))
    return out


def _vertex_normals(rr, tris):
    """MNE's convention: the normalised sum of the adjacent triangles' unit normals."""
    a, b, c = (rr[tris[:, k]] for k in range(3))
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    out = np.zeros_like(rr)
    for k in range(3):
        np.add.at(out, tris[:, k], n)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _surface_src(rr, tris, nn, vertno, hemi_id, subject):
    from mne.io.constants import FIFF

    inuse = np.zeros(len(rr), dtype=np.int32)
    inuse[vertno] = 1
    return dict(
        id=hemi_id, type="surf", np=len(rr), ntri=len(tris),
        coord_frame=FIFF.FIFFV_COORD_MRI, rr=rr, nn=nn, tris=tris.astype(np.int32),
        nuse=len(vertno), inuse=inuse, vertno=np.asarray(vertno, dtype=np.int64),
        nuse_tri=0, use_tris=None, nearest=None, nearest_dist=None, pinfo=None,
        patch_inds=None, dist=None, dist_limit=None, subject_his_id=subject,
    )


def cortex(head: Head, spacing: str = "ico4") -> SourceSpace:
    """Cortical sources on nilearn's fsaverage5 white surfaces, with normals.

    Both hemispheres (left first), decimated to an icosahedral subdivision. The
    normals follow MNE (normalised sum of the adjacent triangles' unit normals). The
    result's ``to_mne()`` is a proper ``mne.SourceSpaces`` of kind ``surface``
    (subject "fsaverage", vertex numbers into fsaverage5 = fsaverage's first 10242),
    accepted by MNE's fixed-orientation and resolution-metric functions.

    Parameters
    ----------
    head : Head
        Must be :meth:`Head.fsaverage` (the surfaces are fsaverage's).
    spacing : {"ico2", "ico3", "ico4", "ico5"}
        Decimation; vertices per hemisphere 162, 642, 2562 (default), 10242.
    """
    import mne

    _check_head(head)
    if head.subject != "fsaverage":
        raise ValueError(
            f"cortex sources need the fsaverage head (got head {head.name!r}); use "
            "qsense.sources.volume for a sphere"
        )
    check_option("spacing", spacing, list(CORTEX_SPACINGS))
    n = CORTEX_SPACINGS[spacing]
    spaces = []
    for (rr, tris), hemi_id in zip(_white_surfaces(), (101, 102), strict=True):
        spaces.append(_surface_src(rr, tris, _vertex_normals(rr, tris), np.arange(n),
                                   hemi_id, "fsaverage"))
    src = mne.SourceSpaces(spaces, info=dict(working_dir="", command_line="qsense"))
    pos = np.concatenate([_apply(head.mri_head_t, s["rr"][s["vertno"]]) for s in src])
    nrm = np.concatenate([s["nn"][s["vertno"]] @ head.mri_head_t[:3, :3].T for s in src])
    return SourceSpace("surface", pos, nrm, head.head_mri_t, "fsaverage", spacing, src)
