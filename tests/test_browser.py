"""The HTML report in a real browser (headless Chromium): it renders on a phone-sized
screen, its embedded plots decode, nothing overflows sideways, and student text that
looks like HTML stays text."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from grader.outputs import html
from grader.scoring import CheckResult, GradeReport

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")

PHONE = "390,844"
PROBE_NONCE = "probe"
# Runs after load in a copy of the page (allowed by a nonce, so the page's own rule against
# scripts still applies to everything else) and writes what it measured onto <body>.
PROBE = f"""<script nonce="{PROBE_NONCE}">
window.addEventListener("load", () => {{
  const images = [...document.images];
  document.body.dataset.images = images.length;
  document.body.dataset.decoded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.overflow = document.documentElement.scrollWidth > window.innerWidth ? "yes" : "no";
  document.body.dataset.probed = "yes";
}});
</script>"""


def plot(path: Path, values) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    axes.plot(values)
    axes.set_title("Epoch VS Loss")
    figure.savefig(path, dpi=100)
    return path


@pytest.fixture
def page(tmp_path) -> Path:
    long_name = "Matrix.abs: gradient when x is used twice, a 3x4 input with a long explanation " * 2
    report = GradeReport(
        assignment="descent",
        submission="/home/student/a-rather-long-folder-name-that-does-not-break-anywhere-at-all/descent",
        results=[
            CheckResult("train_sgd: loss trajectory", 10, 10, ""),
            CheckResult(long_name.strip(), 4, 0.0, "got <img src=x onerror=\"document.body.dataset.pwned='img'\">\n"
                        "<script>document.body.dataset.pwned = 'script'</script>\n" + "x" * 400),
        ],
        notes=["sandbox: separate process"],
        artifacts=[plot(tmp_path / "a.png", [1.0, 0.5, 0.3, 0.2]), plot(tmp_path / "b.png", [1.0, 0.9, 0.4, 0.35])],
    )
    path = tmp_path / "report.html"
    html.write(report, path)
    return path


def chromium(tmp_path: Path, *args: str) -> str:
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={PHONE}", *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def probed_copy(page: Path) -> Path:
    text = page.read_text()
    assert "script-src 'none'" in text
    text = text.replace("script-src 'none'", f"script-src 'nonce-{PROBE_NONCE}'").replace("</body>", PROBE + "\n</body>")
    copy = page.with_name("probed.html")
    copy.write_text(text)
    return copy


def test_plots_decode_nothing_overflows_and_student_html_stays_text(page, tmp_path):
    dom = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probed_copy(page).as_uri())
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-probed="yes"' in body, dom[:2000]
    assert 'data-images="2"' in body and 'data-decoded="2"' in body
    assert 'data-overflow="no"' in body  # the phone-wide page does not scroll sideways
    assert "data-pwned" not in body  # neither the <script> nor the onerror ran...
    assert "&lt;script&gt;document.body.dataset.pwned" in dom  # ...they are shown as text


def test_page_renders_on_a_phone_screen(page, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "phone.png"
    chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    pixels = imread(shot)
    assert pixels.shape[:2] == (844, 390)
    rgb = pixels[..., :3].reshape(-1, 3)
    colours = np.unique((rgb * 255).astype(np.uint8), axis=0)
    assert len(colours) > 20  # text, table rules and colours, not a blank page
    assert (rgb.min(axis=1) < 0.5).mean() > 0.01  # a fair share of dark pixels: there is text on it


# ---- the descent report of a run that diverged, at phone and desktop widths ---------------

DESKTOP = "1280,800"
LAYOUT_PROBE = f"""<script nonce="{PROBE_NONCE}">
window.addEventListener("load", () => {{
  const headings = [...document.querySelectorAll("h2")].map(h => h.textContent.trim() + "@" + Math.round(h.getBoundingClientRect().top));
  document.body.dataset.headings = headings.join("|");
  document.body.dataset.decoded = [...document.images].filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.images = document.images.length;
  document.body.dataset.overflow = document.documentElement.scrollWidth > window.innerWidth ? "yes" : "no";
  document.body.dataset.height = window.innerHeight;
}});
</script>"""


@pytest.fixture
def diverged_page(tmp_path, monkeypatch) -> Path:
    """SGD without zero_grad, as the grader reports it: its loss diverges, three checks fail with one hint."""
    from grader import assignments
    from grader.assignments.descent import plots as C

    reference = ([0.5, 0.3, 0.2, 0.25, 0.1, 0.12, 0.1, 0.09, 0.1, 0.08], [0.4, 0.2, 0.15, 0.12, 0.11])
    diverged = ([0.5, 0.6, 40.0, 1e21, float("nan")] + [float("nan")] * 5, [float("nan")] * 5)
    monkeypatch.setattr(C, "_curves", lambda outcome, reference_: reference if outcome == "ref" else diverged)
    keys = [C.loop_probe(loop).key for loop in C.LOOPS]
    plots = assignments.get("descent").artifacts(
        SimpleNamespace(outcomes=dict.fromkeys(keys, "yours"), reference=dict.fromkeys(keys, "ref")), tmp_path / "plots"
    )
    hint = "Call `optimizer.zero_grad()` before every `loss.backward()`."
    report = GradeReport(
        assignment="descent",
        submission="/home/grader/class/a-student-with-a-rather-long-repository-name/descent.ipynb",
        results=[
            CheckResult(f"{loop}: zero_grad discipline", 5, 0.0, f"{loop}: 399 of 400 updates used old gradients.\nHint: {hint}", hint)
            for loop in C.LOOPS
        ] + [CheckResult("make_loaders: training batches", 4, 4, "")],
        notes=["sandbox WEAKER than intended: no namespaces"],
        artifacts=plots,
    )
    path = tmp_path / "report.html"
    html.write(report, path)
    return path


def layout(page: Path, tmp_path: Path, size: str) -> dict:
    text = page.read_text().replace("script-src 'none'", f"script-src 'nonce-{PROBE_NONCE}'").replace("</body>", LAYOUT_PROBE + "\n</body>")
    copy = page.with_name(f"layout-{size.replace(',', 'x')}.html")
    copy.write_text(text)
    dom = chromium(tmp_path, "--virtual-time-budget=5000", f"--window-size={size}", "--dump-dom", copy.as_uri())
    body = dict(re.findall(r'data-(\w+)="([^"]*)"', re.search(r"<body([^>]*)>", dom).group(1)))
    body["headings"] = [(h.rsplit("@", 1)[0], int(h.rsplit("@", 1)[1])) for h in body["headings"].split("|")]
    return body


@pytest.mark.parametrize("size", [PHONE, DESKTOP])
def test_diverged_report_shows_the_fix_first_and_the_sandbox_last(diverged_page, tmp_path, size):
    seen = layout(diverged_page, tmp_path, size)
    assert seen["images"] == seen["decoded"] == "4" and seen["overflow"] == "no"
    names = [name for name, _ in seen["headings"]]
    assert names[0] == "What to fix first" and names[-1] == "For the instructor: the sandbox"
    assert seen["headings"][0][1] < int(seen["height"])  # what to fix is on the first screen
    assert names.index("Plots") < names.index("Checks")


@pytest.mark.parametrize("size", [PHONE, DESKTOP])
def test_diverged_report_screenshots_are_not_blank(diverged_page, tmp_path, size):
    from matplotlib.image import imread

    shot = tmp_path / f"shot-{size.replace(',', 'x')}.png"
    chromium(tmp_path, f"--window-size={size}", f"--screenshot={shot}", diverged_page.as_uri())
    pixels = imread(shot)
    width, height = map(int, size.split(","))
    assert pixels.shape[:2] == (height, width)
    assert (pixels[..., :3].min(axis=-1) < 0.5).mean() > 0.01  # text on it, not an empty page
