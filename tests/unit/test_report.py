"""engramlab report: every image the pages reference exists and is a valid PNG."""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

from click.testing import CliRunner

import engramlab
from engramlab.cli import main
from engramlab.report import describe_phase, write_report


def _png_ok(data: bytes) -> bool:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return False
    w, h = struct.unpack(">II", data[16:24])
    return w > 100 and h > 100 and data.rstrip().endswith(b"IEND\xaeB`\x82")


def test_report_pages(liu_run, tmp_path):
    tree = engramlab.open_run(liu_run.path)
    paths = write_report(tree, tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    srcs = re.findall(r"<img[^>]*\ssrc='([^']*)'", page)
    assert len(srcs) >= 5
    for src in srcs:
        if src.startswith("data:image/png;base64,"):
            assert _png_ok(base64.b64decode(src.split(",", 1)[1]))
        else:
            assert _png_ok((tmp_path / src).read_bytes()), src
    md = paths["md"].read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == len(srcs)
    for link in links:
        assert _png_ok((tmp_path / link).read_bytes()), link
    for text in (page, md):
        assert tree.attrs["title"] in text and "Nature 484" in text
        assert tree.attrs["protocol_sha256"] in text and str(tree.attrs["seed"]) in text
        assert "24 h pass in the home cage" in text  # the schedule in words
        assert "light activates 'engram'" in text
        assert "fluorophore only" in text  # the EYFP group explained
    if tree.engram.has("criteria"):
        assert "What each criterion means" in md


def test_phase_descriptions_read_without_the_yaml():
    from engramlab.protocol import load_protocol

    lp = load_protocol(Path(__file__).parents[2] / "protocols" / "denny2014_silencing.yaml")
    words = [describe_phase(ph) for ph in lp.protocol.schedule]
    assert words[0].startswith("A paired with shock, 3 trial(s); forms memory 'fear-A'")
    assert "ArchT" in words[0] and "top 5%" in words[0]
    assert "light silences 'dg-trace'" in words[2]


def test_cli_report(denny_run, tmp_path):
    r = CliRunner().invoke(main, ["report", str(denny_run.path), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert (tmp_path / "report.md").exists()
