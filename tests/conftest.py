"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """An empty folder to write a trail into."""
    root = tmp_path / "trail"
    root.mkdir()
    return root
