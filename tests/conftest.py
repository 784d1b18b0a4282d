"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from policygen.scan.native import NATIVE_ENV
from policygen_synth import CorpusSpec, Manifest, generate_corpus

from motoserver import MotoServer
from serverprocess import ServerProcess


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """An empty folder to write a trail into."""
    root = tmp_path / "trail"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    """A small synthetic trail (two accounts, two regions, two days) and its ground truth."""
    root = tmp_path_factory.mktemp("corpus")
    spec = CorpusSpec(seed=7, days=2, target_bytes=3_000_000)
    return root, generate_corpus(root, spec)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private POLICYGEN_HOME, so that no test reads or writes a real usage index."""
    home = tmp_path / "policygen-home"
    monkeypatch.setenv("POLICYGEN_HOME", str(home))
    return home


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
        server.close()


@pytest.fixture(params=["native", "python"])
def scan_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A test run twice: with the C counter (where it is built; all-principals scans use it)
    and with the Python path it falls back to, which must give the same answers."""
    monkeypatch.setenv(NATIVE_ENV, "1" if request.param == "native" else "0")
    return request.param


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """moto in server mode, one per test process (state is shared: use distinct names)."""
    server = MotoServer()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def synth_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated trail (two accounts, two regions, two days, ~60 files)."""
    root = tmp_path_factory.mktemp("synth")
    generate_corpus(root, CorpusSpec(target_bytes=2_000_000, records_per_file=(10, 40), days=2))
    return root


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


@pytest.fixture
def empty_working_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Run the test in an empty working folder: a listing must never depend on where pytest
    was started (and one that read the working folder instead of its own ends at once,
    empty, instead of walking the project's tree over and over)."""
    folder = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(folder)
    return folder
