"""Channel noise of an array, from explicit values or its noise floors and a bandwidth."""

import numbers

import numpy as np

from qsense._checks import check_per_item


def channel_noise_std(array, noise_std, bandwidth):
    """Per-channel noise standard deviation (T; T/m for planar gradiometers).

    Exactly one of ``noise_std`` (T, scalar or per channel) and ``bandwidth`` (Hz: the
    array's white noise floors times ``sqrt(bandwidth)``) must be given.
    """
    if (noise_std is None) == (bandwidth is None):
        raise ValueError("give exactly one of noise_std (T per channel) and bandwidth (Hz, "
                         "with the array's noise floors)")
    if bandwidth is not None:
        if (isinstance(bandwidth, bool) or not isinstance(bandwidth, numbers.Real)
                or not np.isfinite(bandwidth) or bandwidth <= 0):
            raise ValueError(f"bandwidth must be a finite number of Hz > 0, got {bandwidth!r}")
        return np.asarray(array.noise) * np.sqrt(float(bandwidth))
    std = check_per_item("noise_std", noise_std, len(array.names), unit="T")
    if not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError(f"noise_std must be finite and > 0 (T), got {noise_std!r}")
    if np.any(std > 1e-6):
        raise ValueError(f"noise_std must be in tesla; got up to {std.max():g} T")
    return std
