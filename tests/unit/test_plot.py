"""Figures: the registry, lazy matplotlib, and real PNGs drawn from real runs."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import engramlab
from engramlab.cli import main
from engramlab.errors import UnknownNameError
from engramlab.plot import FIGURES, make_figure, register_figure, save_figures


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file; fails on anything that is not a PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_importing_analysis_and_plot_does_not_import_matplotlib():
    code = (
        "import sys, engramlab.analysis, engramlab.plot, engramlab.report; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_has_the_paper_figures_and_refuses_duplicates():
    for kind in ("freezing", "epochs", "overlap", "delta-norms", "accuracy", "circuit"):
        assert kind in FIGURES and FIGURES[kind].caption
    with pytest.raises(ValueError, match="already registered"):
        register_figure("freezing", title="x", caption="x")(lambda tree: None)


def test_liu_figures_are_real_pngs(liu_run, tmp_path):
    tree = engramlab.open_run(liu_run.path)
    written = save_figures(tree, tmp_path)
    for kind in ("freezing", "epochs", "lifecycle", "overlap", "delta-norms", "circuit"):
        w, h = png_size(written[kind])
        assert w > 300 and h > 200, (kind, w, h)
    assert "accuracy" not in written  # a circuit run has no accuracy matrix


def test_unknown_kind_lists_the_known_ones(liu_run):
    tree = engramlab.open_run(liu_run.path)
    with pytest.raises(UnknownNameError, match="freezing"):
        make_figure(tree, "freezin")
    assert make_figure(tree, "accuracy") is None


def test_freezing_figure_marks_the_significant_group(denny_run):
    tree = engramlab.open_run(denny_run.path)
    fig = make_figure(tree, "freezing")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert {"*", "**", "***"} & set(texts)  # ArchT: light-on vs off
    assert "n.s." in texts  # no-opsin: no light effect
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_cli_plot(denny_run, tmp_path):
    r = CliRunner().invoke(
        main, ["plot", str(denny_run.path), "--kind", "epochs", "--out", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    assert png_size(tmp_path / "epochs.png")[0] > 100
    assert not (tmp_path / "freezing.png").exists()
    bad = CliRunner().invoke(main, ["plot", str(denny_run.path), "--kind", "nope", "--out", "x"])
    assert bad.exit_code == 2 and "known:" in bad.output
