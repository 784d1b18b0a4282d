"""The `policygen` command as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policygen.cli.output import INDEX_FILE, result_file_name
from policygen_synth import Manifest

from logfactory import (
    ROLE_ARN,
    RUN_INSTANCES_PLACEHOLDERS,
    RUN_INSTANCES_POLICY,
    record,
    write_log,
)

WINDOW = ["--start", "2026-01-05T00:00:00Z", "--end", "2026-01-06T00:00:00Z"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policygen", *args], capture_output=True, text=True, timeout=120
    )


def test_generate_prints_generated_policy_result(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    done = run("generate", "--principal", ROLE_ARN, "--logs", str(logs), *WINDOW)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["properties"]["principalArn"] == ROLE_ARN
    assert result["properties"]["isComplete"] is True
    assert result["generatedPolicies"] == [{"policy": RUN_INSTANCES_POLICY}]
    assert "files read: 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_generate_with_placeholders(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    done = run(
        "generate", "--principal", ROLE_ARN, "--logs", str(logs), "--resource-placeholders", *WINDOW
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["generatedPolicies"] == [{"policy": RUN_INSTANCES_PLACEHOLDERS}]


def test_corrupt_file_is_summarised_not_fatal(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    write_log(logs, [], suffix="Z" * 16).write_bytes(b"\x1f\x8b\x08broken")
    done = run("generate", "--principal", ROLE_ARN, "--logs", str(logs), *WINDOW)
    assert done.returncode == 0
    assert json.loads(done.stdout)["properties"]["isComplete"] is False
    assert "skipped: 1" in done.stderr
    assert "corrupt gzip" in done.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["generate", "--logs", "."],
            "give one of --principal, --permission-set and --all-principals",
        ),
        (["generate", "--all-principals", "--logs", "."], "--all-principals needs --out"),
        (["generate", "--principal", ROLE_ARN, "--logs", ".", "--out", "x"], "--out goes with"),
        (["index", "--logs", "/no/such/dir"], "no such folder"),
        (["generate", "--principal", "bob", "--logs", "."], "not an IAM user or role ARN"),
        (["generate", "--principal", ROLE_ARN, "--logs", "/no/such/dir"], "no such folder"),
        (["generate", "--principal", ROLE_ARN, "--logs", ".", "--start", "yesterday"], "ISO"),
        (
            [
                "generate",
                "--principal",
                ROLE_ARN,
                "--logs",
                ".",
                "--start",
                "2026-02-01",
                "--end",
                "2026-01-01",
            ],
            "after end",
        ),
        (["generate", "--principal", ROLE_ARN, "--logs", ".", "--denied", "maybe"], "--denied"),
        (["frobnicate"], "No such command"),
        (["synth", "--out", "x", "--size", "lots"], "not a size"),
        (["synth", "--out", "x", "--account", "12"], "12-digit"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args: list[str], fragment: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("policygen: error:")
    assert fragment in lines[0]


def test_all_principals_writes_what_per_principal_runs_print(
    corpus: tuple[Path, Manifest], tmp_path: Path
) -> None:
    root, manifest = corpus
    window = ["--start", "2026-01-05T03:00:00Z", "--end", "2026-01-06T21:30:00Z"]
    out = tmp_path / "out"
    done = run("generate", "--all-principals", "--logs", str(root), "--out", str(out), *window)
    assert done.returncode == 0, done.stderr
    listing = json.loads((out / INDEX_FILE).read_text())["principals"]
    assert {entry["principalArn"] for entry in listing} >= {p["arn"] for p in manifest.principals}
    assert len({entry["file"] for entry in listing}) == len(listing)
    for entry in listing[:: max(1, len(listing) // 4)]:
        single = run("generate", "--principal", entry["principalArn"], "--logs", str(root), *window)
        assert single.returncode == 0, single.stderr
        assert json.loads((out / entry["file"]).read_text()) == json.loads(single.stdout)
    assert f"{len(listing)} principals written" in done.stderr


def test_result_file_names_are_safe_and_distinct() -> None:
    names = {
        result_file_name(arn)
        for arn in [
            "arn:aws:iam::111122223333:role/a/b",
            "arn:aws:iam::111122223333:role/a-b",
            "arn:aws:iam::111122223333:role/a_b",
            "arn:aws:iam::111122223333:user/a/b",
        ]
    }
    assert len(names) == 4
    assert all("/" not in name and name.endswith(".json") for name in names)


def test_index_then_generate_from_it(corpus: tuple[Path, Manifest], data_dir: Path) -> None:
    root, manifest = corpus
    arn = manifest.principals[0]["arn"]
    indexed = run("index", "--logs", str(root), "--data-dir", str(data_dir))
    assert indexed.returncode == 0, indexed.stderr
    assert "new files indexed" in indexed.stderr
    args = ["generate", "--principal", arn, "--logs", str(root), "--data-dir", str(data_dir)]
    from_index = run(*args, "--start", "2026-01-01T00:00:00Z")
    scanned = run(*args, "--start", "2026-01-01T00:00:00Z", "--no-index")
    assert "from the usage index" in from_index.stderr
    assert "from the usage index" not in scanned.stderr
    assert (
        json.loads(from_index.stdout)["generatedPolicies"]
        == json.loads(scanned.stdout)["generatedPolicies"]
    )
    again = run("index", "--logs", str(root), "--data-dir", str(data_dir))
    assert "0 new files indexed" in again.stderr


def test_progress_bar_goes_to_stderr_and_leaves_stdout_alone(logs: Path) -> None:
    write_log(logs, [record(ROLE_ARN, "ec2.amazonaws.com", "RunInstances")])
    args = ["generate", "--principal", ROLE_ARN, "--logs", str(logs), *WINDOW]
    with_bar, without = run(*args, "--progress"), run(*args, "--no-progress")
    assert with_bar.returncode == without.returncode == 0
    assert json.loads(with_bar.stdout) == json.loads(without.stdout)
    assert "scanning" in with_bar.stderr
    assert "scanning" not in without.stderr
