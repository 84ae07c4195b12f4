"""Shared by the benchmark scripts: best-of-N timing and the side-by-side printout."""

import time


def best_of(fn, repeats):
    """The shortest of ``repeats`` wall-clock times of ``fn()``, s."""
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def print_side_by_side(peer_label, peer, peer_repeats, ours_label, cold, warm, warm_repeats):
    """Peer time, qsense cold (fresh process) and warm times, and the two ratios."""
    print(f"{peer_label:26s}: {peer:8.3f} s (best of {max(1, peer_repeats)})")
    print(f"{ours_label + ', cold':26s}: {cold:8.3f} s (fresh process, compile included)")
    print(f"{ours_label + ', warm':26s}: {warm:8.3f} s (best of {max(1, warm_repeats)})")
    print(f"{'ratio peer/qsense cold':26s}: {peer / cold:8.1f} x")
    print(f"{'ratio peer/qsense warm':26s}: {peer / warm:8.1f} x")
