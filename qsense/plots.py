"""Figures of qsense results, drawn on :class:`matplotlib.figure.Figure` objects.

Nothing here touches pyplot or the matplotlib backend: pass an Axes to draw into your
own figure, or take the returned Axes' ``.figure`` and call ``savefig`` on it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["plot_budget"]


def plot_budget(ds: xr.Dataset, ax=None, title: str | None = None):
    """Plot the channel-median ASD of every contributor and the total (fT/sqrt(Hz)).

    Parameters
    ----------
    ds : xarray.Dataset
        A noise budget from :func:`qsense.budget.noise_budget`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into. Default: a new ``matplotlib.figure.Figure`` (7 x 4.5 in),
        not registered with pyplot.
    title : str, optional
        Default: ``"<sensor> in room <room>"`` from the dataset's attributes.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into; ``ax.figure.savefig(path)`` writes the figure.
    """
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 4.5)).subplots()
    f = ds["frequency"].values
    for c in ds["contributor"].values:
        y = ds["asd"].sel(contributor=c).median("channel").values * 1e15
        if np.any(y > 0):
            ax.loglog(f, y, label=str(c))
    total = ds["total"].median("channel").values * 1e15
    ax.loglog(f, total, "k", lw=2, label="total")
    # contributors far below the total (line skirts, tiny tails) say nothing: clip there
    ax.set_ylim(bottom=1e-3 * float(np.min(total)))
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("ASD, channel median (fT/sqrt(Hz))")
    ax.set_title(title or f"{ds.attrs.get('sensor')} in room {ds.attrs.get('room')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax
