"""Cold-build progress: the total from ``go list -deps``, the count from ``go build -v``, a remaining
estimate, a live line on a terminal and plain lines no more than every 10 s elsewhere."""

from __future__ import annotations

import io

from ordinal.localcluster import progress
from ordinal.progress import Reporter, duration

GO_LIST = """\
internal/goarch false
runtime true
k8s.io/apimachinery/pkg/util/sets true
k8s.io/kubernetes/cmd/kube-apiserver/app true
gopkg.in/yaml.v3 false
"""

GO_BUILD_V = """\
go: downloading k8s.io/api v0.37.0
runtime
k8s.io/apimachinery/pkg/util/sets
# k8s.io/kubernetes/cmd/kube-apiserver/app
cmd/app/server.go:12:2: undefined: foo
k8s.io/kubernetes/cmd/kube-apiserver/app
123456
"""


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_total_is_what_go_list_marks_stale() -> None:
    assert progress.stale_packages(GO_LIST) == [
        "runtime",
        "k8s.io/apimachinery/pkg/util/sets",
        "k8s.io/kubernetes/cmd/kube-apiserver/app",
    ]
    assert progress.stale_packages("") == []


def test_only_package_lines_of_go_build_v_count() -> None:
    """Downloads, compiler errors, their ``#`` headers and the RSS figure the wrapper prints are not packages."""
    counted = [line for line in GO_BUILD_V.splitlines() if progress.is_package_line(line)]
    assert counted == ["runtime", "k8s.io/apimachinery/pkg/util/sets", "k8s.io/kubernetes/cmd/kube-apiserver/app"]
    assert progress.is_package_line("sigs.k8s.io/kwok/pkg/kwok/controllers")
    assert progress.is_package_line("github.com/coredns/coredns/plugin/pkg/dnsutil")


def test_the_line_says_done_of_total_elapsed_and_left() -> None:
    assert progress.describe("kube", 812, 2140, 185) == (
        "building kube: 812/2140 packages (37%), 3m05s elapsed, about 5m03s left"
    )
    assert progress.describe("coredns", 40, None, 30) == "building coredns: 40 packages, 30s elapsed"
    assert progress.describe("kube", 3, 2140, 2) == "building kube: 3/2140 packages (0%), 2s elapsed"
    assert progress.describe("kube", 2200, 2140, 600) == (
        "building kube: 2140/2140 packages (100%), 10m00s elapsed, about 0s left"
    )
    assert duration(3725) == "1h02m"


def test_plain_lines_come_at_most_every_ten_seconds() -> None:
    clock, out = Clock(), io.StringIO()
    build = progress.BuildProgress("kube", 100, Reporter(out, tty=False, clock=clock), clock=clock)
    for second in range(25):
        clock.t = 100.0 + second
        build.feed("k8s.io/a/b")
        build.feed("k8s.io/a/c")
    build.finish()
    lines = out.getvalue().splitlines()
    assert [line.split(":")[1].split(",")[0] for line in lines] == [
        " 1/100 packages (1%)",
        " 21/100 packages (21%)",
        " 41/100 packages (41%)",
    ]
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_one_line_rewritten_in_place_and_ended() -> None:
    clock, out = Clock(), io.StringIO()
    build = progress.BuildProgress("etcd", 4, Reporter(out, tty=True, clock=clock), clock=clock)
    for step in range(4):
        clock.t += 1
        build.feed(f"go.etcd.io/etcd/pkg{step}")
    build.finish()
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "4/4 packages (100%)" in text.rsplit("\r", 1)[1]


def test_a_stream_without_a_terminal_is_plain() -> None:
    assert Reporter.for_stream(io.StringIO()).tty is False
