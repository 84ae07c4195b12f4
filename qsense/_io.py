"""Results written so that neither a crash nor a kill leaves a half-written or mixed result.

One file: :func:`atomic_write` writes a hidden temporary file beside the target and
renames it onto the target (one ``rename``: readers see the old file or the new one).

Several files that belong together (``qsense compare`` writes ``compare.nc`` and
``report.html``): :func:`commit_files` commits them as one folder.

1. Leftovers of killed runs beside the output folder (``.qsense-staging-*`` and
   ``.qsense-old-*`` folders) are removed first. A leftover is stale when no live process
   holds its lock: every commit holds an exclusive ``flock`` on its staging folder while it
   runs, and the kernel drops the lock when the process dies, however it dies.
2. A fresh hidden staging folder ``.qsense-staging-<name>-<random>`` is made in the output
   folder's parent (the same file system, so the renames below are atomic) and locked.
3. Every file is written into it and flushed to disk (``fsync``); then ``manifest.json``
   (format, run id, UTC time, qsense version, command line, the output folder's name, and
   each file's name, size and SHA-256) is written LAST and flushed, then the folder itself.
   A staging folder with a manifest therefore holds complete files.
4. The staging folder and the output folder are swapped in one system call, Linux's
   ``renameat2(AT_FDCWD, staging, AT_FDCWD, output, RENAME_EXCHANGE)`` (Linux >= 3.15,
   glibc >= 2.28; called through :mod:`ctypes`). A reader sees the complete old folder or
   the complete new one, never a mix and never nothing. Where the output folder does not
   exist yet, a plain ``rename``.
5. The parent folder is flushed, then the old folder, now under the staging name, removed.

Without ``renameat2`` (not Linux, an old C library, or a file system that answers
``ENOSYS``, ``EINVAL`` or ``EOPNOTSUPP``) the swap takes two renames: the old folder aside
to ``.qsense-old-<name>-<random>``, the staging folder in. Between the two the output
folder does not exist; a kill there leaves both complete folders beside it, and the next
commit (:func:`clean_stale`) first puts the newest complete one back. On such systems a
reader must check the folder with :func:`verify_manifest` (a missing folder: try again
later), which also tells whether the files all belong to one run.

Each file of a commit carries its run id (the NetCDF global attribute ``run_id``; a
``<meta name="qsense-run-id">`` in HTML; a ``run_id`` key in JSON), and
:func:`verify_manifest` checks the ids, sizes and checksums.

The commit refuses to replace a folder that holds anything else than a previous run's
files (a user's own files are never deleted).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import errno
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover  (not POSIX: no locks; leftovers are always stale)
    fcntl = None

__all__ = [
    "atomic_write",
    "commit_files",
    "verify_manifest",
    "clean_stale",
    "check_commit_target",
    "new_run_id",
    "ManifestError",
    "MANIFEST",
]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "qsense-manifest/1"
STAGING_PREFIX = ".qsense-staging-"
OLD_PREFIX = ".qsense-old-"
TMP_PREFIX = ".qsense-tmp-"
_NAME_CHARS = 80  # of the output's name kept in leftover names (file names end at 255)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}
# mkstemp's names (the temporaries of atomic_write before they got TMP_PREFIX)
_LEGACY_TMP = "[a-z0-9_]{8}"


class ManifestError(ValueError):
    """An output folder that is not one complete run (see :func:`verify_manifest`)."""


class _NoExchange(OSError):
    """``renameat2(RENAME_EXCHANGE)`` is not available here."""


def _checkpoint(step: str) -> None:
    """Called after each step of :func:`commit_files` and :func:`atomic_write`.

    Does nothing; the fault-injection tests replace it to stop a commit at ``step``.
    """


def new_run_id() -> str:
    """A new run id: UTC time and 32 random bits, e.g. ``20240501T120000Z-1a2b3c4d``."""
    now = datetime.datetime.now(datetime.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


# --- locks and removal ---------------------------------------------------------------------

def _lock_new(make: Callable[[], str]) -> tuple[Path, int | None]:
    """``make()`` a new file or folder and hold an exclusive lock on it.

    A cleaner that found it unlocked in the moment between the two may have removed it:
    then make another.
    """
    while True:
        path = make()
        if fcntl is None:  # pragma: no cover
            return Path(path), None
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return Path(path), fd
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on ``fd`` if no other open file holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _remove_if_stale(path: Path) -> bool:
    """Remove ``path`` (a file or folder) unless a live process holds its lock.

    The lock is held while removing, so a commit cannot take the path meanwhile.
    """
    if fcntl is None:  # pragma: no cover
        _remove(path)
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # gone, or not ours to judge (no permission)
        return False
    try:
        if not _try_lock(fd):
            return False  # a live run holds it
        _remove(path)
        return True
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Remove a file or a folder tree; entries that vanish meanwhile are not an error."""
    def gone_is_fine(func, name, exc):
        err = exc if isinstance(exc, BaseException) else exc[1]
        if not isinstance(err, FileNotFoundError):
            raise err

    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        key = "onexc" if sys.version_info >= (3, 12) else "onerror"
        shutil.rmtree(path, **{key: gone_is_fine})
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync(path: Path) -> None:
    """Flush a file or a folder (its entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems cannot fsync a folder
        if err.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _usual_mode(mode: int = 0o666) -> int:
    """``mode`` less the process's umask (what ``open`` and ``mkdir`` give)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


# --- single files --------------------------------------------------------------------------

def _tmp_prefix(name: str) -> str:
    return f"{TMP_PREFIX}{name[:_NAME_CHARS]}-"


def _is_tmp_of(entry: str, name: str) -> bool:
    """Whether ``entry`` is an :func:`atomic_write` temporary of the file ``name``."""
    suffix = Path(name).suffix
    return (entry.startswith(_tmp_prefix(name)) or re.fullmatch(
        re.escape(f".{name}.") + _LEGACY_TMP + re.escape(suffix), entry) is not None)


def atomic_write(path, write):
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one rename.

    ``tmp_path`` has ``path``'s name, in a hidden folder beside it
    (``.qsense-tmp-<name>-*``) that is locked while it is written. An exception leaves
    ``path`` as it was and no temporary file behind; temporaries of ``path`` that a
    killed run left are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for entry in os.listdir(path.parent):
        if _is_tmp_of(entry, path.name):
            _remove_if_stale(path.parent / entry)
    # the lock is on the folder: a writer (HDF5) may lock the file itself
    tmpdir, fd = _lock_new(lambda: tempfile.mkdtemp(dir=path.parent,
                                                    prefix=_tmp_prefix(path.name)))
    try:
        write(tmpdir / path.name)
        _checkpoint(f"wrote {path.name}")
        os.replace(tmpdir / path.name, path)
    finally:
        _remove(tmpdir)
        if fd is not None:
            os.close(fd)


# --- several files as one folder -----------------------------------------------------------

def _target(out_dir) -> Path:
    """The output folder as an absolute path; a symbolic link is followed (the link stays)."""
    out = Path(os.path.abspath(os.fspath(out_dir)))
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    if out.parent == out:
        raise ValueError(f"out_dir={os.fspath(out_dir)!r}: the root folder cannot be "
                         "replaced")
    return out


def _leftovers(out: Path) -> list[Path]:
    """Staging and set-aside folders of ``out`` in its parent (live or stale)."""
    name = out.name[:_NAME_CHARS]
    try:
        entries = os.listdir(out.parent)
    except FileNotFoundError:
        return []
    return sorted(out.parent / e for e in entries
                  if e.startswith((f"{STAGING_PREFIX}{name}-", f"{OLD_PREFIX}{name}-")))


def _manifest_time(folder: Path, out: Path) -> str | None:
    """The UTC time of a complete run of ``out`` in ``folder``, else None."""
    try:
        verify_manifest(folder)
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (ManifestError, OSError, ValueError):
        return None
    return manifest["created_utc"] if manifest.get("output") == out.name else None


def clean_stale(out_dir) -> list[Path]:
    """Remove what killed commits of ``out_dir`` left; return the removed paths.

    Stale (unlocked) ``.qsense-staging-*`` and ``.qsense-old-*`` folders beside the output
    folder are removed. When the output folder is missing (a fallback commit killed
    between its two renames), the newest stale folder whose manifest verifies is first put
    back in its place.
    """
    out = _target(out_dir)
    stale = _leftovers(out)
    if not os.path.lexists(out):
        complete = [(t, p) for p in stale if (t := _manifest_time(p, out)) is not None]
        if complete:
            newest = max(complete)[1]
            fd = None
            if fcntl is not None:
                fd = os.open(newest, os.O_RDONLY)
            try:
                if fd is None or _try_lock(fd):
                    os.rename(newest, out)
                    stale.remove(newest)
            finally:
                if fd is not None:
                    os.close(fd)
    return [p for p in stale if _remove_if_stale(p)]


def check_commit_target(out_dir, names: Iterable[str]) -> Path:
    """The output folder of a commit of ``names``, checked before anything is computed.

    ``out_dir`` may be missing, or a folder that holds only what a commit of ``names``
    writes (those files, the manifest, temporaries of :func:`atomic_write`). Raises
    ValueError naming the entries that a commit would otherwise delete.
    """
    out = _target(out_dir)
    if os.path.lexists(out) and not out.is_dir():
        raise ValueError(f"{out} is an existing file, not a folder")
    if not out.is_dir():
        return out
    ours = set(names) | {MANIFEST}
    foreign = sorted(e for e in os.listdir(out)
                     if e not in ours and not any(_is_tmp_of(e, n) for n in ours))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                          if len(foreign) > 5 else "")
        raise ValueError(f"{out} holds entries that qsense did not write ({shown}); it would "
                         "replace the whole folder: choose a new or empty folder")
    return out


def _file_entry(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"name": path.name, "size": path.stat().st_size, "sha256": digest.hexdigest()}


def _exchange(a: Path, b: Path) -> None:
    """Swap the paths ``a`` and ``b`` in one step (Linux ``renameat2``, RENAME_EXCHANGE).

    Raises :class:`_NoExchange` where the system cannot.
    """
    if not sys.platform.startswith("linux"):
        raise _NoExchange(errno.ENOSYS, "renameat2 is Linux only")
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:
        raise _NoExchange(errno.ENOSYS, "the C library has no renameat2") from None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE):
        code = ctypes.get_errno()
        cls = _NoExchange if code in _NO_EXCHANGE else OSError
        raise cls(code, os.strerror(code), os.fspath(a), None, os.fspath(b))


def _abandon(stage: Path, out: Path, aside: Path | None, swapped: bool) -> None:
    """Clean up after a commit that failed: keep the old results or the new, complete.

    Not swapped yet: the staging folder (partial new results) goes, and the old folder,
    if set aside, comes back. Swapped: the old results (in ``stage`` or ``aside``) go.
    A killed process never gets here; :func:`clean_stale` then does the same later.
    """
    if not swapped:
        if aside is not None and not os.path.lexists(out):
            os.rename(aside, out)
        _remove(stage)
    else:
        _remove(aside if aside is not None else stage)


def commit_files(out_dir, writers: Mapping[str, Callable[[Path], None]], *,
                 run_id: str | None = None, command: Sequence[str] | None = None) -> str:
    """Write several files into ``out_dir`` as one unit: all of them or none.

    Parameters
    ----------
    out_dir : path-like
        The output folder. Missing: it is made (and its parents). Existing: it must hold
        only a previous run's files (:func:`check_commit_target`); it is replaced as a
        whole, so files of earlier runs that this run does not write are gone too.
    writers : mapping of str to callable
        ``{file name: write}``; ``write(path)`` writes the file at ``path`` (in the
        staging folder). File names are plain (no folders), not hidden and not
        ``manifest.json``.
    run_id : str, optional
        The run id to record (default :func:`new_run_id`); the writers should put the
        same id into the files (NetCDF attribute ``run_id``, HTML
        ``<meta name="qsense-run-id">``), which :func:`verify_manifest` checks.
    command : sequence of str, optional
        The command line to record (default ``sys.argv``).

    Returns
    -------
    str
        The run id.

    Notes
    -----
    The mechanism (staging folder beside the output, manifest last, ``renameat2``
    exchange, the two-rename fallback) is described in the module docstring of
    :mod:`qsense._io`.
    """
    out = check_commit_target(out_dir, writers)
    for name in writers:
        if (not isinstance(name, str) or not name or name != Path(name).name
                or name.startswith(".") or name == MANIFEST):
            raise ValueError(f"writers: {name!r} is not allowed; use plain, visible file "
                             f"names other than {MANIFEST!r}")
    run_id = new_run_id() if run_id is None else str(run_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    stage, fd = _lock_new(lambda: tempfile.mkdtemp(
        dir=out.parent, prefix=f"{STAGING_PREFIX}{out.name[:_NAME_CHARS]}-"))
    aside, swapped = None, False
    try:
        os.chmod(stage, (os.stat(out).st_mode & 0o7777) if out.is_dir()
                 else _usual_mode(0o777))
        _checkpoint("staging")
        files = []
        for name, write in writers.items():
            write(stage / name)
            if not (stage / name).is_file():
                raise RuntimeError(f"the writer of {name} wrote no file")
            _fsync(stage / name)
            files.append(_file_entry(stage / name))
            _checkpoint(f"wrote {name}")
        from . import __version__

        manifest = {
            "format": MANIFEST_FORMAT, "run_id": run_id,
            "created_utc": datetime.datetime.now(datetime.UTC).isoformat(
                timespec="microseconds").replace("+00:00", "Z"),
            "qsense_version": __version__,
            "command": list(sys.argv if command is None else command),
            "output": out.name, "files": files,
        }
        with open(stage / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")
        _fsync(stage / MANIFEST)
        _fsync(stage)
        _checkpoint(f"wrote {MANIFEST}")
        if not out.is_dir():
            os.rename(stage, out)
            swapped = True
            _checkpoint("renamed")
        else:
            try:
                _exchange(stage, out)
                swapped = True
                _checkpoint("exchanged")
            except _NoExchange:
                aside = out.parent / f"{OLD_PREFIX}{out.name[:_NAME_CHARS]}-{secrets.token_hex(6)}"
                os.rename(out, aside)
                _checkpoint("moved old aside")
                os.rename(stage, out)
                swapped = True
                _checkpoint("moved new in")
        _fsync(out.parent)
        old = aside if aside is not None else (stage if os.path.lexists(stage) else None)
        if old is not None:
            _checkpoint("removing old")
            _remove(old)
    except BaseException:
        _abandon(stage, out, aside, swapped)
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return run_id


# --- reading back --------------------------------------------------------------------------

def _embedded_run_id(path: Path) -> str | None:
    """The run id a file carries, for the formats that carry one; else None."""
    suffix = path.suffix.lower()
    if suffix == ".nc":
        import netCDF4

        with netCDF4.Dataset(path, "r") as nc:
            return str(nc.getncattr("run_id")) if "run_id" in nc.ncattrs() else ""
    if suffix in (".html", ".htm"):
        text = path.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"<meta\s+name=['\"]qsense-run-id['\"]\s+content=['\"]([^'\"]*)['\"]",
                      text)
        return html.unescape(m.group(1)) if m else ""
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return ""
        return str(data.get("run_id", "")) if isinstance(data, dict) else ""
    return None


def verify_manifest(out_dir) -> str:
    """Check that ``out_dir`` holds one complete run; return its run id.

    Checks that ``manifest.json`` exists and is well formed, that every file it lists is
    there with its size and SHA-256, that every file which can carry a run id (NetCDF,
    HTML, JSON) carries the manifest's, and that the folder holds no other visible files.

    Raises
    ------
    ManifestError
        (a ValueError) naming the folder, the file and what is wrong.
    """
    out = Path(out_dir)
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{out}: no {MANIFEST} (not a complete qsense run)") from None
    except (OSError, ValueError) as err:
        raise ManifestError(f"{out}/{MANIFEST} cannot be read: {err}") from None
    if (not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT
            or not isinstance(manifest.get("files"), list)
            or not isinstance(manifest.get("run_id"), str)):
        raise ManifestError(f"{out}/{MANIFEST} is not a {MANIFEST_FORMAT} manifest")
    run_id = manifest["run_id"]
    listed = set()
    for item in manifest["files"]:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name != Path(name).name:
            raise ManifestError(f"{out}/{MANIFEST} lists a bad file entry {item!r}")
        listed.add(name)
        path = out / name
        if not path.is_file():
            raise ManifestError(f"{out}: {name} is missing")
        entry = _file_entry(path)
        for key in ("size", "sha256"):
            if entry[key] != item.get(key):
                raise ManifestError(f"{out}: {name} has {key} {entry[key]}, the manifest "
                                    f"says {item.get(key)}")
        try:
            embedded = _embedded_run_id(path)
        except (OSError, RuntimeError, ValueError) as err:
            raise ManifestError(f"{out}: {name} cannot be read: {err}") from None
        if embedded is not None and embedded != run_id:
            raise ManifestError(f"{out}: {name} carries run id {embedded!r}, the manifest "
                                f"{run_id!r}")
    extra = sorted(e for e in os.listdir(out)
                   if e not in listed and e != MANIFEST and not e.startswith("."))
    if extra:
        raise ManifestError(f"{out}: {', '.join(extra)} not in the manifest")
    return run_id
