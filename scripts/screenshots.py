"""Take the console's screenshots for the docs (run by scripts/screenshots)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample-trail"
TRAIL = "arn:aws:cloudtrail:us-east-1:111122223333:trail/sample"
PRINCIPAL = "arn:aws:iam::111122223333:role/app/deployer"
KEY, SECRET = "AKIDCONSOLESCREENSHOT", "screenshot/secret"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def policygen(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "policygen", *args], text=True, **kwargs)


def serve(data: Path) -> tuple[subprocess.Popen[str], str]:
    """A server on a free port of the sample trail, and its URL (read from its log)."""
    keys = data.parent / "keys.toml"
    keys.write_text(f'[{KEY}]\nsecret_access_key = "{SECRET}"\naccount = "111122223333"\n')
    keys.chmod(0o600)
    server = policygen(
        *("serve", "--port", "0", "--data-dir", str(data), "--workers", "1"),
        *("--credentials-file", str(keys), "--trail", f"{TRAIL}={SAMPLE}"),
        stderr=subprocess.PIPE,
    )
    assert server.stderr is not None
    for line in server.stderr:
        if match := re.search(r"serving on (http://\S+)", line):
            # keep reading its log, so the server never blocks on a full pipe
            threading.Thread(target=server.stderr.read, daemon=True).start()
            return server, match[1]
    raise SystemExit("policygen serve did not start")


def shoot(url: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/console/")
        page.get_by_label("Access key ID").fill(KEY)
        page.get_by_label("Secret access key").fill(SECRET)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_label("IAM user or role ARN").fill(PRINCIPAL)
        page.get_by_label("Start").fill("2026-01-05T00:00")
        page.get_by_label("End").fill("2026-01-06T00:00")
        page.get_by_role("button", name="Generate policy").click()
        expect(page.locator("#job-status")).to_have_text("SUCCEEDED", timeout=120_000)
        page.set_viewport_size({"width": 1280, "height": 2000})
        page.screenshot(path=str(out / "console-job.png"))
        page.get_by_role("link", name="All policy generations").click()
        page.set_viewport_size({"width": 1280, "height": 1100})
        page.screenshot(path=str(out / "console-jobs.png"))
        browser.close()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    with tempfile.TemporaryDirectory() as temp:
        data = Path(temp) / "data"
        indexing = policygen("index", "--logs", str(SAMPLE), "--data-dir", str(data))
        if indexing.wait() != 0:
            raise SystemExit("policygen index failed")
        server, url = serve(data)
        try:
            shoot(url, out)
        finally:
            server.terminate()
            server.wait(30)
    print(f"wrote {out / 'console-jobs.png'} and {out / 'console-job.png'}")


if __name__ == "__main__":
    main()
