"""The chaos run's table is printed at the end of the session, whatever the outcome."""

from __future__ import annotations

import pytest

REPORTS = pytest.StashKey[list[str]]()


@pytest.fixture
def report_table(request: pytest.FixtureRequest) -> list[str]:
    """Tables appended here are printed in the terminal summary."""
    return request.config.stash.setdefault(REPORTS, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for table in config.stash.get(REPORTS, []):
        terminalreporter.write_line("")
        for line in table.splitlines():
            terminalreporter.write_line(line)
