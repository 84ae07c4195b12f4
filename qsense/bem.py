"""Single-shell boundary-element (BEM) head built from MNE's shipped fsaverage.

The conductor is the fsaverage inner-skull surface that ships in MNE-Python's wheel
(an ico-5 subdivided icosahedron, 10 242 vertices, in MRI/surface-RAS metres),
downsampled exactly to ico-4 (2 562 vertices, the default) or ico-3 (642 vertices).
The linear-collocation BEM solution matrix is computed once with
``mne.make_bem_solution`` (Hamalainen & Sarvas 1989; Mosher, Leahy & Lewis 1999) and
cached on disk, keyed by a hash of the geometry, the conductivity, the ico grade and the
MNE version. The MEG field itself is evaluated in JAX by :mod:`forward_models.bem`.

Cache
-----
Directory: argument ``cache_dir``, else the environment variable ``QSENSE_CACHE_DIR``,
else ``platformdirs.user_cache_dir("qsense")``. One ``.npz`` file per (geometry,
conductivity, ico, MNE version), written atomically (a unique temporary file in the
same directory, then ``os.replace``), so processes that build the same entry at once
leave one whole file; each file stores its key and a SHA-256 checksum of its contents. On
load both are verified; a corrupted or mismatched file is reported with a logged warning
and rebuilt, never used. An entry is opened only if it is a regular file: a symbolic link
(even to a valid file), a FIFO, a device or a directory in its place is never followed
or read, but logged, removed (the link itself, never its target) and rebuilt. The cache
directory itself may be a link.

Frames
------
MNE's fsaverage surfaces are in MRI (surface RAS) coordinates. qsense works in the MNE
head frame, related by ``fsaverage-trans.fif``. That file stores the rotation in single
precision, so its 3x3 block is orthogonal only to about 2e-7; :func:`fsaverage_head_mri_t`
returns the nearest proper rotation (polar decomposition) with the same translation, so
that positions and directions transform consistently (MNE itself rotates positions with
the matrix and dipole directions with its transpose, which with the raw file leaves a
relative inconsistency of about 3e-7 in the leadfield).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .conductors.base import Conductor

__all__ = [
    "BEM_CACHE_FORMAT",
    "DEFAULT_CONDUCTIVITY",
    "FsaverageBEM",
    "bem_cache_dir",
    "fsaverage_bem",
    "fsaverage_bem_solution",
    "fsaverage_head_mri_t",
    "fsaverage_inner_skull",
]

logger = logging.getLogger(__name__)

BEM_CACHE_FORMAT = 1
"""Version of the on-disk cache layout; part of every cache key."""

DEFAULT_CONDUCTIVITY = 0.3
"""Brain conductivity of the single shell, S/m: MNE-Python's (and MNE-C's) default for a
one-layer BEM (``mne.make_bem_model(conductivity=(0.3,))``). For MEG the field of a
single shell does not depend on it (the factor field_mult*source_mult = 2 is
conductivity-free); it enters the cache key only."""

_ICO_VERTICES = {2: 162, 3: 642, 4: 2562, 5: 10242}


def _mne_fsaverage_dir() -> Path:
    import mne

    return Path(mne.__file__).parent / "data" / "fsaverage"


def bem_cache_dir(cache_dir=None) -> Path:
    """Directory of the BEM solution cache (created if missing).

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Explicit directory. Default: env ``QSENSE_CACHE_DIR`` if set, else
        ``platformdirs.user_cache_dir("qsense")``.

    Returns
    -------
    pathlib.Path
    """
    name = "cache_dir"
    if cache_dir is None:
        env = os.environ.get("QSENSE_CACHE_DIR")
        if env:
            cache_dir, name = env, "QSENSE_CACHE_DIR"
        else:
            import platformdirs

            cache_dir = platformdirs.user_cache_dir("qsense")
    if not isinstance(cache_dir, str | os.PathLike):
        raise TypeError(f"cache_dir must be a path (str or os.PathLike), got {cache_dir!r}")
    path = Path(cache_dir).expanduser()
    if path.exists() and not path.is_dir():  # is_dir follows a link: a linked dir is fine
        raise ValueError(f"{name}={str(cache_dir)!r} is not a directory; the BEM cache "
                         "needs a directory (or a path where one can be created)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_ico(ico):
    if isinstance(ico, bool) or not isinstance(ico, int | np.integer) or ico not in _ICO_VERTICES:
        raise ValueError(
            f"ico must be one of {sorted(_ICO_VERTICES)} (subdivision grade of the "
            f"fsaverage inner skull), got {ico!r}"
        )
    return int(ico)


def _check_conductivity(conductivity):
    try:
        value = float(conductivity)
    except (TypeError, ValueError):
        raise TypeError(
            f"conductivity must be a positive number in S/m, got {conductivity!r}"
        ) from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"conductivity must be a positive finite number in S/m, got {value!r}")
    if value > 100.0:
        raise ValueError(
            f"conductivity={value!r} S/m is not a tissue conductivity (brain ~0.3 S/m); "
            "pass S/m, not mS/m"
        )
    return value


def fsaverage_inner_skull(ico=4):
    """The fsaverage inner-skull surface, exactly downsampled to an ico grade.

    Parameters
    ----------
    ico : int
        Subdivision grade: 5 (the shipped 10 242 vertices), 4 (2 562, default), 3 (642)
        or 2 (162).

    Returns
    -------
    dict
        MNE BEM surface dict (``rr`` in MRI/surface-RAS metres, ``tris``, ``id``,
        ``sigma`` unset), ready for ``mne.make_bem_solution``.
    """
    import mne
    from mne.bem import _surfaces_to_bem
    from mne.io.constants import FIFF

    ico = _check_ico(ico)
    fname = _mne_fsaverage_dir() / "fsaverage-inner_skull-bem.fif"
    surf = mne.read_bem_surfaces(fname, verbose=False)[0]
    with mne.utils.use_log_level(False):
        surfs = _surfaces_to_bem(
            [surf], [FIFF.FIFFV_BEM_SURF_ID_BRAIN], [1.0], ico=ico, rescale=False
        )
    out = surfs[0]
    out["rr"] = np.ascontiguousarray(out["rr"], dtype=np.float64)
    out["tris"] = np.ascontiguousarray(out["tris"], dtype=np.int64)
    if len(out["rr"]) != _ICO_VERTICES[ico]:
        raise RuntimeError(
            f"downsampling the fsaverage inner skull to ico-{ico} gave {len(out['rr'])} "
            f"vertices, expected {_ICO_VERTICES[ico]}"
        )
    return out


def fsaverage_head_mri_t():
    """Head -> MRI transform of MNE's fsaverage, with an exactly orthogonal rotation.

    Returns
    -------
    mne.transforms.Transform
        From "head" to "mri"; the 3x3 block is the nearest rotation (polar
        decomposition, via SVD) to the one stored in ``fsaverage-trans.fif``.
    """
    import mne

    trans = mne.read_trans(_mne_fsaverage_dir() / "fsaverage-trans.fif", verbose=False)
    mat = np.array(trans["trans"], dtype=np.float64)
    u, _, vt = np.linalg.svd(mat[:3, :3])
    rot = u @ vt
    if np.linalg.det(rot) < 0:
        raise RuntimeError("fsaverage head->MRI transform is not a proper rotation")
    mat[:3, :3] = rot
    return mne.transforms.Transform("head", "mri", mat)


def _cache_key(surf, conductivity, ico):
    import mne

    h = hashlib.sha256()
    meta = dict(
        format=BEM_CACHE_FORMAT,
        mne=mne.__version__,
        ico=int(ico),
        conductivity=repr(float(conductivity)),
        kind="fsaverage-inner-skull-single-shell-linear-collocation",
    )
    h.update(json.dumps(meta, sort_keys=True).encode())
    h.update(np.ascontiguousarray(surf["rr"], dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(surf["tris"], dtype="<i8").tobytes())
    return h.hexdigest()


def _checksum(key, solution, rr, tris):
    h = hashlib.sha256()
    h.update(key.encode())
    for arr, dt in ((solution, "<f8"), (rr, "<f8"), (tris, "<i8")):
        arr = np.ascontiguousarray(arr, dtype=dt)
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _cache_path(cache_dir, key, ico):
    return cache_dir / f"fsaverage-inner-skull-ico{ico}-{key[:20]}.npz"


def _write_cache(path, key, solution, rr, tris):
    buf = io.BytesIO()
    np.savez(
        buf,
        key=np.array(key),
        checksum=np.array(_checksum(key, solution, rr, tris)),
        solution=np.ascontiguousarray(solution, dtype="<f8"),
        rr=np.ascontiguousarray(rr, dtype="<f8"),
        tris=np.ascontiguousarray(tris, dtype="<i8"),
    )
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _open_entry(path):
    """A read-only file descriptor of the cache entry ``path``, or None.

    The entry is opened only if it is a regular file. A symbolic link (even to a valid
    file), a FIFO, a device, a socket or a directory in its place is refused: it is
    logged, removed (a link itself, never its target) and None is returned, so that the
    caller rebuilds the entry. ``O_NOFOLLOW`` makes the open fail on a link and
    ``O_NONBLOCK`` keeps it from waiting on a FIFO; the type is checked with
    ``lstat`` before and ``fstat`` after the open, so an entry swapped in between is
    caught too.
    """
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISREG(before.st_mode):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:  # ELOOP: became a link after the lstat
            _refuse_entry(path, f"it cannot be opened as a regular file ({exc})")
            return None
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return fd
        os.close(fd)
    else:
        mode = before.st_mode
    _refuse_entry(path, f"it is {_file_kind(mode)}, not a regular file")
    return None


def _file_kind(mode):
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return f"of unknown type (mode {oct(mode)})"


def _refuse_entry(path, problem):
    """Log a refused cache entry and remove it: the name only (a link, never its
    target); a directory only when empty."""
    logger.warning("BEM cache entry %s is refused: %s; rebuilding it.", path, problem)
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # a non-empty directory, no permission: the write will fail
        logger.warning("could not remove the refused BEM cache entry %s (%s)", path, exc)


def _read_cache(path, key, surf):
    """Return the cached solution, or None (with a warning) when absent or invalid.

    Only a regular file is read (see :func:`_open_entry`), through the descriptor that
    was checked; its key and checksum are verified, so a file that is not whole is
    never used.
    """
    fd = _open_entry(path)
    if fd is None:
        return None
    try:
        with os.fdopen(fd, "rb") as f, np.load(f, allow_pickle=False) as data:
            stored_key = str(data["key"])
            checksum = str(data["checksum"])
            solution = np.array(data["solution"], dtype=np.float64)
            rr = np.array(data["rr"], dtype=np.float64)
            tris = np.array(data["tris"], dtype=np.int64)
        problem = None
        if stored_key != key:
            problem = f"its key {stored_key[:12]}... does not match the expected {key[:12]}..."
        elif checksum != _checksum(stored_key, solution, rr, tris):
            problem = "its checksum does not match its contents"
        elif rr.shape != surf["rr"].shape or not np.array_equal(rr, surf["rr"]):
            problem = "its geometry differs from the fsaverage inner skull"
        elif not np.array_equal(tris, surf["tris"]):
            problem = "its triangulation differs from the fsaverage inner skull"
        elif solution.shape != (len(rr), len(rr)) or not np.isfinite(solution).all():
            problem = f"its solution matrix is malformed (shape {solution.shape})"
    except Exception as exc:  # unreadable, truncated, not a zip, missing arrays
        problem = f"it cannot be read ({type(exc).__name__}: {exc})"
    if problem is not None:
        logger.warning("BEM cache file %s is invalid: %s; rebuilding it.", path, problem)
        return None
    return solution


def _conductor_model(surf, solution):
    """Assemble an mne.bem.ConductorModel from a surface and a solution matrix.

    Mirrors what ``mne.make_bem_solution`` returns for a one-layer model (checked in
    the tests against a fresh ``make_bem_solution``).
    """
    from mne.bem import ConductorModel, _add_gamma_multipliers
    from mne.io.constants import FIFF
    from mne.surface import complete_surface_info

    surf = complete_surface_info(dict(surf), copy=True, verbose=False)
    bem = ConductorModel(
        surfs=[surf],
        solution=solution,
        nsol=solution.shape[0],
        bem_method=FIFF.FIFFV_BEM_APPROX_LINEAR,
        solver="mne",
        is_sphere=False,
    )
    _add_gamma_multipliers(bem)
    return bem


def fsaverage_bem_solution(ico=4, conductivity=DEFAULT_CONDUCTIVITY, cache_dir=None):
    """Single-shell linear-collocation BEM solution on the fsaverage inner skull.

    Computed with ``mne.make_bem_solution`` the first time, then read from the cache
    (see the module docstring).

    Parameters
    ----------
    ico : int
        Subdivision grade of the inner skull: 4 (default, 2 562 vertices), 3, 5 or 2.
    conductivity : float
        Brain conductivity, S/m (default 0.3, MNE's default).
    cache_dir : str or os.PathLike, optional
        Cache directory (default: see :func:`bem_cache_dir`).

    Returns
    -------
    mne.bem.ConductorModel
        In MRI coordinates, usable by ``mne.make_forward_solution``.
    """
    import mne

    ico = _check_ico(ico)
    conductivity = _check_conductivity(conductivity)
    surf = fsaverage_inner_skull(ico)
    surf["sigma"] = conductivity
    key = _cache_key(surf, conductivity, ico)
    path = _cache_path(bem_cache_dir(cache_dir), key, ico)
    solution = _read_cache(path, key, surf)
    if solution is not None:
        logger.info("BEM solution loaded from cache %s", path)
        return _conductor_model(surf, solution)
    logger.info("Computing the ico-%d BEM solution (cached to %s)", ico, path)
    bem = mne.make_bem_solution([surf], verbose=False)
    try:
        _write_cache(path, key, bem["solution"], surf["rr"], surf["tris"])
    except OSError as exc:  # read-only or full cache directory: still return the model
        logger.warning("could not write the BEM cache file %s (%s); the solution will be "
                       "recomputed next time", path, exc)
    return bem


@dataclass(frozen=True, eq=False)
class FsaverageBEM(Conductor):
    """Arrays of a single-shell fsaverage BEM, in the MNE head frame, SI units.

    A :class:`qsense.conductors.Conductor`: ``Head.fsaverage()`` holds one.

    Attributes
    ----------
    vertices : np.ndarray (n_vert, 3)
        Inner-skull vertices in the head frame, m.
    triangles : np.ndarray (n_tri, 3) int
        Triangles (vertex indices), outward normals.
    solution : np.ndarray (n_vert, n_vert)
        Linear-collocation BEM solution matrix (dimensionless).
    field_mult : float
        sigma_in - sigma_out of the shell, S/m.
    source_mult : float
        2 / (sigma_in + sigma_out), m/S.
    conductivity : float
        Brain conductivity, S/m.
    ico : int
        Subdivision grade.
    conductor : mne.bem.ConductorModel
        The same model as MNE uses it (MRI frame), for reference computations.
    head_mri_t : mne.transforms.Transform
        Head -> MRI transform (orthogonalised, see :func:`fsaverage_head_mri_t`).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    solution: np.ndarray
    field_mult: float
    source_mult: float
    conductivity: float
    ico: int
    conductor: object
    head_mri_t: object

    name = "bem"
    differentiable = True

    def leadfield_kernel(self, coil_points, positions):
        """Chunk kernel for :func:`qsense.leadfield` (see
        :meth:`qsense.conductors.Conductor.leadfield_kernel`).

        Checks once that all sources lie inside the inner skull and builds the coil
        matrix once; the returned function evaluates any chunk of sources.
        """
        from forward_models import bem as fbem

        points, normals, weights = _check_coil_arrays(*coil_points.padded())
        positions = _check_sources_inside(positions, self)
        coil_matrix = self.coil_matrix(points, normals, weights)

        def kernel(idx):
            return np.asarray(
                fbem.bem_leadfield(
                    coil_matrix, self.vertices, points, normals, weights,
                    positions[np.asarray(idx)], chunk_size=max(1, len(idx)),
                )
            )

        return kernel

    def coil_matrix(self, points, normals, weights):
        """Coil-specific BEM matrix (n_chan, n_vert); see forward_models.bem.bem_coil_matrix.

        Parameters
        ----------
        points, normals, weights : arrays (n_chan, P, 3), (n_chan, P, 3), (n_chan, P)
            Coil integration points in the head frame (m), unit normals, weights
            (zero-padded), e.g. from ``SensorArray.coil_geometry("accurate")``.

        Returns
        -------
        np.ndarray (n_chan, n_vert)
        """
        from forward_models import bem as fbem

        points, normals, weights = _check_coil_arrays(points, normals, weights)
        return np.asarray(
            fbem.bem_coil_matrix(
                self.vertices, self.triangles, self.solution, points, normals, weights,
                self.field_mult, self.source_mult,
            )
        )

    def leadfield(self, points, normals, weights, sources, *, coil_matrix=None,
                  chunk_size=256, check_inside=True):
        """MEG leadfield of current dipoles, T/(A m), shape (n_chan, n_src, 3).

        Parameters
        ----------
        points, normals, weights : arrays (n_chan, P, 3), (n_chan, P, 3), (n_chan, P)
            Coil integration points in the head frame (m), unit normals, weights.
        sources : array (n_src, 3)
            Dipole positions in the head frame, m; must lie inside the inner skull.
        coil_matrix : array (n_chan, n_vert), optional
            Reuse a matrix from :meth:`coil_matrix` for the same coils.
        chunk_size : int
            Sources per compiled chunk (memory bound).
        check_inside : bool
            Verify that every source lies inside the inner skull (ValueError if not);
            skip only for sources already known to be inside.

        Returns
        -------
        np.ndarray (n_chan, n_src, 3)
            Field per unit dipole along head-frame x, y, z (T/(A m); T/(A m**2) for
            planar gradiometers).
        """
        from forward_models import bem as fbem

        points, normals, weights = _check_coil_arrays(points, normals, weights)
        sources = _check_sources_inside(sources, self, check_inside)
        if coil_matrix is None:
            coil_matrix = self.coil_matrix(points, normals, weights)
        return np.asarray(
            fbem.bem_leadfield(
                coil_matrix, self.vertices, points, normals, weights, sources,
                chunk_size=chunk_size,
            )
        )

    def dipole_fisher(self, points, normals, weights, positions, moments, noise_std, *,
                      chunk_size=128):
        """Fisher information of single dipoles, shape (n, 6, 6): exact JAX derivatives of
        the BEM field with respect to the position
        (:func:`forward_models.fisher.bem_dipole_fisher`).

        Parameters ``(x, y, z, q_x, q_y, q_z)``, head frame: no moment direction is
        silent in a BEM, so all three components are estimated with the position (see
        :meth:`qsense.conductors.Conductor.dipole_fisher` for the arguments).

        Raises
        ------
        ValueError
            If a position lies outside the inner skull or a moment is zero.
        """
        from forward_models import fisher

        args = self._dipole_args(points, normals, weights, positions, moments)
        return fisher.bem_dipole_fisher(*args, noise_std, chunk_size=chunk_size)

    def dipole_hessian(self, points, normals, weights, positions, moments, *,
                       chunk_size=128):
        """Second derivatives of the readings with respect to the dipole position, exact
        JAX derivatives of the BEM field (:func:`forward_models.fisher.
        bem_dipole_hessian`), shape (n, n_chan, 3, 3)."""
        from forward_models import fisher

        args = self._dipole_args(points, normals, weights, positions, moments)
        return fisher.bem_dipole_hessian(*args, chunk_size=chunk_size)

    def _dipole_args(self, points, normals, weights, positions, moments):
        points, normals, weights = _check_coil_arrays(points, normals, weights)
        positions = _check_sources_inside(positions, self)
        q = np.asarray(moments, dtype=np.float64)
        if q.shape != positions.shape or not np.isfinite(q).all():
            raise ValueError(f"moments must be finite with the shape of positions "
                             f"{positions.shape} (A m), got shape {q.shape}")
        norm = np.linalg.norm(q, axis=1)
        if np.any(norm == 0):
            raise ValueError(f"moments must be non-zero: moment {int(np.argmin(norm))} is "
                             "zero, and a silent dipole has no position to estimate")
        coil_matrix = self.coil_matrix(points, normals, weights)
        return coil_matrix, self.vertices, points, normals, weights, positions, q

    def contains(self, positions):
        """Whether head-frame positions (n, 3), m, lie inside the inner skull (exact:
        ray-crossing parity with a winding-number fallback, :meth:`Surface.contains`).
        """
        from .surfaces import Surface

        positions = np.asarray(positions, dtype=float).reshape(-1, 3)
        if len(positions) == 0:
            return np.zeros(0, bool)
        surf = self.__dict__.get("_surface")
        if surf is None:
            surf = Surface(self.vertices, self.triangles, "head")
            object.__setattr__(self, "_surface", surf)
        return surf.contains(positions)


def _check_coil_arrays(points, normals, weights):
    points = np.asarray(points, dtype=np.float64)
    normals = np.asarray(normals, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (n_chan, P, 3), got {points.shape}")
    if normals.shape != points.shape:
        raise ValueError(f"normals must have shape {points.shape}, got {normals.shape}")
    if weights.shape != points.shape[:2]:
        raise ValueError(f"weights must have shape {points.shape[:2]}, got {weights.shape}")
    for name, arr in (("points", points), ("normals", normals), ("weights", weights)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
    if np.abs(points).max(initial=0.0) > 2.0:
        raise ValueError(
            f"points reach {np.abs(points).max():g} from the origin; positions must be in "
            "metres in the head frame (a head is ~0.1 m), not millimetres"
        )
    return points, normals, weights


def _check_sources_inside(sources, bem, check_inside=True):
    sources = np.asarray(sources, dtype=np.float64)
    if sources.ndim != 2 or sources.shape[-1] != 3:
        raise ValueError(f"sources must have shape (n_src, 3), got {sources.shape}")
    if not np.isfinite(sources).all():
        raise ValueError("sources contains NaN or inf")
    if np.abs(sources).max(initial=0.0) > 2.0:
        raise ValueError(
            f"sources reach {np.abs(sources).max():g} from the origin; positions must be "
            "in metres in the head frame, not millimetres"
        )
    if not check_inside:
        return sources
    inside = bem.contains(sources)
    if not inside.all():
        bad = np.flatnonzero(~inside)
        raise ValueError(
            f"sources {bad[:5].tolist()}{'...' if len(bad) > 5 else ''} "
            f"({len(bad)} of {len(sources)}) lie outside the inner skull; the BEM "
            "needs sources inside it"
        )
    return sources


def fsaverage_bem(ico=4, conductivity=DEFAULT_CONDUCTIVITY, cache_dir=None):
    """The fsaverage single-shell BEM, as arrays in the head frame.

    Parameters
    ----------
    ico : int
        Subdivision grade of the inner skull: 4 (default), 3, 5 or 2.
    conductivity : float
        Brain conductivity, S/m (default 0.3).
    cache_dir : str or os.PathLike, optional
        BEM solution cache directory (default: see :func:`bem_cache_dir`).

    Returns
    -------
    FsaverageBEM
    """
    from mne.transforms import apply_trans, invert_transform

    bem = fsaverage_bem_solution(ico=ico, conductivity=conductivity, cache_dir=cache_dir)
    head_mri_t = fsaverage_head_mri_t()
    surf = bem["surfs"][0]
    vertices = apply_trans(invert_transform(head_mri_t)["trans"], surf["rr"])
    return FsaverageBEM(
        vertices=np.ascontiguousarray(vertices, dtype=np.float64),
        triangles=np.ascontiguousarray(surf["tris"], dtype=np.int64),
        solution=np.ascontiguousarray(bem["solution"], dtype=np.float64),
        field_mult=float(bem["field_mult"][0]),
        source_mult=float(bem["source_mult"][0]),
        conductivity=float(bem["sigma"][0]),
        ico=int(ico),
        conductor=bem,
        head_mri_t=head_mri_t,
    )
