"""The BEM cache opens regular files only, follows no links and survives racing builders.

An entry replaced by a symbolic link (to a FIFO, to a valid file elsewhere, to nothing),
a FIFO or a directory is refused, logged, removed (the link itself, never its target)
and rebuilt, without blocking. Two processes building the same entry at once leave one
valid file. Calls that could block run in a subprocess with a timeout, so that a
regression fails instead of hanging.
"""

import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import qsense.bem as qbem

ROOT = Path(__file__).resolve().parents[2]
ICO = 2  # 162 vertices: a build takes well under a second
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A valid cache entry: its file name, its bytes and its solution."""
    d = tmp_path_factory.mktemp("reference")
    solution = qbem.fsaverage_bem_solution(ico=ICO, cache_dir=d)["solution"]
    (path,) = d.glob("*.npz")
    return path.name, path.read_bytes(), np.array(solution)


def _env():
    """The environment of a fresh interpreter that imports this checkout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.pop("QSENSE_CACHE_DIR", None)
    return env


def _run(code, *args, timeout=TIMEOUT):
    """Run ``code`` in a fresh interpreter on this checkout; its CompletedProcess."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=_env())


_BUILD = """
    import logging, sys
    import numpy as np
    import qsense.bem as qbem
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    bem = qbem.fsaverage_bem_solution(ico=int(sys.argv[2]), cache_dir=sys.argv[1])
    np.save(sys.argv[3], bem["solution"])
"""


def _assert_same_solution(solution, reference):
    """The same BEM solution, built in another process: that process may run BLAS with
    another number of threads (the environment of earlier tests, e.g. a Dask nanny's
    OMP_NUM_THREADS, is inherited), so the solve's sums come in another order and agree
    to a few ulps times the number of terms (162 vertices: measured 2e-13 relative)."""
    np.testing.assert_allclose(solution, reference, rtol=1e-11, atol=1e-14 * np.abs(
        reference).max())


def _assert_valid_entry(path, reference, count_solutions):
    """``path`` is a regular file that the next call reads without rebuilding."""
    assert path.is_file() and not path.is_symlink(), path
    assert not list(path.parent.glob("*.tmp")), "temporary files left behind"
    n = len(count_solutions)
    solution = qbem.fsaverage_bem_solution(ico=ICO, cache_dir=path.parent)["solution"]
    assert len(count_solutions) == n, "the rebuilt entry was not used"
    _assert_same_solution(solution, reference[2])


@pytest.mark.parametrize("kind", ["fifo", "link_to_fifo"])
def test_fifo_refused_without_blocking(tmp_path, reference, kind, count_solutions):
    cache = tmp_path / "cache"
    cache.mkdir()
    entry = cache / reference[0]
    fifo = tmp_path / "elsewhere" / "fifo"
    fifo.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(entry)
    else:
        os.mkfifo(fifo)
        entry.symlink_to(fifo)
    start = time.monotonic()
    try:
        done = _run(_BUILD, cache, ICO, tmp_path / "solution.npy")
    except subprocess.TimeoutExpired:
        pytest.fail(f"fsaverage_bem_solution blocked on a {kind} in the cache")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < TIMEOUT
    assert "refused" in done.stderr, done.stderr
    assert ("a FIFO" if kind == "fifo" else "a symbolic link") in done.stderr
    _assert_same_solution(np.load(tmp_path / "solution.npy"), reference[2])
    if kind == "link_to_fifo":  # the link went, its target stayed
        assert fifo.exists() and not fifo.is_file()
    _assert_valid_entry(entry, reference, count_solutions)


def _record_opens(monkeypatch):
    """Every path opened through os.open, builtins.open or io.open, resolved."""
    import builtins
    import io

    opened = []
    real_os_open, real_open = os.open, builtins.open

    def os_open(path, *args, **kwargs):
        opened.append(os.path.realpath(path))
        return real_os_open(path, *args, **kwargs)

    def open_(file, *args, **kwargs):
        if isinstance(file, str | bytes | os.PathLike):
            opened.append(os.path.realpath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    return opened


def test_link_to_valid_file_outside_refused(tmp_path, reference, count_solutions,
                                            monkeypatch, caplog):
    """Even a link to a perfectly valid entry is not followed: the target is neither
    opened nor changed nor removed."""
    cache = tmp_path / "cache"
    cache.mkdir()
    target = tmp_path / "outside" / "valid.npz"
    target.parent.mkdir()
    target.write_bytes(reference[1])
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    entry = cache / reference[0]
    entry.symlink_to(target)
    opened = _record_opens(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="qsense.bem"):
        solution = qbem.fsaverage_bem_solution(ico=ICO, cache_dir=cache)["solution"]
    assert str(target.resolve()) not in opened, "the link's target was opened"
    assert len(count_solutions) == 1, "the linked file was used instead of a rebuild"
    assert any("symbolic link" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert target.read_bytes() == reference[1]
    assert target.stat().st_mtime_ns == 1_000_000_000
    _assert_same_solution(solution, reference[2])
    _assert_valid_entry(entry, reference, count_solutions)


def test_dangling_link_refused(tmp_path, reference, count_solutions, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    target = tmp_path / "nowhere.npz"
    entry = cache / reference[0]
    entry.symlink_to(target)
    with caplog.at_level(logging.WARNING, logger="qsense.bem"):
        qbem.fsaverage_bem_solution(ico=ICO, cache_dir=cache)
    assert not target.exists() and not target.is_symlink(), "the link's target was created"
    assert any("symbolic link" in r.getMessage() for r in caplog.records)
    _assert_valid_entry(entry, reference, count_solutions)


def test_empty_directory_refused_and_replaced(tmp_path, reference, count_solutions, caplog):
    cache = tmp_path / "cache"
    entry = cache / reference[0]
    entry.mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="qsense.bem"):
        solution = qbem.fsaverage_bem_solution(ico=ICO, cache_dir=cache)["solution"]
    assert any("directory" in r.getMessage() for r in caplog.records)
    _assert_same_solution(solution, reference[2])
    _assert_valid_entry(entry, reference, count_solutions)


def test_full_directory_refused_and_left_alone(tmp_path, reference, count_solutions,
                                               caplog):
    """A directory with files in it is not read and not deleted; the solution is still
    computed and returned (the cache write fails with a warning)."""
    cache = tmp_path / "cache"
    entry = cache / reference[0]
    entry.mkdir(parents=True)
    (entry / "keep.txt").write_text("not yours")
    with caplog.at_level(logging.WARNING, logger="qsense.bem"):
        solution = qbem.fsaverage_bem_solution(ico=ICO, cache_dir=cache)["solution"]
    _assert_same_solution(solution, reference[2])
    assert (entry / "keep.txt").read_text() == "not yours"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "directory" in messages and "could not write" in messages
    assert not list(cache.glob("*.tmp")), "temporary files left behind"


def test_cache_dir_may_be_a_link(tmp_path, reference, count_solutions):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "linked").symlink_to(real, target_is_directory=True)
    qbem.fsaverage_bem_solution(ico=ICO, cache_dir=tmp_path / "linked")
    qbem.fsaverage_bem_solution(ico=ICO, cache_dir=tmp_path / "linked")
    assert len(count_solutions) == 1, "an entry in a linked cache directory was not used"
    assert (real / reference[0]).is_file()


def test_cache_dir_that_is_a_file(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ValueError, match="cache_dir=.*not a directory"):
        qbem.fsaverage_bem_solution(ico=ICO, cache_dir=f)
    monkeypatch.setenv("QSENSE_CACHE_DIR", str(f))
    with pytest.raises(ValueError, match="QSENSE_CACHE_DIR=.*not a directory"):
        qbem.bem_cache_dir()


_RACE = """
    import os, sys, time
    import numpy as np
    import qsense.bem as qbem
    cache, ico, out, ready, go = sys.argv[1:6]
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    bem = qbem.fsaverage_bem_solution(ico=int(ico), cache_dir=cache)
    np.save(out, bem["solution"])
"""


def test_concurrent_builders_leave_one_valid_entry(tmp_path, count_solutions):
    """Two processes that build the same entry at the same moment (ico 3) both get the
    solution and leave one whole, valid file and no temporary files."""
    cache = tmp_path / "cache"
    go = tmp_path / "go"
    env = _env()
    procs = []
    for i in range(2):
        args = [cache, 3, tmp_path / f"out{i}.npy", tmp_path / f"ready{i}", go]
        procs.append(subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_RACE), *map(str, args)],
            env=env, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, "builders did not start"
            assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs]
            time.sleep(0.01)
        go.touch()
        for p in procs:
            _, err = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    entries = sorted(cache.iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".npz", entries
    assert entries[0].is_file() and not entries[0].is_symlink()
    a, b = (np.load(tmp_path / f"out{i}.npy") for i in range(2))
    np.testing.assert_array_equal(a, b)
    solution = qbem.fsaverage_bem_solution(ico=3, cache_dir=cache)["solution"]
    assert len(count_solutions) == 0, "the entry left by the racing builders was not valid"
    np.testing.assert_array_equal(solution, a)
