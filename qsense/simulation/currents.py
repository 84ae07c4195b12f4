"""Source currents: an MNE source estimate checked against a qsense source space.

:func:`active_sources` maps the vertices of an ``mne.SourceEstimate`` (or its vector and
volume relatives) onto the sources of a :class:`qsense.sources.SourceSpace` and says how
each active source is oriented. The simulation reads the currents from the result chunk
by chunk (:meth:`ActiveSources.moments`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import validate_type
from ..sources import SourceSpace

__all__ = ["ActiveSources", "active_sources", "MAX_DIPOLE_MOMENT"]

MAX_DIPOLE_MOMENT = 1e-3
"""Largest dipole moment accepted in a source estimate, A m (1 mA m = 1e6 nAm). Evoked
cortical responses are 10-50 nAm (Hamalainen et al. 1993, Rev. Mod. Phys. 65:413); a
value this large is nAm passed as A m."""


@dataclass(frozen=True, eq=False)
class ActiveSources:
    """The sources an estimate drives, in the source space's order.

    Attributes
    ----------
    indices : ndarray of int, shape (n_active,)
        Index of each active source in the :class:`~qsense.sources.SourceSpace`.
    vertices : list of ndarray
        The estimate's vertex numbers, one array per MNE source space (as
        ``sources.to_mne()`` numbers them).
    positions : ndarray, shape (n_active, 3)
        Head frame, m.
    orientations : ndarray, shape (n_active, 3) or None
        Unit dipole directions (head frame) of a fixed-orientation estimate (the source
        normals); None for a vector estimate, whose data hold all three components.
    data : ndarray, shape (n_active, n_times) or (n_active, 3, n_times)
        Dipole moments, A m (vector components along head-frame x, y, z, as
        ``mne.apply_forward`` reads them).
    sfreq : float
        Hz.
    tmin : float
        Time of the first sample in the estimate, s (the recording starts at it).
    kind : str
        The estimate's class name.
    subject : str or None
    """

    indices: np.ndarray
    vertices: list
    positions: np.ndarray
    orientations: np.ndarray | None
    data: np.ndarray
    sfreq: float
    tmin: float
    kind: str
    subject: str | None

    @property
    def n_active(self) -> int:
        return len(self.indices)

    @property
    def n_times(self) -> int:
        return self.data.shape[-1]

    @property
    def vector(self) -> bool:
        return self.orientations is None

    def moments(self, start: int, stop: int) -> np.ndarray:
        """Dipole moments of samples [start, stop) as (n_active * 3, n) in head-frame
        components for a vector estimate, (n_active, n) along the orientations
        otherwise; A m. Samples outside the estimate are zero.

        Inside the estimate, a read-only view of :attr:`data` (no copy); a new array
        otherwise."""
        n = stop - start
        rows = self.n_active * (3 if self.vector else 1)
        if 0 <= start and stop <= self.n_times:
            view = self.data[..., start:stop].reshape(rows, n)  # rows merge: a view
            view.flags.writeable = False
            return view
        out = np.zeros((rows, n))
        a, b = max(start, 0), min(stop, self.n_times)
        if b > a:
            out[:, a - start:b - start] = self.data[..., a:b].reshape(rows, b - a)
        return out


def _space_offsets(sources: SourceSpace):
    """Vertex numbers of each MNE source space and the qsense index of its first one."""
    spaces = sources.to_mne()
    vertnos = [np.asarray(s["vertno"]) for s in spaces]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vertnos])])
    if offsets[-1] != sources.n_sources:
        raise ValueError(
            f"sources.to_mne() holds {offsets[-1]} vertices but sources has "
            f"{sources.n_sources}; the source space is inconsistent"
        )
    return vertnos, offsets[:-1]


def active_sources(sources: SourceSpace, stc) -> ActiveSources:
    """Check an MNE source estimate against a source space; return its active sources.

    Parameters
    ----------
    sources : qsense.sources.SourceSpace
    stc : mne.SourceEstimate, mne.VectorSourceEstimate, mne.VolSourceEstimate or
        mne.VolVectorSourceEstimate
        Dipole moments in A m, with ``stc.vertices`` the vertex numbers of
        ``sources.to_mne()`` (one array per MNE source space: two for a cortex, one for
        a volume or a set of points). A scalar estimate drives the sources along their
        normals (``sources.normals``; a source space without normals needs a vector
        estimate). A vector estimate gives the moment's head-frame x, y, z components,
        as ``mne.apply_forward`` reads them.

    Returns
    -------
    ActiveSources

    Raises
    ------
    TypeError
        For anything that is not one of the estimates above.
    ValueError
        For vertices that are not in the source space, a different subject, a scalar
        estimate on sources without normals, a non-finite value, a moment larger than
        :data:`MAX_DIPOLE_MOMENT` (a unit error), a non-positive time step, or fewer
        than 2 samples.
    """
    import mne
    from mne.source_estimate import _BaseSourceEstimate, _BaseVectorSourceEstimate

    validate_type(sources, SourceSpace, "sources", "qsense SourceSpace")
    if not isinstance(stc, _BaseSourceEstimate) or isinstance(stc, mne.MixedSourceEstimate):
        raise TypeError(
            "stc must be an mne.SourceEstimate, VectorSourceEstimate, VolSourceEstimate or "
            f"VolVectorSourceEstimate, got {type(stc).__name__}"
        )
    vector = isinstance(stc, _BaseVectorSourceEstimate)
    if stc.subject is not None and sources.subject is not None \
            and stc.subject != sources.subject:
        raise ValueError(f"stc.subject={stc.subject!r} does not match the source space's "
                         f"subject {sources.subject!r}")
    vertnos, offsets = _space_offsets(sources)
    if len(stc.vertices) != len(vertnos):
        raise ValueError(
            f"stc has {len(stc.vertices)} vertex array(s) but the source space has "
            f"{len(vertnos)} MNE source space(s) ({sources.kind}); use a "
            f"{'SourceEstimate' if len(vertnos) == 2 else 'VolSourceEstimate'}"
        )
    indices = []
    for k, (want, have, off) in enumerate(zip(stc.vertices, vertnos, offsets, strict=True)):
        want = np.asarray(want)
        pos = np.searchsorted(have, want)
        ok = (pos < len(have)) & (have[np.minimum(pos, len(have) - 1)] == want)
        if not np.all(ok):
            bad = want[~ok]
            raise ValueError(
                f"stc.vertices[{k}] has {len(bad)} vertex number(s) that are not in the "
                f"source space (e.g. {bad[:5].tolist()}); the space has vertices "
                f"{have[:3].tolist()}...{have[-1:].tolist()} ({len(have)} in all)"
            )
        indices.append(off + pos)
    indices = np.concatenate(indices).astype(int)
    data = np.asarray(stc.data)
    # the extremes show NaN and inf: two passes, no temporary as large as the estimate
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("stc.data must be finite (A m); found NaN or inf")
    peak = max(-lo, hi)
    if peak > MAX_DIPOLE_MOMENT:
        raise ValueError(
            f"stc.data reaches {peak:.3g} A m; dipole moments are in A m (evoked responses "
            f"are about 1e-8 A m = 10 nAm), allowed <= {MAX_DIPOLE_MOMENT:g} A m. Were nAm "
            "passed as A m?"
        )
    if not (np.isfinite(stc.tstep) and stc.tstep > 0):
        raise ValueError(f"stc.tstep must be > 0 s, got {stc.tstep!r}")
    if data.shape[-1] < 2:
        raise ValueError(f"stc must have at least 2 time samples, got {data.shape[-1]}")
    if vector:
        orientations = None
    elif sources.normals is None:
        raise ValueError(
            f"stc is a scalar {type(stc).__name__}, whose sources point along the source "
            f"normals, but the {sources.kind} source space has no normals; pass a "
            "VolVectorSourceEstimate (moments along x, y, z) instead"
        )
    else:
        orientations = sources.normals[indices]
    return ActiveSources(
        indices=indices, vertices=[np.asarray(v) for v in stc.vertices],
        positions=sources.positions[indices], orientations=orientations, data=data,
        sfreq=float(1.0 / stc.tstep), tmin=float(stc.tmin), kind=type(stc).__name__,
        subject=stc.subject,
    )
