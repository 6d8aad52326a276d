"""The suite's only local wiring: JUnit XML and allure results go into ``reports/`` unless the
run names its own (``--junitxml`` / ``--alluredir``). Kept here, not in the plugin, so that
ordinal's own test runs, which load the plugin too, write no reports."""

from __future__ import annotations

import pytest

from ordinal.pytest_plugin import use_report_dir


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    use_report_dir(config, "reports")
