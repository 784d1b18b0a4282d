"""The review console as a browser sees it, for tests: an HTTP session that signs in and
posts forms with their CSRF token, a small HTML reader, and headless Chromium.

The browser is Debian's `chromium` driven by Playwright (its own browser download is not
used); tests skip without it unless `POLICYGEN_REQUIRE_BROWSER=1` (set by .ci/run).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from serverprocess import KEY, KEYS, ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_ENV = "POLICYGEN_REQUIRE_BROWSER"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


class Visitor:
    """One browser's cookie jar, spoken to with httpx (redirects not followed)."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Visitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def csrf(self, path: str = "/console/sign-in") -> str:
        """The CSRF token the page at `path` puts in its forms."""
        page = self.get(path)
        match = CSRF_RE.search(page.text)
        assert match, f"no CSRF token on {path}: {page.status_code} {page.text[:300]}"
        return match[1]

    def post(self, path: str, fields: dict[str, Any], token: str | None = "page") -> httpx.Response:
        """POST a form; `token` "page" takes the CSRF token from the jobs page, None sends
        none, anything else is sent as it is."""
        data = dict(fields)
        if token == "page":
            token = self.csrf("/console/")
        if token is not None:
            data["csrf_token"] = token
        return self.http.post(path, data=data)

    def sign_in(self, key: str = KEY, secret: str | None = None) -> httpx.Response:
        fields = {"access_key_id": key, "secret_access_key": secret or KEYS[key][0]}
        return self.post("/console/sign-in", fields, token=self.csrf())


@contextmanager
def running(data_dir: Path, *args: str, auth: bool = True) -> Iterator[ServerProcess]:
    """A `policygen serve` for the length of a block (killed after it, failed or not)."""
    server = ServerProcess(data_dir, *args, auth=auth)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def visitor(server: ServerProcess, key: str | None = KEY) -> Iterator[Visitor]:
    """A visitor, signed in with `key` (None: not signed in)."""
    who = Visitor(server)
    try:
        if key is not None:
            answer = who.sign_in(key)
            assert answer.status_code == 303, answer.text
        yield who
    finally:
        who.close()


class Tables(HTMLParser):
    """The text of every cell of every table with an id (or class), row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "table":
            name = named.get("id") or named.get("class") or f"table{len(self.tables)}"
            self._current = self.tables.setdefault(name, [])
        elif tag == "tr" and self._current is not None:
            self._current.append([])
        elif tag in ("td", "th") and self._current is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._current:
            self._current[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> dict[str, list[list[str]]]:
    """Table id (or class) -> rows of cell texts (the header row first)."""
    reader = Tables()
    reader.feed(html)
    return reader.tables


def job_ids(html: str) -> list[str]:
    """The job ids the jobs page lists, in order."""
    return re.findall(r'data-job-id="([^"]+)"', html)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium through Playwright, for one test module: Playwright's sync
    API keeps an event loop running while it is open, which other modules' asyncio.run()
    must not meet."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in_page(context: Any, server: ServerProcess, key: str = KEY) -> Any:
    """A page of `context` signed in through the sign-in form, on the jobs page."""
    page = context.new_page()
    page.goto(f"{server.url}/")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(KEYS[key][0])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/console/")
    return page
