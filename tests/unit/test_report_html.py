"""index.html shows the report at a glance and fetches nothing: the verdict table with skip reasons,
the environment, charts as inline SVG, every failure with its message, and no script, link or URL."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_samples import sample_report

from ordinal.report import charts, html


class Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser would see them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def table_rows(self, table_id: str) -> int:
        start = next(i for i, (t, a) in enumerate(self.tags) if t == "table" and a.get("id") == table_id)
        rows = 0
        for tag, _ in self.tags[start + 1 :]:
            if tag == "table":
                break
            rows += tag == "tr"
        return rows - 1  # the header row


@pytest.fixture
def page(tmp_path: Path) -> tuple[str, Page]:
    text = html.render(sample_report(tmp_path))
    return text, Page(text)


def test_the_verdict_table_lists_every_area_with_its_skip_reason(page: tuple[str, Page]) -> None:
    """The first table MUST be the verdict per area, with the reason for each skip."""
    text, parsed = page
    assert parsed.table_rows("verdicts") == 8
    words = " ".join(parsed.text)
    for title in (
        "Identity",
        "DNS",
        "Storage reattachment",
        "Data integrity",
        "Ordering",
        "Rollout and partition",
        "Retention",
    ):
        assert title in words
    assert "needs: exec into pods" in words
    assert text.index('id="verdicts"') < text.index("Environment")


def test_the_environment_names_class_binding_topology_and_revision(page: tuple[str, Page]) -> None:
    words = " ".join(page[1].text)
    for fact in (
        "WaitForFirstConsumer",
        "nodePinned=true",
        "node-pinned (parameter nodePinned=true)",
        "ordinal.dev/hostpath",
        "v1.37.0",
        "zone-a, zone-b, zone-c",
        "0123456789abcdef0123456789abcdef01234567",
    ):
        assert fact in words, fact


def test_figures_and_timelines_are_inline_svg_charts(page: tuple[str, Page]) -> None:
    """Time to Ready, reattach percentiles, DNS, rollout bars and a pod timeline per recorded test MUST be SVG."""
    svgs = [a for t, a in page[1].tags if t == "svg"]
    labels = [str(a.get("aria-label")) for a in svgs]
    assert {"Time to Ready per ordinal", "Reattach latency percentiles", "Rollout durations"} <= set(labels)
    assert "DNS propagation (Ready → resolvable)" in labels
    timelines = [label for label in labels if label.startswith("Pod timeline of")]
    assert len(timelines) == 5  # four recorded tests, the failed one again beside its message
    spans = [a for t, a in page[1].tags if t == "rect" and "span" in str(a.get("class"))]
    assert {str(a["class"]).split()[1] for a in spans} == {"pending", "ready", "terminating"}


def test_every_failure_shows_its_expected_seen_message(page: tuple[str, Page]) -> None:
    words = " ".join(page[1].text)
    assert "InvariantViolated: scale-up 0→3: 1 broken promise" in words
    assert "saw web-1 phase=Pending" in words


def test_the_page_fetches_nothing(page: tuple[str, Page]) -> None:
    """No script, stylesheet link, image, frame, font or URL: it MUST render from a file with no network."""
    text, parsed = page
    assert not {t for t, _ in parsed.tags} & {"script", "link", "img", "iframe", "object", "embed", "image", "use"}
    assert not [a for _, a in parsed.tags if "src" in a]
    hrefs = [str(a["href"]) for t, a in parsed.tags if t == "a"]
    assert all(not re.match(r"^[a-z]+:", h) for h in hrefs), hrefs  # only anchors and files beside the report
    urls = set(re.findall(r"[a-z]+://[^\s\"'<>)]+", text))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert "@import" not in text and "url(" not in text


def test_text_from_the_run_is_escaped(tmp_path: Path) -> None:
    report = sample_report(tmp_path)
    report["failures"][0]["message"] = "<script>alert(1)</script>"
    text = html.render(report)
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_a_bar_chart_scales_every_bar_to_one_axis() -> None:
    svg = charts.bar_chart([charts.Bar("a", 1.0), charts.Bar("b", 2.0, 1.0, 4.0)], "two bars")
    widths = [float(str(a["width"])) for t, a in Page(svg).tags if t == "rect" and a.get("class") == "bar"]
    assert len(widths) == 2 and widths[1] == pytest.approx(2 * widths[0], rel=0.01)
    assert charts.bar_chart([], "nothing") == ""


def test_axis_ticks_are_round_numbers() -> None:
    assert charts._ticks(7.5) == [0.0, 2.0, 4.0, 6.0]
    assert charts._ticks(0.3) == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]


def test_a_csi_class_shows_its_driver_and_attach_detach_charts(tmp_path: Path) -> None:
    """The environment MUST name the CSI driver, version source and CSIDriver settings; attach/detach MUST chart."""
    parsed = Page(html.render(sample_report(tmp_path, csi=True)))
    words = " ".join(parsed.text)
    for fact in (
        "csi.ordinal.dev 0.1.0 (CSIDriver csi.ordinal.dev label app.kubernetes.io/version)",
        "attachRequired true, podInfoOnMount true, fsGroupPolicy File, storageCapacity false",
        "topology.csi.ordinal.dev/zone on 2 nodes",
        "ordinal-csi volumes are attached by CSI driver csi.ordinal.dev",
    ):
        assert fact in words, fact
    labels = {str(a.get("aria-label")) for t, a in parsed.tags if t == "svg"}
    assert {
        "Volume attach (attachment created → attached)",
        "Volume detach (old pod gone → its attachment gone)",
    } <= labels


def test_a_hostpath_class_says_it_has_no_csi_driver_and_why(page: tuple[str, Page]) -> None:
    words = " ".join(page[1].text)
    assert "none (needs: a StorageClass whose volumes are attached to nodes: ordinal-local volumes are not" in words
