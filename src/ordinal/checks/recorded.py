"""Whether a timeline is complete enough to judge: the recorder caught up with the cluster.

Checks that read a timeline add this finding after their own, so a broken promise they found
still comes first, and a clean verdict on a recording that missed events is never a pass.
"""

from __future__ import annotations

from ordinal.observe.timeline import Timeline
from ordinal.types import Finding

RULE = "timeline.caught-up"


def check_caught_up(timeline: Timeline | None) -> list[Finding]:
    """A finding when the recorder could not catch up with a fresh list before the checks judged it."""
    if timeline is None or timeline.lag is None:
        return []
    return [Finding(RULE, "timeline", "pods", "every pod recorded as the API lists it", timeline.lag)]
