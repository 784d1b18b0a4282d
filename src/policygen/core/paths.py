"""Where policygen keeps its state: one data directory for the CLI and the server.

`--data-dir` wins, then `POLICYGEN_HOME`, then `~/.policygen`. The usage index and the
server's job store live there.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The data directory's variable is the conventional `*_HOME`, not `POLICYGEN_DATA_DIR`.
HOME_ENV = "POLICYGEN_HOME"
INDEX_NAME = "index.sqlite"


def home_data_dir() -> Path:
    """`~/.policygen`: the data directory when nothing else names one."""
    return Path.home() / ".policygen"


def default_data_dir() -> Path:
    """`POLICYGEN_HOME` if set, else `~/.policygen`."""
    configured = os.environ.get(HOME_ENV, "").strip()
    return Path(configured).expanduser() if configured else home_data_dir()


def data_dir(explicit: str | Path | None = None) -> Path:
    """The data directory to use: `explicit` (a `--data-dir` value) or the default."""
    return Path(explicit).expanduser() if explicit else default_data_dir()


def index_path(explicit: str | Path | None = None) -> Path:
    """The usage index's SQLite file in the data directory."""
    return data_dir(explicit) / INDEX_NAME
