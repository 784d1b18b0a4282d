"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from serverprocess import ServerProcess


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """An empty folder to write a trail into."""
    root = tmp_path / "trail"
    root.mkdir()
    return root


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start `policygen serve` processes (each with its own data dir unless given one);
    whatever is still running at the end is killed."""
    started: list[ServerProcess] = []

    def start(
        *args: str, data_dir: Path | None = None, auth: bool = True, **env: str
    ) -> ServerProcess:
        folder = data_dir or tmp_path / f"data-{len(started)}"
        server = ServerProcess(folder, *args, env=env, auth=auth)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Figures tests record for the hardening report (fuzzing volume, load latencies)."""
    figures = [
        (name, value)
        for report in terminalreporter.stats.get("passed", [])
        for name, value in report.user_properties
        if name.startswith(("fuzz:", "load:", "crash:"))
    ]
    if figures:
        terminalreporter.section("hardening figures")
        for name, value in sorted(figures, key=lambda item: item[0]):
            terminalreporter.write_line(f"{name} {value}")
