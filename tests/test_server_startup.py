"""`policygen serve` refusing to start (a taken port, a data folder in use) in one line,
and bodies it refuses while they arrive: one that grows past the limit without saying
its length, and one whose sender goes away half-way."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from policygen.server.app import MAX_BODY_BYTES

from serverprocess import ServerProcess


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policygen", "serve", "--no-auth", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = serve("--host", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == (
        f"policygen: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_one_server_per_data_folder(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    first = start_server(auth=False)
    done = serve("--port", "0", "--data-dir", str(first.data_dir))
    assert done.returncode == 2
    assert done.stderr == f"policygen: error: another policygen server is using {first.data_dir}\n"
    assert first.request("GET", "/health", key=None).status_code == 200  # still serving


def test_a_body_without_a_length_is_cut_at_the_limit(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(auth=False)

    def body() -> Iterator[bytes]:  # sent chunked: no Content-Length to refuse it by
        yield b"x" * MAX_BODY_BYTES
        yield b"x"

    answer = httpx.put(f"{server.url}/policy/generation", content=body(), timeout=60)
    assert answer.status_code == 413
    assert answer.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert answer.json() == {"message": "The request body is larger than 1048576 bytes."}


def test_a_body_that_ends_early_is_logged(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(auth=False)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sender:
        sender.sendall(
            b"PUT /policy/generation HTTP/1.1\r\nHost: policygen\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            b'{"policyGen'
        )
    server.wait_for_log(
        r'"PUT /policy/generation" 400 StartPolicyGeneration MalformedHttpRequestException'
    )
