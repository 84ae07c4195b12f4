"""Multi-file outputs are committed together (qsense._io.commit_files).

``qsense compare --quick`` runs once (a module fixture, through the console script); its
dataset is then committed again, into a copy of its output folder, and the commit is
stopped at each named step: by an exception (the commit cleans up after itself) and by a
simulated kill (no clean-up runs: the kernel only drops the locks). Afterwards the output
folder holds either the complete old results or the complete new ones
(:func:`qsense._io.verify_manifest`), and the next run removes what the killed one left.
Two real kills (``os._exit`` in a child interpreter) check the simulation.
"""

import errno
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
import xarray as xr

from qsense import _io
from qsense._io import (
    ManifestError,
    atomic_write,
    clean_stale,
    commit_files,
    new_run_id,
    verify_manifest,
)
from qsense.cli.compare import write_outputs

FILES = ["compare.nc", "manifest.json", "report.html"]
# the steps of a commit onto an existing folder, and those after which the new results
# are in place
EXCHANGE_STEPS = ["staging", "wrote compare.nc", "wrote report.html", "wrote manifest.json",
                  "exchanged", "removing old"]
FALLBACK_STEPS = ["wrote manifest.json", "moved old aside", "moved new in", "removing old"]
NEW_AFTER = {"exchanged", "moved new in", "removing old"}


class Stop(BaseException):
    """Raised at a checkpoint (a BaseException, like KeyboardInterrupt)."""


def _leftovers(folder):
    return sorted(e for e in os.listdir(folder) if e.startswith(".qsense-"))


def _run_id_of_files(out):
    with xr.open_dataset(out / "compare.nc") as ds:
        nc = ds.attrs["run_id"]
    html = (out / "report.html").read_text()
    return nc, html.split("name='qsense-run-id' content='")[1].split("'")[0]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One real ``qsense compare --quick`` into a new folder: (folder, run id, dataset)."""
    out = tmp_path_factory.mktemp("first") / "out"
    res = subprocess.run([sys.executable, "-m", "qsense.cli", "compare", "--quick",
                          "--arrays", "opm,neuromag306", "--output-dir", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    run_id = verify_manifest(out)
    assert f"(run {run_id}," in res.stdout
    return out, run_id, xr.load_dataset(out / "compare.nc")


def test_first_run_commits_three_files_with_one_run_id(first_run):
    out, run_id, ds = first_run
    assert sorted(os.listdir(out)) == FILES
    assert _leftovers(out.parent) == []
    assert ds.attrs["run_id"] == run_id and _run_id_of_files(out) == (run_id, run_id)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "qsense-manifest/1" and manifest["output"] == "out"
    assert manifest["command"][:3] == ["qsense", "compare", "--quick"]
    assert manifest["qsense_version"] and manifest["created_utc"].endswith("Z")
    assert [f["name"] for f in manifest["files"]] == ["compare.nc", "report.html"]
    for f in manifest["files"]:
        assert f["size"] == (out / f["name"]).stat().st_size and len(f["sha256"]) == 64
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~mask  # not mkdtemp's 0700


@pytest.fixture
def old(first_run, tmp_path):
    """A copy of the first run's folder (the old results) and its run id."""
    base, run_id, ds = first_run
    out = tmp_path / "out"
    shutil.copytree(base, out)
    os.chmod(out, 0o750)
    assert verify_manifest(out) == run_id
    return out, run_id, ds


def _stop_at(monkeypatch, step, mode):
    def checkpoint(name):
        if name == step:
            raise Stop(name)

    monkeypatch.setattr(_io, "_checkpoint", checkpoint)
    if mode == "kill":  # a killed process runs no clean-up
        monkeypatch.setattr(_io, "_abandon", lambda *args: None)


def _interrupt_and_recover(monkeypatch, old, step, mode):
    out, old_id, ds = old
    new_id = new_run_id()
    _stop_at(monkeypatch, step, mode)
    with pytest.raises(Stop):
        write_outputs(ds, out, run_id=new_id)
    monkeypatch.undo()
    return out, old_id, new_id, ds


@pytest.mark.parametrize("mode", ["exception", "kill"])
@pytest.mark.parametrize("step", EXCHANGE_STEPS)
def test_interrupted_commit_leaves_old_or_new_complete(monkeypatch, old, step, mode):
    out, old_id, new_id, ds = _interrupt_and_recover(monkeypatch, old, step, mode)
    expected = new_id if step in NEW_AFTER else old_id
    assert verify_manifest(out) == expected
    assert _run_id_of_files(out) == (expected, expected)
    assert sorted(os.listdir(out)) == FILES
    assert stat.S_IMODE(out.stat().st_mode) == 0o750  # the folder keeps its permissions
    if mode == "exception":
        assert _leftovers(out.parent) == []
    else:
        stale = _leftovers(out.parent)
        assert len(stale) == 1 and stale[0].startswith(".qsense-staging-out-")
    # the next run cleans up what the interrupted one left, and commits
    third = write_outputs(ds, out)
    assert verify_manifest(out) == third and _leftovers(out.parent) == []


@pytest.mark.parametrize("mode", ["exception", "kill"])
@pytest.mark.parametrize("step", FALLBACK_STEPS)
def test_two_rename_fallback_without_renameat2(monkeypatch, old, step, mode):
    def no_exchange(a, b):
        raise _io._NoExchange(errno.ENOSYS, "not here")

    out, old_id, ds = old
    new_id = new_run_id()
    _stop_at(monkeypatch, step, mode)
    monkeypatch.setattr(_io, "_exchange", no_exchange)
    with pytest.raises(Stop):
        write_outputs(ds, out, run_id=new_id)
    monkeypatch.undo()
    if mode == "kill" and step == "moved old aside":
        # the one window of the fallback: no output folder; both complete folders wait
        # beside it, and the next run (clean_stale) puts the newest back first
        assert not out.exists() and len(_leftovers(out.parent)) == 2
        clean_stale(out)
        assert verify_manifest(out) == new_id and _leftovers(out.parent) == []
    else:
        assert verify_manifest(out) == (new_id if step in NEW_AFTER else old_id)
    assert (_leftovers(out.parent) == []) == (mode == "exception" or step == "moved old aside")
    third = write_outputs(ds, out)
    assert verify_manifest(out) == third and _leftovers(out.parent) == []


_CHILD = """
import os, sys
import xarray as xr
from qsense import _io
from qsense.cli.compare import write_outputs

def checkpoint(step):
    if step == sys.argv[1]:
        os._exit(99)

_io._checkpoint = checkpoint
write_outputs(xr.load_dataset(sys.argv[2]), sys.argv[3], run_id=sys.argv[4])
"""


@pytest.mark.parametrize("step", ["wrote report.html", "exchanged"])
def test_real_kill_then_next_run_cleans_up(first_run, old, step):
    """A child interpreter dies (os._exit) in the middle of the commit."""
    base, _, _ = first_run
    out, old_id, ds = old
    new_id = new_run_id()
    res = subprocess.run([sys.executable, "-c", _CHILD, step, str(base / "compare.nc"),
                          str(out), new_id], capture_output=True, text=True, timeout=300)
    assert res.returncode == 99, res.stderr[-3000:]
    assert verify_manifest(out) == (new_id if step in NEW_AFTER else old_id)
    assert len(_leftovers(out.parent)) == 1  # the dead child's staging folder
    third = write_outputs(ds, out)
    assert verify_manifest(out) == third and _leftovers(out.parent) == []


# --- the pieces ---------------------------------------------------------------------------

def _locked_dir(path):
    """A folder held locked as a running commit holds its staging folder: (path, fd)."""
    def make():
        path.mkdir()
        return str(path)

    return _io._lock_new(make)


def test_live_staging_folder_is_kept_stale_one_removed(tmp_path):
    out = tmp_path / "out"
    live, fd = _locked_dir(tmp_path / ".qsense-staging-out-live")
    (tmp_path / ".qsense-staging-out-dead").mkdir()
    (tmp_path / ".qsense-old-out-dead").mkdir()
    (tmp_path / ".qsense-staging-other-dead").mkdir()  # another output's: not ours
    assert clean_stale(out) == [tmp_path / ".qsense-old-out-dead",
                                tmp_path / ".qsense-staging-out-dead"]
    assert live.exists()  # a running commit holds its lock
    os.close(fd)
    assert clean_stale(out) == [live]
    assert _leftovers(tmp_path) == [".qsense-staging-other-dead"]


def test_commit_refuses_a_folder_with_other_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work\n")
    with pytest.raises(ValueError, match="thesis.tex"):
        commit_files(out, {"a.txt": lambda p: p.write_text("a")})
    assert (out / "thesis.tex").exists() and _leftovers(tmp_path) == []
    for bad in ("manifest.json", ".hidden", "sub/a.txt", ""):
        with pytest.raises(ValueError, match="writers"):
            commit_files(tmp_path / "new", {bad: lambda p: p.write_text("a")})
    with pytest.raises(ValueError, match="existing file"):
        commit_files(out / "thesis.tex", {"a.txt": lambda p: p.write_text("a")})


def test_failing_writer_keeps_the_old_results(tmp_path):
    out = tmp_path / "out"
    first = commit_files(out, {"a.txt": lambda p: p.write_text("old")})

    def fail(path):
        path.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        commit_files(out, {"a.txt": lambda p: p.write_text("new"), "b.txt": fail})
    assert verify_manifest(out) == first and (out / "a.txt").read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_verify_manifest_finds_mixed_and_damaged_folders(first_run, tmp_path):
    base, run_id, ds = first_run
    other = tmp_path / "other"
    other_id = write_outputs(ds, other)
    cases = {}
    for name in ("damaged", "mixed", "relabelled", "extra", "missing", "no_manifest"):
        cases[name] = tmp_path / name
        shutil.copytree(base, cases[name])
    with open(cases["damaged"] / "report.html", "ab") as fh:
        fh.write(b" ")
    shutil.copy(other / "compare.nc", cases["mixed"] / "compare.nc")
    # a manifest whose checksums fit, but one file is from another run
    shutil.copy(other / "compare.nc", cases["relabelled"] / "compare.nc")
    manifest = json.loads((cases["relabelled"] / "manifest.json").read_text())
    manifest["files"][0] = _io._file_entry(cases["relabelled"] / "compare.nc")
    (cases["relabelled"] / "manifest.json").write_text(json.dumps(manifest))
    (cases["extra"] / "notes.txt").write_text("x")
    (cases["missing"] / "report.html").unlink()
    (cases["no_manifest"] / "manifest.json").unlink()
    expected = {"damaged": r"report.html has size", "mixed": r"compare.nc has",
                "relabelled": rf"compare.nc carries run id '{other_id}'",
                "extra": r"notes.txt not in the manifest", "missing": r"report.html is missing",
                "no_manifest": r"no manifest.json"}
    for name, match in expected.items():
        with pytest.raises(ManifestError, match=match):
            verify_manifest(cases[name])
    assert verify_manifest(base) == run_id


def test_atomic_write_removes_stale_temporaries_only(tmp_path):
    target = tmp_path / "budget.nc"
    stale_dir = tmp_path / ".qsense-tmp-budget.nc-abc123"
    stale_dir.mkdir()
    (stale_dir / "budget.nc").write_text("half")
    legacy = tmp_path / ".budget.nc.k2j4_x9q.nc"  # what atomic_write used to leave
    legacy.write_text("half")
    mine = tmp_path / ".budget.nc.notes"  # not a temporary's name: kept
    mine.write_text("keep")
    live, fd = _locked_dir(tmp_path / ".qsense-tmp-budget.nc-live")
    try:
        atomic_write(target, lambda p: p.write_text("done"))
        assert target.read_text() == "done"
        assert sorted(e for e in os.listdir(tmp_path) if e.startswith(".")) == [
            ".budget.nc.notes", ".qsense-tmp-budget.nc-live"]
    finally:
        os.close(fd)

    def fail(path):
        path.write_text("half")
        raise Stop("killed")

    with pytest.raises(Stop):
        atomic_write(target, fail)
    assert target.read_text() == "done"
    atomic_write(target, lambda p: p.write_text("again"))
    assert sorted(e for e in os.listdir(tmp_path) if e.startswith(".")) == [".budget.nc.notes"]


def test_renameat2_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from_a").touch()
    (b / "from_b").touch()
    _io._exchange(a, b)  # this file system has renameat2: no fallback taken here
    assert os.listdir(a) == ["from_b"] and os.listdir(b) == ["from_a"]
    with pytest.raises(FileNotFoundError):
        _io._exchange(a, tmp_path / "missing")
