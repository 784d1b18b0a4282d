"""The review console over HTTP, as a browser's requests reach it: a real `policygen serve`,
forms posted with httpx, pages read as HTML. (tests/test_console_browser.py drives
Chromium through the same pages.)

Hostile logs put `<script>` in an event name, an event ID and a principal; the pages must
show them as text. Forms without the session's CSRF token are refused and change nothing;
a wrong secret does not sign in; another account's jobs are unknown; the forms are fuzzed
in tests/test_console_fuzz.py.
"""

from __future__ import annotations

import html
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consolehelp import Visitor, job_ids, running, tables, visitor
from logfactory import (
    ACCOUNT,
    ROLE_ARN,
    USER_ARN,
    delivery_path,
    record,
    user_identity,
    write_log,
)
from serverprocess import KEY, OTHER_KEY, SECOND_KEY, TRAIL, ServerProcess

HOSTILE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/<script>alert(3)</script>"
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_SERVICE = "<script>alert(4)</script>"
HOSTILE_EVENT_ID = "<script>alert(2)</script>"
PLAIN_TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/plain"
FORM_WINDOW = {"start": "2026-01-05T00:00", "end": "2026-01-06T00:00"}


def at(hour: int, minute: int) -> str:
    return f"2026-01-05T{hour:02d}:{minute:02d}:00Z"


def write_trail(root: Path) -> Path:
    """The deployer role's calls, hour by hour (what the activity chart must count), with
    `<script>` in an event name and an event ID, and a role whose name is `<script>`."""
    calls = [
        record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances", at(10, 5)),
        record(ROLE_ARN, "ec2.amazonaws.com", "DescribeInstances", at(10, 20)),
        record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets", at(10, 30), eventID=HOSTILE_EVENT_ID),
        *(record(ROLE_ARN, "s3.amazonaws.com", "ListBuckets", at(11, m)) for m in (10, 20, 30)),
        record(ROLE_ARN, "ec2.amazonaws.com", HOSTILE_NAME, at(11, 40)),
        record(ROLE_ARN, f"{HOSTILE_SERVICE}.amazonaws.com", "Get", at(11, 45)),
        record(user_identity(HOSTILE_ROLE), "s3.amazonaws.com", "ListBuckets", at(11, 50)),
        record(USER_ARN, "kms.amazonaws.com", "ListAliases", at(11, 55)),
    ]
    write_log(root, calls, delivered="20260105T1215Z")
    broken = delivery_path(root, delivered="20260105T1300Z", suffix="BrokenFile000001")
    broken.write_bytes(b"this is not gzip")  # a corrupt file: counted and reported
    return root


def index(logs: Path, data_dir: Path) -> None:
    """`policygen index`, as an operator runs it beside the server."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "policygen",
            "index",
            "--logs",
            str(logs),
            "--data-dir",
            str(data_dir),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(an indexed trail, the same logs in a folder the index does not know)."""
    indexed = write_trail(tmp_path_factory.mktemp("trail"))
    plain = write_trail(tmp_path_factory.mktemp("plain"))
    return indexed, plain


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, logs: tuple[Path, Path]
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("data")
    index(logs[0], data_dir)
    with running(
        data_dir, "--trail", f"{TRAIL}={logs[0]}", "--trail", f"{PLAIN_TRAIL}={logs[1]}"
    ) as server:
        yield server


def start_form(principal: str = ROLE_ARN, trail: str = TRAIL, **fields: str) -> dict[str, str]:
    return {"principal": principal, "trail": trail, **FORM_WINDOW, **fields}


def start_job(who: Visitor, principal: str = ROLE_ARN, trail: str = TRAIL) -> str:
    """Start a job through the console's form; its id, from where the form leads."""
    answer = who.post("/console/jobs", start_form(principal, trail))
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/console/jobs/")
    return location.rsplit("/", 1)[1]


def api_job_ids(server: ServerProcess, key: str = KEY) -> set[str]:
    generations = server.client(key).list_policy_generations()["policyGenerations"]
    return {g["jobId"] for g in generations}


# --- sign-in and sessions ------------------------------------------------------------


def test_browsers_asking_for_slash_go_to_the_console_and_api_clients_do_not(
    server: ServerProcess,
) -> None:
    with visitor(server, key=None) as who:
        home = who.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
        assert (home.status_code, home.headers["location"]) == (303, "/console/")
        assert who.get("/console/").headers["location"] == "/console/sign-in?next=/console/"
    api = server.request("GET", "/")
    assert api.status_code == 400
    assert api.headers["x-amzn-ErrorType"] == "ValidationException"


def test_signing_in_sets_a_strict_http_only_cookie_scoped_to_the_console(
    server: ServerProcess,
) -> None:
    with visitor(server, key=None) as who:
        answer = who.sign_in(KEY)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/")
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        assert ACCOUNT in who.get("/console/").text
    with visitor(server, key=None) as who:
        token = who.csrf()
        behind_proxy = who.http.post(
            "/console/sign-in",
            data={
                "access_key_id": KEY,
                "secret_access_key": "test/secret+one",
                "csrf_token": token,
            },
            headers={"X-Forwarded-Proto": "https"},
        )
        assert "Secure" in behind_proxy.headers["set-cookie"]


@pytest.mark.parametrize(
    "key, secret",
    [
        pytest.param(KEY, "test/secret+two", id="another-key's-secret"),
        pytest.param(KEY, "test/secret+on", id="secret-prefix"),
        pytest.param(KEY, "", id="empty-secret"),
        pytest.param("AKIDPOLICYGENNOKEY1", "test/secret+one", id="unknown-key"),
    ],
)
def test_a_wrong_secret_cannot_sign_in(server: ServerProcess, key: str, secret: str) -> None:
    with visitor(server, key=None) as who:
        answer = who.post(
            "/console/sign-in",
            {"access_key_id": key, "secret_access_key": secret},
            token=who.csrf(),
        )
        assert answer.status_code == 401
        assert "not valid" in answer.text
        assert "set-cookie" not in answer.headers  # the session stays signed out
        assert who.get("/console/").status_code == 303


def test_sign_out_ends_the_session(server: ServerProcess) -> None:
    with visitor(server) as who:
        assert who.get("/console/").status_code == 200
        assert who.post("/console/sign-out", {}, token=None).status_code == 403
        assert who.get("/console/").status_code == 200  # a refused sign-out changed nothing
        assert who.post("/console/sign-out", {}).status_code == 303
        assert who.get("/console/").headers["location"].startswith("/console/sign-in")


def test_sign_in_goes_back_to_a_console_page_only(server: ServerProcess) -> None:
    for target, expected in [
        ("/console/jobs/x", "/console/jobs/x"),
        ("//evil.example/console/", "/console/"),
        ("https://evil.example/", "/console/"),
        ("/console//evil.example", "/console/"),
    ]:
        with visitor(server, key=None) as who:
            fields = {"access_key_id": KEY, "secret_access_key": "test/secret+one", "next": target}
            answer = who.post("/console/sign-in", fields, token=who.csrf())
            assert answer.headers["location"] == expected


# --- CSRF ----------------------------------------------------------------------------


def test_forms_without_the_sessions_csrf_token_are_refused_and_change_nothing(
    server: ServerProcess,
) -> None:
    with visitor(server) as who, visitor(server, key=SECOND_KEY) as other_session:
        before = api_job_ids(server)
        foreign = other_session.csrf("/console/")
        for token in (None, "", "forged-token", foreign):
            answer = who.post("/console/jobs", start_form(), token=token)
            assert answer.status_code == 403, token
            assert "security token" in answer.text
        assert api_job_ids(server) == before
        with server.frozen_workers():
            job_id = start_job(who)
            for token in (None, "forged-token", foreign):
                refused = who.post(f"/console/jobs/{job_id}/cancel", {}, token=token)
                assert refused.status_code == 403
            status = server.client().get_generated_policy(jobId=job_id)["jobDetails"]["status"]
            assert status == "IN_PROGRESS"
    with Visitor(server) as stranger:  # no session at all: the sign-in form is refused too
        answer = stranger.post(
            "/console/sign-in", {"access_key_id": KEY, "secret_access_key": "test/secret+one"}, None
        )
        assert answer.status_code == 403


# --- jobs and accounts -----------------------------------------------------------------


def test_a_job_started_in_the_console_is_the_apis_job(server: ServerProcess) -> None:
    with visitor(server) as who:
        job_id = start_job(who)
        final = server.final(job_id)
        assert final["jobDetails"]["status"] == "SUCCEEDED"
        assert final["generatedPolicyResult"]["properties"]["principalArn"] == ROLE_ARN
        listed = who.get("/console/")
        assert job_ids(listed.text)[0] == job_id
        page = who.get(f"/console/jobs/{job_id}")
        assert page.status_code == 200
        assert "SUCCEEDED" in page.text
        # the actions of write_trail's calls, by hand (the <script> calls map to none)
        actions = [row[0] for row in tables(page.text)["actions"][1:]]
        assert actions == ["ec2:DescribeInstances", "ec2:RunInstances", "s3:ListAllMyBuckets"]
        assert '<p id="actions-summary">3 actions of 2 services: ec2, s3.</p>' in page.text
        status = who.get(f"/console/jobs/{job_id}/status").json()
        assert status == {"jobId": job_id, "status": "SUCCEEDED"}


def test_another_accounts_jobs_are_unknown(server: ServerProcess) -> None:
    with visitor(server) as owner:
        job_id = start_job(owner)
        server.final(job_id)
    with visitor(server, key=OTHER_KEY) as other:
        jobs = other.get("/console/")
        assert jobs.status_code == 200
        assert job_id not in jobs.text
        assert job_ids(jobs.text) == []
        for path in ("", "/status", "/policy-1.json", "/policy-1.json?resources=observed"):
            answer = other.get(f"/console/jobs/{job_id}{path}")
            assert answer.status_code == 404, path
            assert ROLE_ARN not in answer.text
        assert other.post(f"/console/jobs/{job_id}/cancel", {}).status_code == 404
        # the principals the index saw in account 111122223333 are not suggested either
        assert ROLE_ARN not in jobs.text and USER_ARN not in jobs.text
        # nor can it start a job for them
        refused = other.post("/console/jobs", start_form())
        assert refused.status_code == 403
        assert "AccessDeniedException" in refused.text
    assert server.client(OTHER_KEY).list_policy_generations()["policyGenerations"] == []


def test_the_jobs_page_is_paged_newest_first(server: ServerProcess) -> None:
    with visitor(server, key=SECOND_KEY) as who:
        seen = job_ids(who.get("/console/").text)
        started = [start_job(who, USER_ARN) for _ in range(21 - min(len(seen), 21))]
        first = who.get("/console/")
        shown = job_ids(first.text)
        assert len(shown) == 20
        assert shown[: len(started)] == started[::-1][:20]
        older = first.text.split('href="/console/?page=')[1].split('"')[0]
        second = job_ids(who.get(f"/console/?page={older}").text)
        assert second and not set(second) & set(shown)
        assert who.get("/console/?page=not-a-token").status_code == 400


def test_start_form_errors_are_the_apis_and_keep_what_was_typed(server: ServerProcess) -> None:
    with visitor(server) as who:
        answer = who.post("/console/jobs", start_form(principal="arn:aws:s3:::not-a-principal"))
        assert answer.status_code == 400
        assert "ValidationException" in answer.text
        assert "policyGenerationDetails.principalArn" in answer.text
        assert 'value="arn:aws:s3:::not-a-principal"' in answer.text
        no_trail = who.post("/console/jobs", {**start_form(), "trail": ""})
        assert no_trail.status_code == 400
        assert "cloudTrailDetails.trails" in no_trail.text
        backwards = who.post(
            "/console/jobs", start_form(start="2026-01-06T00:00", end="2026-01-05T00:00")
        )
        assert backwards.status_code == 400
        assert "cloudTrailDetails.startTime" in backwards.text


def test_a_resubmitted_form_starts_one_job(server: ServerProcess) -> None:
    with visitor(server) as who:
        fields = start_form(client_token="console-form-1")
        first = who.post("/console/jobs", fields)
        again = who.post("/console/jobs", fields)
        assert first.headers["location"] == again.headers["location"]


# --- what a job page shows -----------------------------------------------------------


def test_hostile_log_values_are_shown_as_text(server: ServerProcess) -> None:
    with visitor(server) as who:
        job_id = start_job(who)
        server.final(job_id)
        page = who.get(f"/console/jobs/{job_id}").text
        hostile_job = start_job(who, HOSTILE_ROLE)
        server.final(hostile_job)
        hostile_page = who.get(f"/console/jobs/{hostile_job}").text
        jobs_page = who.get("/console/").text
    assert "<script>alert" not in page + hostile_page + jobs_page
    # IAM actions come from the catalogue, so logs reach pages as event sources and names
    # (unmapped calls, the chart), event IDs (examples) and principals (suggestions, jobs)
    unmapped = [row[:2] for row in tables(page)["unmapped"][1:]]
    assert sorted(unmapped) == [
        [f"{HOSTILE_SERVICE}.amazonaws.com", "Get"],
        ["ec2.amazonaws.com", HOSTILE_NAME],
    ]
    assert "&lt;script&gt;alert(4)&lt;/script&gt;: 1 call, 2026-01-05 11:00" in page
    actions = {row[0]: row for row in tables(page)["actions"][1:]}
    assert actions["s3:ListAllMyBuckets"][4] == HOSTILE_EVENT_ID
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    # the principal: suggested from the index, listed, and on its own page
    escaped_role = HOSTILE_ROLE.replace("<", "&lt;").replace(">", "&gt;")
    assert f'<option value="{escaped_role}">1 call</option>' in jobs_page
    assert escaped_role in hostile_page


def test_activity_chart_counts_calls_per_hour_from_the_index(server: ServerProcess) -> None:
    with visitor(server) as who:
        job_id = start_job(who)
        server.final(job_id)
        page = who.get(f"/console/jobs/{job_id}").text
    assert "Calls per hour and service (UTC), from the usage index" in page
    rows = tables(page)["chart-table"][1:]
    # written by hand from write_trail: 10:xx two EC2 calls and one S3; 11:xx three S3
    # calls, the unmapped EC2 call and the call to a service named <script>
    assert sorted(map(tuple, rows)) == [
        ("2026-01-05 10:00", "ec2", "2"),
        ("2026-01-05 10:00", "s3", "1"),
        ("2026-01-05 11:00", HOSTILE_SERVICE, "1"),
        ("2026-01-05 11:00", "ec2", "1"),
        ("2026-01-05 11:00", "s3", "3"),
    ]
    assert page.count("<rect") - page.count('<rect width="12"') == 5  # one bar part per row


def test_without_the_index_the_chart_shows_first_to_last_call(server: ServerProcess) -> None:
    with visitor(server) as who:
        job_id = start_job(who, trail=PLAIN_TRAIL)
        server.final(job_id)
        page = who.get(f"/console/jobs/{job_id}").text
    assert "First to last call per service (UTC), from the job's analysis" in html.unescape(page)
    rows = {row[0]: row[1:] for row in tables(page)["chart-table"][1:]}
    # per service, summed over its actions (ec2:RunInstances and ec2:DescribeInstances)
    assert rows["ec2"] == ["2", at(10, 5), at(10, 20)]
    assert rows["s3"] == ["4", at(10, 30), at(11, 30)]


def test_the_job_page_follows_a_running_job(server: ServerProcess) -> None:
    with visitor(server) as who, server.frozen_workers():
        job_id = start_job(who)
        page = who.get(f"/console/jobs/{job_id}").text
        assert f'data-follow="/console/jobs/{job_id}/status"' in page
        assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
        assert who.get(f"/console/jobs/{job_id}/status").json()["status"] == "IN_PROGRESS"
        assert who.post(f"/console/jobs/{job_id}/cancel", {}).status_code == 303
    assert who_status(server, job_id) == "CANCELED"


def who_status(server: ServerProcess, job_id: str) -> str:
    return server.client().get_generated_policy(jobId=job_id)["jobDetails"]["status"]


def test_unknown_console_paths_are_html_404s(server: ServerProcess) -> None:
    with visitor(server) as who:
        for path in (
            "/console/nope",
            "/console/jobs/..%2F..%2Fetc",
            "/console/jobs/x/policy-0.json",
        ):
            answer = who.get(path)
            assert answer.status_code == 404, path
            assert answer.headers["content-type"].startswith("text/html")
        assert who.get("/console/static/console.css").status_code == 200


# --- authentication off ------------------------------------------------------------------


def test_no_auth_skips_sign_in_but_not_csrf(tmp_path: Path, logs: tuple[Path, Path]) -> None:
    trail = ("--trail", f"{TRAIL}={logs[1]}")
    with running(tmp_path / "data", *trail, auth=False) as server, Visitor(server) as who:
        jobs = who.get("/console/")
        assert jobs.status_code == 200
        assert "Authentication is off" in jobs.text
        assert who.get("/console/sign-in").headers["location"] == "/console/"
        assert who.post("/console/jobs", start_form(), token=None).status_code == 403
        job_id = start_job(who)
        assert server.final(job_id)["jobDetails"]["status"] == "SUCCEEDED"


def test_a_failed_job_says_why(server: ServerProcess) -> None:
    unknown = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/nowhere"
    with visitor(server) as who:
        job_id = start_job(who, trail=unknown)
        details = server.final(job_id)["jobDetails"]
        page = who.get(f"/console/jobs/{job_id}").text
        row = next(r for r in tables(who.get("/console/").text)["jobs"] if job_id in r[0])
    assert details["status"] == "FAILED"
    code, message = details["jobError"]["code"], details["jobError"]["message"]
    assert code == "RESOURCE_NOT_FOUND_ERROR"
    assert f"<strong>{code}</strong>: {html.escape(message)}" in page
    assert row[1] == "FAILED"
    assert row[6] == f"failed: {code}: {message}"


def test_an_internal_error_is_a_page_without_details(
    tmp_path: Path, logs: tuple[Path, Path]
) -> None:
    settings = ("--db-timeout", "0.1", "--trail", f"{TRAIL}={logs[1]}")
    with running(tmp_path / "data", *settings) as server, visitor(server) as who:
        token = who.csrf("/console/")
        holder = sqlite3.connect(server.data_dir / "policygen.sqlite", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            answer = who.post("/console/jobs", start_form(), token=token)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert answer.status_code == 500
        assert "An internal error occurred" in answer.text
        assert "locked" not in answer.text and "Traceback" not in answer.text
        server.wait_for_log("database is locked")  # the details are in the server's log
        assert who.post("/console/jobs", start_form(), token=token).status_code == 303


def test_sign_in_attempts_count_against_the_rate_limit(tmp_path: Path) -> None:
    one_per_100_seconds = ("--rate-limit", "0.01")
    with running(tmp_path / "data", *one_per_100_seconds) as server, visitor(server, None) as who:
        wrong = {"access_key_id": KEY, "secret_access_key": "guess"}
        assert who.post("/console/sign-in", wrong, token=who.csrf()).status_code == 401
        throttled = who.post("/console/sign-in", wrong, token=who.csrf())
        assert throttled.status_code == 429
        assert "Rate exceeded" in throttled.text


def test_suggestions_follow_the_index_as_it_grows(tmp_path: Path, logs: tuple[Path, Path]) -> None:
    with running(tmp_path / "data", "--trail", f"{TRAIL}={logs[1]}") as server:
        with visitor(server) as who:
            before = who.get("/console/").text
            assert "No suggestions" in before and ROLE_ARN not in before
            index(logs[1], server.data_dir)  # an operator indexes the trail meanwhile
            after = who.get("/console/").text
        # written by hand from write_trail: the deployer's 8 calls, alice's one
        assert f'<option value="{ROLE_ARN}">8 calls</option>' in after
        assert f'<option value="{USER_ARN}">1 call</option>' in after


def test_an_incomplete_policy_says_what_is_missing(server: ServerProcess) -> None:
    with visitor(server) as who:
        job_id = start_job(who)
        server.final(job_id)
        page = who.get(f"/console/jobs/{job_id}").text
    api = server.request("GET", f"/policy/generation/{job_id}").json()
    report = api["policygen"]
    assert api["generatedPolicyResult"]["properties"]["isComplete"] is False
    found = tables(page)
    assert sorted(row[1] for row in found["unmapped"][1:]) == [HOSTILE_NAME, "Get"]
    assert [tuple(row) for row in found["skipped"][1:]] == list(report["skippedFiles"].items())
    # (named by its file name: this job was answered from the index)
    assert list(report["skippedFiles"]) == [
        "111122223333_CloudTrail_us-east-1_20260105T1300Z_BrokenFile000001.json.gz"
    ]
    for reason in report["incompleteReasons"]:
        assert html.escape(reason, quote=False) in page
