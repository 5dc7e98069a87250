"""Open ``engramlab report`` output in headless Chromium: every image must load.

Run with ``make test-browser`` (sets ENGRAMLAB_BROWSER_TESTS=1 and installs Debian's
``chromium`` when missing). Kept out of ``make test``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("ENGRAMLAB_BROWSER_TESTS") != "1",
    reason="browser tests run with `make test-browser` (ENGRAMLAB_BROWSER_TESTS=1)",
)

# Appended to a copy of the page: after load, list the images that failed to decode.
_PROBE = """
<script>
window.addEventListener("load", function () {
  var imgs = Array.from(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var p = document.createElement("pre");
  p.id = "image-probe";
  p.textContent = "IMAGES " + imgs.length + " BROKEN " + bad.length + " " +
      bad.map(function (i) { return i.alt; }).join("|");
  document.body.appendChild(p);
});
</script>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("no chromium found: `make test-browser` installs it (apt-get install chromium)")


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}",
    ]
    return subprocess.run(
        [_chromium(), *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("protocol", ["liu2012_reactivation", "denny2014_silencing"])
def test_report_images_load_in_chromium(protocol, tmp_path):
    from engramlab import run_protocol
    from engramlab.report import write_report

    root = Path(__file__).resolve().parents[2]
    run = run_protocol(root / "protocols" / f"{protocol}.yaml", out=tmp_path / "run.zarr")
    paths = write_report(run.tree, tmp_path / "report")
    page = paths["html"].read_text(encoding="utf-8")
    n_img = page.count("<img ")
    assert n_img >= 5
    probe = tmp_path / "report" / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")

    dom = _run(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    m = re.search(r"IMAGES (\d+) BROKEN (\d+) ([^<]*)", dom.stdout)
    assert m, f"probe did not run; chromium said: {dom.stderr[-2000:]}"
    assert int(m.group(1)) == n_img
    assert int(m.group(2)) == 0, f"images that did not load: {m.group(3)}"

    shot = tmp_path / "report" / "screenshot.png"
    _run(["--window-size=1200,4000", f"--screenshot={shot}", paths["html"].as_uri()], tmp_path)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    keep = os.environ.get("ENGRAMLAB_BROWSER_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / f"{protocol}.png")
