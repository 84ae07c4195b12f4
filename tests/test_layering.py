"""The layering rule of DESIGN.md, checked on the source and at run time.

forward_models  <--  qsense  -->  inverse: ``forward_models`` imports only jax, numpy
and scipy (never mne, xarray, qsense or inverse); in ``qsense`` only the application at
the top (``qsense/cli/``) imports ``inverse``.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import forward_models
import qsense


def _imports(path: Path):
    """(top-level module name, line) of every absolute import in a file."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def _offenders(root: Path, forbidden, skip=()):
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in skip for part in rel.parts):
            continue
        out += [f"{rel}:{line} imports {mod}" for mod, line in _imports(path)
                if mod in forbidden]
    return out


def test_forward_models_imports_only_jax_numpy_scipy():
    root = Path(forward_models.__file__).parent
    assert not _offenders(root, {"mne", "xarray", "qsense", "inverse", "matplotlib",
                                 "nilearn", "nibabel"})


def test_only_the_application_imports_inverse():
    root = Path(qsense.__file__).parent
    assert not _offenders(root, {"inverse"}, skip={"cli"})


@pytest.mark.parametrize("module, banned", [
    ("forward_models", ("mne", "xarray", "qsense", "inverse")),
    ("qsense", ("inverse",)),
])
def test_importing_does_not_load_the_upper_floor(module, banned):
    """A fresh interpreter: importing the package loads none of the banned packages
    (catches imports hidden in functions run at import time, too)."""
    code = (f"import sys, {module}; "
            f"print(','.join(m for m in {banned!r} if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "", f"importing {module} loaded {res.stdout.strip()}"


def test_the_checker_sees_a_violation(tmp_path):
    """The source check is not vacuous: a file importing mne is reported."""
    (tmp_path / "bad.py").write_text("import numpy\nfrom mne.io import read_raw_fif\n")
    assert _offenders(tmp_path, {"mne"}) == ["bad.py:2 imports mne"]
