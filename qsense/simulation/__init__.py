"""Recordings: what an array would record from sources, through its sensors, to MNE Raw.

:func:`simulate_raw` runs the chain chunk by chunk; each stage is a plain function that
can be called on its own:

1. :func:`true_field`: source currents -> the true field at every coil (and the
   3-component field in each OPM cell) (:mod:`~qsense.simulation.field`); with head
   movement in a fixed helmet :class:`MovingSourceField` (:mod:`~.moving_field`,
   trajectories in :mod:`~.trajectory`); the room's field as time series, sensors
   moving through it (:class:`RoomField`, :mod:`~qsense.simulation.room`, seeded
   series in :mod:`~qsense.simulation.series`);
2. :func:`sensor_response`: sensor physics (:mod:`~qsense.simulation.physics`);
3. :func:`sensor_noise`: white + 1/f sensor noise in fixed, seeded blocks
   (:mod:`~qsense.simulation.noise`);
4. :func:`digitise`: the ADC (:mod:`~qsense.simulation.adc`).

The ground truth travels with the data (:mod:`~qsense.simulation.truth`,
:func:`read_truth`). See ``docs/simulation.md``.
"""

from .adc import ADC, digitise
from .currents import ActiveSources, active_sources
from .field import SourceField, true_field
from .moving_field import MovingSourceField
from .noise import sensor_noise
from .physics import first_order_lowpass, sensor_response
from .raw import DESCRIPTION_PREFIX, simulate_raw
from .room import DrawnTrajectory, RoomField, RoomSignals, Trajectory
from .trajectory import check_head_pos, poses_at
from .truth import read_truth, truth_fname

__all__ = [
    "simulate_raw",
    "true_field",
    "sensor_response",
    "sensor_noise",
    "digitise",
    "ADC",
    "active_sources",
    "ActiveSources",
    "SourceField",
    "MovingSourceField",
    "RoomField",
    "RoomSignals",
    "Trajectory",
    "DrawnTrajectory",
    "check_head_pos",
    "poses_at",
    "first_order_lowpass",
    "read_truth",
    "truth_fname",
    "DESCRIPTION_PREFIX",
]
