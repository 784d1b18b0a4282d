"""The review console in a real browser: headless Debian Chromium driven by Playwright,
against a real `policygen serve` of the sample trail; the API's answers (boto3, signed
requests to the same server) are what the pages must agree with.

Nothing here sleeps: Playwright's assertions poll the page until it shows what is
expected (or time out), and a running job is held with frozen workers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from consolehelp import browser, running, sign_in_page
from logfactory import ACCOUNT, USER_ARN
from serverprocess import OTHER_KEY, ServerProcess

__all__ = ["browser"]  # the fixture, used by name

SAMPLE_TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/sample"
SAMPLE_LOGS = Path(__file__).parents[1] / "examples" / "sample-trail"
#: How long a page may take to show what is expected (a job of the sample trail).
PATIENCE_MS = 60_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running(
        tmp_path_factory.mktemp("data"), "--trail", f"{SAMPLE_TRAIL}={SAMPLE_LOGS}"
    ) as server:
        yield server


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True)
    try:
        yield context
    finally:
        context.close()


def fill_start_form(page: Any, principal: str = USER_ARN) -> None:
    """Fill the start form as a person would, by the fields' labels."""
    page.get_by_label("IAM user or role ARN").fill(principal)
    page.get_by_label(SAMPLE_TRAIL).check()
    page.get_by_label("Start").fill("2026-01-05T00:00")
    page.get_by_label("End").fill("2026-01-06T00:00")


def job_id_of(page: Any) -> str:
    match = re.search(r"/console/jobs/([0-9a-f-]{36})$", page.url)
    assert match, page.url
    return match[1]


def api_policy(server: ServerProcess, job_id: str, resources: str = "placeholders") -> dict:
    """The job's policy as the API gives it (AWS's flag for placeholders; policygen's
    `resources` query flag for observed ARNs)."""
    if resources == "placeholders":
        answer = server.client().get_generated_policy(
            jobId=job_id, includeResourcePlaceholders=True
        )
    else:
        path = f"/policy/generation/{job_id}?resources={resources}"
        answer = server.request("GET", path).json()
    return json.loads(answer["generatedPolicyResult"]["generatedPolicies"][0]["policy"])


def policygen_generate(principal: str) -> dict:
    """The CLI's result for the same logs and window: an independent way to the evidence."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "policygen", "generate", "--principal", principal),
            *("--logs", str(SAMPLE_LOGS), "--start", "2026-01-05T00:00:00Z"),
            *("--end", "2026-01-06T00:00:00Z"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def actions_of(policy: dict) -> set[str]:
    found: set[str] = set()
    for statement in policy["Statement"]:
        actions = statement["Action"]
        found.update([actions] if isinstance(actions, str) else actions)
    return found


def test_review_a_generated_policy(server: ServerProcess, context: Any) -> None:
    """Sign in, start a job on the sample trail, watch it finish without reloading, and
    find the API's policy on its page, in its download and in the clipboard."""
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = sign_in_page(context, server)
    expect(page.get_by_test_id("account")).to_have_text(ACCOUNT)
    with server.frozen_workers():
        fill_start_form(page)
        page.get_by_role("button", name="Generate policy").click()
        page.wait_for_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
        expect(page.locator("#job-status")).to_have_text("IN_PROGRESS")
        expect(page.locator("#follow")).to_be_visible()
    # the workers thaw: the page notices by itself
    expect(page.locator("#job-status")).to_have_text("SUCCEEDED", timeout=PATIENCE_MS)
    job_id = job_id_of(page)
    expected = api_policy(server, job_id)

    shown = json.loads(page.locator("#policy-1").inner_text())
    assert shown == expected
    table_actions = set(page.locator("#actions code.action").all_inner_texts())
    assert table_actions == actions_of(expected)

    with page.expect_download() as download:
        page.locator("#download-1-json").click()
    assert json.loads(Path(download.value.path()).read_text()) == expected

    page.get_by_role("button", name="Copy").click()
    expect(page.locator(".copied")).to_have_text("Copied.")
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == expected

    # the inferred PassRole grants are those `policygen generate` reports for the logs
    cli = policygen_generate(USER_ARN)
    rows = page.locator("#passrole tbody tr")
    expect(rows).to_have_count(len(cli["policygen"]["passRole"]))
    for i, grant in enumerate(cli["policygen"]["passRole"]):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[0] == grant["service"]
        assert cells[1].split() == grant["roles"]
        assert cells[2].split() == grant["instanceProfiles"]
        assert cells[3] == str(grant["count"])

    page.locator("#show-observed").click()
    page.wait_for_url(re.compile(r"resources=observed"))
    assert json.loads(page.locator("#policy-1").inner_text()) == api_policy(
        server, job_id, "observed"
    )

    page.get_by_role("link", name="All policy generations").click()
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("SUCCEEDED")
    expect(row).to_contain_text("complete")


def test_cancel_a_running_job(server: ServerProcess, context: Any) -> None:
    page = sign_in_page(context, server)
    with server.frozen_workers():
        fill_start_form(page)
        page.get_by_role("button", name="Generate policy").click()
        page.wait_for_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
        job_id = job_id_of(page)
        page.get_by_role("button", name="Cancel this job").click()
        expect(page.locator("#job-status")).to_have_text("CANCELED")
        answer = server.client().get_generated_policy(jobId=job_id)
        assert answer["jobDetails"]["status"] == "CANCELED"


def test_another_account_sees_none_of_the_jobs(server: ServerProcess, context: Any) -> None:
    owner = sign_in_page(context, server)
    fill_start_form(owner)
    owner.get_by_role("button", name="Generate policy").click()
    owner.wait_for_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
    job_url = owner.url
    other_context = context.browser.new_context()
    try:
        other = sign_in_page(other_context, server, OTHER_KEY)
        expect(other.locator("#no-jobs")).to_have_text("No policy generations yet.")
        answer = other.goto(job_url)
        assert answer is not None and answer.status == 404
        expect(other.get_by_role("heading", level=1)).to_have_text("Not found")
    finally:
        other_context.close()


def test_the_console_is_usable_from_the_keyboard(server: ServerProcess, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{server.url}/console/sign-in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Access key ID")).to_be_focused()
    page.keyboard.type("AKIDPOLICYGENTEST01")
    page.keyboard.press("Tab")
    page.keyboard.type("test/secret+one")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/console/")
    # every field of the start form has a label
    for label in ("IAM user or role ARN", "Start", "End", "Regions", "Access role"):
        expect(page.get_by_label(label)).to_be_editable()


def test_pages_pass_axe_accessibility_checks(server: ServerProcess, context: Any) -> None:
    """axe-core (the checker browsers' accessibility tools use) finds no violation on the
    sign-in, jobs and job pages: labels, names, contrast, landmarks, table headers."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    page = context.new_page()
    page.goto(f"{server.url}/console/sign-in")
    checked = {"sign-in": axe.run(page)}
    page = sign_in_page(context, server)
    fill_start_form(page)
    page.get_by_role("button", name="Generate policy").click()
    expect(page.locator("#job-status")).to_have_text("SUCCEEDED", timeout=PATIENCE_MS)
    checked["job"] = axe.run(page)
    page.get_by_role("link", name="All policy generations").click()
    checked["jobs"] = axe.run(page)
    problems = {
        name: result.generate_report()
        for name, result in checked.items()
        if result.violations_count
    }
    assert problems == {}


def test_without_javascript_pages_read_and_follow(server: ServerProcess, browser: Any) -> None:
    """With JavaScript off, sign-in and the start form work, a running job's page refreshes
    itself until the job ends, and the policy reads (only the Copy button is missing)."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = sign_in_page(context, server)
        with server.frozen_workers():
            fill_start_form(page)
            page.get_by_role("button", name="Generate policy").click()
            page.wait_for_url(re.compile(r"/console/jobs/[0-9a-f-]{36}$"))
            expect(page.locator("#job-status")).to_have_text("IN_PROGRESS")
        # <noscript><meta http-equiv="refresh" content="5"> reloads it
        expect(page.locator("#job-status")).to_have_text("SUCCEEDED", timeout=PATIENCE_MS)
        expected = api_policy(server, job_id_of(page))
        assert json.loads(page.locator("#policy-1").inner_text()) == expected
        expect(page.get_by_role("button", name="Copy")).to_be_hidden()
        expect(page.locator("#download-1-json")).to_be_visible()
    finally:
        context.close()
