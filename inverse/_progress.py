"""Progress of a job made of stages of unequal length, on one bar with an estimate.

A job (the comparison study, then its report) is planned as a list of stages, each with
an estimated duration in seconds (:func:`inverse.study.plan`). The bar counts estimated
seconds, so its percentage is the share of the estimated work done, and the time left is
the estimated work left divided by the rate observed so far: a machine twice as slow as
the estimate shows a bar that moves half as fast and a correct time left. Within a long
stage a ticker thread moves the bar on at that observed rate, up to 95 % of the stage's
estimate, so the bar never stands still for long; the stage's end sets it exactly.

The bar is `tqdm <https://tqdm.github.io>`_ (an MNE dependency) on standard error.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

__all__ = ["Stages"]

_TICK = 0.5  # s between moves of the bar inside a stage


class Stages:
    """Progress through planned stages.

    Parameters
    ----------
    plan : sequence of (key, label, seconds)
        The stages in order: a key the job names it by, the label shown, the estimated
        duration (s, >= 0).
    enabled : bool
        Show the bar; when False every method does nothing (and costs nothing).
    desc : str
        Shown before the bar.
    file : file object, optional
        Where the bar goes (default ``sys.stderr``).

    Notes
    -----
    ``durations`` holds the measured seconds of every stage run, enabled or not (used to
    check the estimates).
    """

    def __init__(self, plan, *, enabled: bool = True, desc: str = "qsense", file=None):
        self.plan = [(str(k), str(label), float(s)) for k, label, s in plan]
        keys = [k for k, _, _ in self.plan]
        if len(set(keys)) != len(keys):
            raise ValueError(f"plan keys must be distinct, got {keys}")
        if any(s < 0 for _, _, s in self.plan):
            raise ValueError("plan durations must be >= 0 s")
        self.enabled = bool(enabled)
        self.durations: dict[str, float] = {}
        self._estimate = {k: s for k, _, s in self.plan}
        self._labels = {k: label for k, label, _ in self.plan}
        self._total = max(sum(self._estimate.values()), 1e-9)
        self._done = 0.0  # estimated seconds of the finished stages
        self._lock = threading.Lock()
        self._current = None  # (key, start time)
        self._t0 = time.perf_counter()
        self._bar = None
        self._stop = threading.Event()
        self._ticker = None
        if self.enabled:
            from tqdm import tqdm  # an MNE dependency

            self._bar = tqdm(total=round(self._total, 1), desc=desc,
                             file=sys.stderr if file is None else file, leave=True,
                             dynamic_ncols=True, mininterval=0.2,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                                        "{elapsed} elapsed, ~{remaining} left{postfix}")
            self._ticker = threading.Thread(target=self._tick, daemon=True,
                                            name="qsense-progress")
            self._ticker.start()

    @property
    def keys(self) -> list[str]:
        return [k for k, _, _ in self.plan]

    def _rate(self, now):
        """Estimated seconds done per real second so far (1 before any stage ended)."""
        elapsed = now - self._t0
        return self._done / elapsed if self._done > 0 and elapsed > 0 else 1.0

    def _show(self, n, label):
        self._bar.n = round(min(n, self._total), 1)
        self._bar.set_postfix_str(label, refresh=False)
        self._bar.refresh()

    def _tick(self):
        while not self._stop.wait(_TICK):
            with self._lock:
                if self._current is None:
                    continue
                key, start = self._current
                now = time.perf_counter()
                inside = min((now - start) * self._rate(start), 0.95 * self._estimate[key])
                self._show(self._done + inside, self._labels[key])

    @contextlib.contextmanager
    def stage(self, key: str, label: str | None = None):
        """Run one planned stage: ``with stages.stage("bem"): ...``.

        ``label`` replaces the planned label (e.g. to add a detail found at run time).
        """
        if key not in self._estimate:
            raise ValueError(f"stage {key!r} is not in the plan {self.keys}")
        if label is not None:
            self._labels[key] = str(label)
        start = time.perf_counter()
        with self._lock:
            self._current = (key, start)
            if self._bar is not None:
                self._show(self._done, self._labels[key])
        try:
            yield self
        finally:
            with self._lock:
                self.durations[key] = time.perf_counter() - start
                self._current = None
                self._done += self._estimate[key]
                if self._bar is not None:
                    self._show(self._done, self._labels[key])

    def close(self, message: str | None = None, *, complete: bool = True):
        """Stop the ticker and close the bar (``message``: its last label; ``complete``:
        fill the bar)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._bar is not None:
            with self._lock:
                if complete:
                    self._bar.n = self._bar.total
                self._bar.set_postfix_str(message or ("done" if complete else "stopped"),
                                          refresh=False)
                self._bar.refresh()
                self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(complete=exc_type is None)
        return False
