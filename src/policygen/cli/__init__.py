"""The `policygen` command: thin over `policygen.pipeline` and `policygen.server`.

`main` is the console script; each command lives in a module named after it, the option
groups they share in `options`, and what they print in `output`. Exit codes scripts can
rely on: 0 success, 2 bad input (one line on stderr, no traceback), 3 AWS refused or
failed (one line naming what: the role, trail, bucket or key, and the job error code),
1 an unexpected failure.

Sits on top: may import every layer, the server included (for `serve`).
"""

from policygen.cli.main import main

__all__ = ["main"]
