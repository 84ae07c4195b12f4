"""The comparison report: every section from a small real study, self-contained, numbers
formatted with units, provenance; sections that appear only when the dataset holds them
(sweeps), and a clear error for the old dimension name."""

import base64
import html
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from qsense._io import _embedded_run_id
from qsense.cli.report import _digest, pick, render_html, summary
from qsense.cli.report import _format as fmt

from .conftest import REAL_ARRAYS, synthetic_study

SECTIONS = ("summary", "setup", "layouts", "topographies", "maps", "spectra",
            "localisation", "recordings", "rejection", "curves", "iivanainen", "provenance")


class _Page(HTMLParser):
    """Sections (id -> h2 text), images (src, alt), links and scripts of a page."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.refs, self.scripts = {}, [], [], 0
        self._section, self._h2 = None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id")
        elif tag == "h2":
            self._h2 = True
        elif tag == "img":
            self.images.append((a.get("src", ""), a.get("alt", "")))
        elif tag == "script":
            self.scripts += 1
        for key in ("href", "src"):
            if key in a and tag != "img":
                self.refs.append(a[key])

    def handle_endtag(self, tag):
        if tag == "h2":
            self._h2 = False

    def handle_data(self, data):
        if self._h2 and self._section:
            self.sections[self._section] = data.strip()


def _parse(text):
    page = _Page()
    page.feed(text)
    return page


def test_report_of_a_real_study(real_report):
    ds, path = real_report
    text = path.read_text(encoding="utf-8")
    page = _parse(text)
    assert tuple(page.sections) == SECTIONS
    # self-contained: every image embedded, no script, links only to the page itself
    assert page.scripts == 0
    assert all(r.startswith(("#", "data:")) for r in page.refs), page.refs
    # overview, layouts, topographies, 5 maps, spectra, 2 localisation, the noisy view's,
    # 3 curves
    assert len(page.images) == 15
    for src, alt in page.images:
        assert src.startswith("data:image/png;base64,") and alt
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(png[16:20], "big")
        assert 300 < width <= 1000  # drawn for a page 800 to 1200 px wide
    for title in ("Sensor layouts on the head", "Example field topographies",
                  "Signal-to-noise ratio on the cortex", "Cramér-Rao bound on the cortex",
                  "Peak localisation error on the cortex (dSPM)", "Noise spectra per array",
                  "Peak localisation error of noiseless dipoles (cumulative)",
                  "Best possible dipole-fit precision against depth"):
        assert f"<b>{title}.</b>" in text, title
    assert "Curves over channel count" not in text  # no sweep dimension in this dataset
    assert _embedded_run_id(path) == "test-run-1"


def test_report_numbers_have_units_and_read_as_written(real_report):
    ds, path = real_report
    text = path.read_text(encoding="utf-8")
    assert "0.1111" not in text and "<dd>1/9</dd>" in text
    assert "20 nA m" in text and "1 Hz" in text
    for header in ("information (bit / sample)", "dSPM peak error (mm), all / superficial",
                   "Cramér-Rao bound (mm), all / superficial", "white noise floor"):
        assert f">{header}</th>" in text, header
    s = summary(ds)
    for i, a in enumerate(ds["array"].values):
        snr = f"{fmt.sig(float(s['snr'][i]))} / {fmt.sig(float(s['snr_superficial'][i]))}"
        ple = (f"{fmt.sig(float(pick(s['ple'], a, 'dSPM')) * 1e3, 2)} / "
               f"{fmt.sig(float(pick(s['ple_superficial'], a, 'dSPM')) * 1e3, 2)}")
        assert f">{snr}</td>" in text and f">{ple}</td>" in text
    # the written conclusion names the arrays and the numbers
    best = int(np.argmax(s["snr"].values))
    label = str(ds["array_label"].values[best])
    assert (f"the highest median signal-to-noise ratio of a 20 nA m dipole is "
            f"{fmt.possessive(label)} ({fmt.sig(float(s['snr'][best]))})") in html.unescape(text)


def test_report_provenance(real_report):
    ds, path = real_report
    text = path.read_text(encoding="utf-8")
    assert "qsense compare --spacing ico2 --n-opm 16" in text
    assert re.search(r"<dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</dd>", text)
    for package in ("qsense", "mne", "jax", "numpy"):
        assert re.search(rf"<dt>{package}</dt><dd class=\"mono\">[0-9][^<]*</dd>", text), package
    assert "seed = 0" in text  # the recordings' seed (the study draws random numbers)
    for name in REAL_ARRAYS:
        assert f"<td>{name}</td>" in text


def test_sweeps_appear_only_when_the_dataset_has_them(fsaverage_sphere):
    """Curves over channel count and noise floor: a section of their own when the dataset
    has such dimensions; the other sections show the first value and say so."""
    # (without such dimensions: no such section, test_report_of_a_real_study)
    swept = synthetic_study(fsaverage_sphere, sweep={"n_opm": ([16, 32, 64], "1"),
                                                     "floor_scale": ([1.0, 2.0], "1")})
    text = render_html(swept, arrays={})
    page = _parse(text)
    assert page.sections["sweeps"] == "Curves over channel count and noise floor"
    assert "<b>Metrics against n_opm.</b>" in text
    assert "<b>Metrics against floor_scale.</b>" in text
    assert "(at floor_scale = 1)" in text  # the other sweep held at its first value
    assert "show the dataset at n_opm = 16, floor_scale = 1." in text
    # without arrays there is nothing to draw of them, and the rest stands
    assert "layouts" not in page.sections and "maps" in page.sections


def test_report_escapes_text(small_study):
    ds = small_study[["snr", "information"]].assign_attrs(
        title="<script>alert(1)</script> study")  # one map: fast
    text = render_html(ds, arrays={})
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; study" in text


def test_report_needs_the_new_dimension_name(small_study):
    with pytest.raises(ValueError, match="rename it to 'solver'"):
        render_html(small_study.rename(solver="method"), arrays={})
    with pytest.raises(ValueError, match="dimension 'source'"):
        render_html(small_study.isel(source=0), arrays={})
    with pytest.raises(TypeError, match="xarray.Dataset"):
        render_html(small_study["snr"])


def test_same_data_reuses_its_figures(small_study):
    """``qsense compare`` may write one dataset again (another run id): the figures are
    drawn once, the run id and the date are the new run's."""
    import time

    first = render_html(small_study.assign_attrs(run_id="run-a"))
    t0 = time.perf_counter()
    second = render_html(small_study.assign_attrs(run_id="run-b"))
    assert time.perf_counter() - t0 < 1.0
    assert "content='run-a'" in first and "content='run-b'" in second
    assert _parse(first).images == _parse(second).images
    # any other number (or setting) is another dataset
    changed = small_study.copy(deep=True)
    changed["snr"][0, 0] = 1e6
    digest = _digest(small_study.assign_attrs(run_id="x"))
    assert _digest(small_study) == digest != _digest(changed)
    assert _digest(small_study.assign_attrs(lambda2=0.2)) != digest


def test_rebuilt_helmets_sit_where_the_dataset_says(fsaverage_sphere):
    """A ``dev_head_t`` variable along ``array`` places the rebuilt helmet (no seating)."""
    import qsense as qs
    from qsense.cli.report import _rebuild_arrays

    ds = synthetic_study(fsaverage_sphere, arrays=("opm", "neuromag306"))
    t = np.eye(4)
    t[:3, 3] = [0.0, 0.01, 0.05]
    ds["dev_head_t"] = (("array", "row", "col"), np.stack([np.full((4, 4), np.nan), t]))
    ds["n_channels"] = ("array", [16, 306])
    arrays, notes = _rebuild_arrays(ds, fsaverage_sphere)
    assert notes == [] and arrays["opm"].n_channels == 16
    np.testing.assert_array_equal(arrays["neuromag306"].dev_head_t, t)
    np.testing.assert_allclose(arrays["neuromag306"].positions,
                               qs.arrays.neuromag306(fsaverage_sphere, dev_head_t=t).positions)
    ds["n_channels"] = ("array", [32, 306])  # the dataset disagrees with the rebuild
    arrays, notes = _rebuild_arrays(ds, fsaverage_sphere)
    assert "opm" not in arrays and "rebuilt with 16 channels, the dataset has 32" in notes[0]
