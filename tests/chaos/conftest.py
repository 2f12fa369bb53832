"""The chaos run's table is printed at the end of the session, whatever the outcome; the
run's time limit grows with the faults it injects."""

from __future__ import annotations

import pytest

REPORTS = pytest.StashKey[list[str]]()
# starting 200 stations, stopping them and checking everything; then each fault, held and
# recovered from, on a loaded two-core machine
BASE_TIMEOUT_S = 420
TIMEOUT_PER_FAULT_S = 25


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    timeout = BASE_TIMEOUT_S + TIMEOUT_PER_FAULT_S * config.getoption("chaos_faults")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(pytest.mark.timeout(timeout))


@pytest.fixture
def report_table(request: pytest.FixtureRequest) -> list[str]:
    """Tables appended here are printed in the terminal summary."""
    return request.config.stash.setdefault(REPORTS, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    for table in config.stash.get(REPORTS, []):
        terminalreporter.write_line("")
        for line in table.splitlines():
            terminalreporter.write_line(line)
