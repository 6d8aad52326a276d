"""The suite's only local wiring: JUnit XML and allure results go into ``reports/`` unless the
run names its own (``--junitxml`` / ``--alluredir``). Kept here, not in the plugin, so that
ordinal's own test runs, which load the plugin too, write no reports. Run from an installed wheel
(``ordinal run`` outside a checkout), ``reports/`` goes into the directory the run started in, not
into site-packages."""

from __future__ import annotations

import pytest

from ordinal import resources
from ordinal.pytest_plugin import use_report_dir


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    use_report_dir(config, config.invocation_params.dir / "reports" if resources.installed() else "reports")
