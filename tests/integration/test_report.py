"""``ordinal report`` against the local cluster, for both StorageClasses: a schema-valid, checksummed
report with every promise area and its skip reasons, an index.html that headless Chromium renders with
no console error and no request but the file itself, and ``compare`` catching a doctored regression.

The ordinal-local report is the whole suite; ``test_conformance_suite.py`` already runs the whole
suite as this report (into :func:`shared_local_report_dir`), so when both modules run in one session
the suite runs once. The ordinal-shared report runs the storage, data-integrity and retention modules
plus the pod-kill experiment (``--profile full``): the areas where the class makes a difference.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from ordinal.kube import objects as o
from ordinal.kube.rest import NAMESPACES, STORAGE_CLASSES, Kube
from ordinal.labels import CREATED_BY_LABEL
from ordinal.report import schema, sums

ROOT = Path(__file__).resolve().parents[2]
REPORT_TIMEOUT = 1500
CHROMIUM = Path("/usr/bin/chromium")
SHARED_SELECTION = ("-k", "test_storage or test_data_integrity or test_retention")
AREAS = [
    "identity",
    "dns",
    "storage-reattachment",
    "data-integrity",
    "ordering",
    "rollout-partition",
    "retention",
    "api-surface",
]


def shared_local_report_dir(factory: pytest.TempPathFactory) -> Path:
    """Where this session's whole-suite ordinal-local report goes (shared with test_conformance_suite.py)."""
    return factory.getbasetemp() / "report-ordinal-local"


def report_env(local_cluster: dict[str, Any]) -> dict[str, str]:
    """What a user has after ``eval "$(ordinal cluster env)"``, and no other ordinal settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDINAL_") or k == "ORDINAL_CLUSTER_DIR"}
    env["KUBECONFIG"] = local_cluster["kubeconfig"]
    env["ORDINAL_DNS"] = f"direct:{local_cluster['dns']}"
    return env


def run_report(local_cluster: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "report", *args],
        cwd=ROOT,
        env=report_env(local_cluster),
        capture_output=True,
        text=True,
        timeout=REPORT_TIMEOUT,
    )


@pytest.fixture(scope="module")
def local_report(local_cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = shared_local_report_dir(tmp_path_factory)
    if not (out / "SHA256SUMS").is_file():
        shutil.rmtree(out, ignore_errors=True)
        started = time.monotonic()
        result = run_report(local_cluster, "--storage-class", "ordinal-local", "--out", str(out))
        print(f"ordinal-local report in {time.monotonic() - started:.0f}s, exit {result.returncode}")
        assert (out / "SHA256SUMS").is_file(), result.stdout[-4000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def shared_report(local_cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.getbasetemp() / "report-ordinal-shared"
    started = time.monotonic()
    result = run_report(
        local_cluster,
        "--storage-class",
        "ordinal-shared",
        "--profile",
        "full",
        "--experiments",
        "pod-kill",
        "--out",
        str(out),
        "--",
        *SHARED_SELECTION,
    )
    print(f"ordinal-shared report in {time.monotonic() - started:.0f}s, exit {result.returncode}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return out


@pytest.fixture(params=["ordinal-local", "ordinal-shared"])
def report_dir(request: pytest.FixtureRequest) -> Path:
    return Path(request.getfixturevalue("local_report" if request.param == "ordinal-local" else "shared_report"))


def _areas(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in report["areas"]}


def test_each_report_is_schema_valid_and_checksummed(report_dir: Path) -> None:
    """report.json MUST match the schema, ``sha256sum -c SHA256SUMS`` MUST pass, every area MUST be listed."""
    report = json.loads((report_dir / "report.json").read_text())
    schema.validate(report)
    sums.verify(report_dir)
    check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=report_dir, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert [a["id"] for a in report["areas"]] == AREAS
    for name in ("index.html", "junit.xml", "results.jsonl", "environment.json"):
        assert (report_dir / name).is_file(), name
    assert list((report_dir / "allure-results").glob("*-result.json"))
    assert report["suite"]["git_revision"] != "unknown"


def test_the_local_class_report_passes_and_names_each_skip(local_report: Path) -> None:
    """On simulated nodes data integrity MUST be skipped for ``needs: exec into pods``; everything else ran."""
    report = json.loads((local_report / "report.json").read_text())
    areas = _areas(report)
    assert report["verdict"] == "pass", report["failures"]
    assert areas["data-integrity"]["verdict"] == "skip"
    assert areas["data-integrity"]["reasons"] == ["needs: exec into pods"]
    assert {a for a, v in areas.items() if v["verdict"] == "pass"} == set(AREAS) - {"data-integrity"}
    env = report["environment"]
    assert env["storage_class"]["binding_mode"] == "WaitForFirstConsumer" and env["storage_class"]["default"]
    assert env["volume_topology"]["node_pinned"] is True
    assert len(env["nodes"]) == 3 and env["zones"] == ["zone-a", "zone-b", "zone-c"]
    assert env["kubernetes"]["git_version"].startswith("v1.37")
    figures = report["figures"]
    assert figures["time_to_ready"] and figures["reattach"] and figures["reattach"]["n"] >= 3
    assert {s["group"] for s in figures["stats"]} >= {"reattach", "dns", "rollout", "scale-up"}


def test_the_shared_class_report_covers_its_selection_and_the_experiment(shared_report: Path) -> None:
    """Deselected areas MUST say they did not run and why; pod-kill MUST be filed under identity with its journal."""
    report = json.loads((shared_report / "report.json").read_text())
    areas = _areas(report)
    assert report["run"]["pytest_args"] == list(SHARED_SELECTION)
    for area in ("dns", "ordering", "rollout-partition", "api-surface"):
        assert areas[area]["verdict"] == "not-run"
        assert areas[area]["reasons"] == [f"no test of this area ran (selected with: {' '.join(SHARED_SELECTION)})"]
    assert areas["storage-reattachment"]["verdict"] == "pass"
    assert "needs: a node-pinned StorageClass" in areas["storage-reattachment"]["reasons"]
    assert areas["data-integrity"]["reasons"] == ["needs: exec into pods"]
    chaos = [p for p in areas["identity"]["promises"] if p["source"] == "chaos"]
    # simulated nodes: the data inside the pods is not checked, so the experiment is a skip, never a pass
    assert [(p["id"], p["verdict"]) for p in chaos] == [("chaos:pod-kill", "skip")]
    assert chaos[0]["reason"].startswith("not checked: data-token-intact (after): needs: exec into pods"), chaos
    assert (shared_report / "chaos" / "journal-pod-kill.json").is_file()
    env = report["environment"]
    assert env["storage_class"]["binding_mode"] == "Immediate" and env["volume_topology"]["node_pinned"] is False


# -- index.html in headless Chromium, over the DevTools protocol -------------------------------------


class Browser:
    """Headless Chromium driven over its DevTools protocol (on loopback), with every event kept."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--remote-debugging-port=0",
        "--window-size=1280,1000",
    )

    def __init__(self, profile: Path) -> None:
        # Chromium puts its singleton socket in a fresh directory under TMPDIR (left behind after
        # it exits); give it one of ours, short enough for a unix socket path, removed in close().
        self.tmp = Path(tempfile.mkdtemp(prefix="ord-chromium-"))
        self.process = subprocess.Popen(
            [str(CHROMIUM), *self.FLAGS, f"--user-data-dir={profile}", "about:blank"],
            env={**os.environ, "TMPDIR": str(self.tmp)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            assert time.monotonic() < deadline, "Chromium wrote no DevToolsActivePort within 60 s"
            assert self.process.poll() is None, f"Chromium exited {self.process.returncode}"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                assert "error" not in message, message
                return dict(message.get("result") or {})
            self.events.append(message)
        raise AssertionError(f"no answer to {method} within 30 s")

    def open(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait until that document (not the first about:blank) has loaded."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while self.evaluate("location.href + ' ' + document.readyState") != f"{url} complete":
            assert time.monotonic() < deadline, f"{url} did not load within {timeout} s"
            time.sleep(0.05)

    def drain(self, seconds: float) -> None:
        """Keep what arrives for a little longer (late requests, console messages)."""
        self.ws.settimeout(0.2)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                continue
        self.ws.settimeout(30)

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.skip("needs: Chromium at /usr/bin/chromium (Debian package chromium; scripts/setup.sh installs it)")
    chromium = Browser(tmp_path / "chromium-profile")
    yield chromium
    chromium.close()


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB/RGBA PNG (what Chromium's screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header, idat = (body, idat) if kind == b"IHDR" else (header, idat + body if kind == b"IDAT" else idat)
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"expected an 8-bit RGB(A) PNG, found depth {depth} colour type {colour}"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [b"".join(r[i : i + 3] for i in range(0, len(r), bpp)) for r in rows]


def test_index_html_renders_in_headless_chromium(report_dir: Path, browser: Browser, tmp_path: Path) -> None:
    """The page MUST show the verdict table and its SVG charts, log no error and request nothing but itself."""
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    url = (report_dir / "index.html").resolve().as_uri()
    browser.open(url)
    browser.drain(1.0)
    rows = browser.evaluate("document.querySelectorAll('#verdicts tbody tr').length")
    charts = browser.evaluate(
        "[...document.querySelectorAll('svg')].filter(s => { const r = s.getBoundingClientRect();"
        " return r.width > 300 && r.height > 20; }).length"
    )
    spans = browser.evaluate("document.querySelectorAll('svg rect.span').length")
    height = int(browser.evaluate("document.documentElement.scrollHeight"))
    shot = browser.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": 1280, "height": min(height, 12000), "scale": 0.25},
    )
    png = base64.b64decode(shot["data"])
    (tmp_path / "index.png").write_bytes(png)
    requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
    errors = [e for e in browser.events if e.get("method") in ("Runtime.exceptionThrown", "Log.entryAdded")]
    errors = [e for e in errors if e["method"] == "Runtime.exceptionThrown" or e["params"]["entry"]["level"] == "error"]
    errors += [
        e
        for e in browser.events
        if e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert")
    ]
    assert rows == len(AREAS)
    assert charts >= 4 and spans > 0, (charts, spans)
    assert errors == []
    assert requests == [url]
    width, rows_px, pixels = png_pixels(png)
    colours = {row[i : i + 3] for row in pixels for i in range(0, len(row), 3)}
    inked = sum(1 for row in pixels for i in range(0, len(row), 3) if row[i : i + 3] != b"\xff\xff\xff")
    assert width == 320 and abs(rows_px - min(height, 12000) / 4) <= 1
    assert len(colours) > 50 and inked > 0.02 * width * rows_px, (len(colours), inked)


# -- compare, and bad input ------------------------------------------------------------------------


def test_compare_flags_a_promise_that_went_from_pass_to_fail(local_report: Path, tmp_path: Path) -> None:
    """A copy of the report with one passing promise doctored to failed (and re-summed) MUST exit 1 naming it."""
    doctored = tmp_path / "doctored"
    shutil.copytree(local_report, doctored)
    report = json.loads((doctored / "report.json").read_text())
    area = next(a for a in report["areas"] if a["id"] == "identity")
    victim = area["promises"][0]
    victim.update(outcome="failed", verdict="fail")
    area["verdict"] = "fail"
    (doctored / "report.json").write_text(json.dumps(report))
    sums.write(doctored)
    result = subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "report", "compare", str(local_report), str(doctored)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"  REGRESSION: [identity] pass → fail  {victim['id']}  {victim['title']}" in result.stdout.splitlines()
    (doctored / "index.html").write_text("<html>edited</html>")
    tampered = subprocess.run(
        [sys.executable, "-m", "ordinal.cli", "report", "compare", str(local_report), str(doctored)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tampered.returncode == 2
    assert tampered.stderr.strip().endswith("found files changed index.html")


def test_an_unknown_storage_class_leaves_no_directory_and_no_namespace(
    local_cluster: dict[str, Any], kube: Kube, tmp_path: Path
) -> None:
    """A class the cluster lacks MUST be refused in one line before anything is created."""
    selector = f"{CREATED_BY_LABEL}=ordinal"
    before = {n["metadata"]["name"] for n in kube.list(NAMESPACES, label_selector=selector)[0]}
    out = tmp_path / "report"
    classes = ", ".join(sorted(o.name(c) for c in kube.list(STORAGE_CLASSES)[0]))
    result = run_report(local_cluster, "--storage-class", "no-such-class", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr == (
        f"ordinal report: expected StorageClass 'no-such-class' on env KUBECONFIG, found only: {classes}\n"
    )
    assert not out.exists()
    assert {n["metadata"]["name"] for n in kube.list(NAMESPACES, label_selector=selector)[0]} <= before
