from __future__ import annotations

import pytest
from factories import NS, Recording

from ordinal.checks.assertions import assert_no_findings
from ordinal.checks.identity import check_at_most_one_live
from ordinal.checks.ordering import check_ordered_scale_up
from ordinal.errors import InvariantViolated
from ordinal.types import Finding

INFO = Finding("ordering.parallel-serialized", f"statefulset {NS}/web", "pod creations", "bursts", ["…"])


def test_no_findings_passes_and_returns_info() -> None:
    """Info findings MUST NOT fail a test; they come back for the report."""
    assert assert_no_findings([], what="StatefulSet ord-test/web scales up in order") == []
    assert assert_no_findings([INFO], what="x") == [INFO]


def test_every_finding_and_the_timeline_go_into_the_error() -> None:
    """The error MUST list every finding with expected vs seen, and the events of the pods concerned."""
    rec = Recording().create(0).create(1).ready(0).ready(1)
    rec.create(5)  # an unrelated ordinal, created too early as well
    findings = [*check_ordered_scale_up(rec.timeline, "web"), INFO]
    with pytest.raises(
        InvariantViolated, match=r"^StatefulSet ord-test/web scales up in order: 2 broken promises; first: "
    ) as err:
        assert_no_findings(findings, what="StatefulSet ord-test/web scales up in order", timeline=rec.timeline)
    text = str(err.value)
    first_line = text.splitlines()[0]
    assert "[ordering.created-after-ready] pod ord-test/web-1 creation" in first_line
    assert "saw 'at +0.200s: web-0 phase=Pending ready=False'" in first_line
    assert text.count("  - [ordering.created-after-ready]") == 2
    assert "  - [ordering.parallel-serialized]" in text
    assert "timeline:\n5 of 5 entries" in text
    assert "Pod ord-test/web-5" in text
    assert err.value.findings[-1] == INFO


def test_excerpt_is_cut_to_the_subjects() -> None:
    """The timeline in the error MUST focus on the pods the findings name."""
    rec = Recording().up(0, 1, 2, 3).delete(3).create(3).gone(3, birth=1)
    with pytest.raises(InvariantViolated) as err:
        assert_no_findings(check_at_most_one_live(rec.timeline), what="one pod per identity", timeline=rec.timeline)
    assert "web-3" in err.value.timeline
    assert "web-0" not in err.value.timeline


def test_a_ready_excerpt_string_is_used_as_is() -> None:
    """A timeline given as text MUST be passed through unchanged."""
    bad = Finding("dns.per-pod-a-record", "dns web-0.web A", f"{NS}/web-0", ["10.0.0.1"], [])
    with pytest.raises(InvariantViolated) as err:
        assert_no_findings([bad], what="DNS", timeline="t=0 something")
    assert err.value.timeline == "t=0 something"
    assert str(err.value).endswith("timeline:\nt=0 something")
