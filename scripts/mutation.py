"""Mutation testing of the modules that decide the answer (issue 19), with mutmut.

Each group (a few modules and the test files that pin them) runs in its own scratch folder,
build/mutation/<group>[-quick]/, because mutmut reads one configuration from the working
directory and keeps its mutants and results there. Groups run one after another, each with
at most two test processes, so that the machine's other users keep a core.

A mutant counts as killed when a test fails or times out under it; one that no selected test
reaches ("no tests") counts as survived: an unpinned line is a gap, not a pass. The closing
line is `mutation: killed K of N (P%)`.

    scripts/mutation [--quick] [--group NAME ...] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass(frozen=True)
class Group:
    """Modules mutated together, the tests of the full run, and the faster ones of --quick
    (none: the group is left out of --quick). `equivalent`: regular expressions of source
    lines left unmutated (mutmut's `do_not_mutate_patterns`) because their mutants cannot
    change behaviour; docs/testing.md says why for each."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]
    quick: tuple[str, ...]
    equivalent: tuple[str, ...] = ()


#: server/store.py: SQL text and sqlite3.Row keys. mutmut's string mutants change their
#: case (`"UPDATE jobs"` -> `"update jobs"`, `row["seq"]` -> `row["SEQ"]`), and SQLite's
#: keywords, table and column names and `sqlite3.Row` keys are all case-insensitive.
_SQL_LINES = (
    r'^\s*"(INSERT|UPDATE|SELECT|DELETE) ',  # a statement's first line
    r'^\s*"[^"]*\?[^"]*",?$',  # a line that is one SQL string with placeholders
    r'(execute|_write)\("(PRAGMA|SELECT|UPDATE|DELETE) ',  # a statement passed inline
    r'clauses\.append\("',  # a WHERE clause of `page`
    r"' AND '\.join",
    r'row\["[a-z_]+"\]',
)


GROUPS: dict[str, Group] = {
    "mapping": Group(
        ("iam/mapping.py",),
        ("tests/test_mapping.py", "tests/test_policy.py"),
        ("tests/test_mapping.py",),
    ),
    "passrole": Group(
        ("iam/passrole.py",),
        ("tests/test_mapping.py", "tests/test_passrole.py", "tests/test_observe.py"),
        ("tests/test_passrole.py", "tests/test_observe.py"),
    ),
    "selection": Group(
        ("sources/base.py", "sources/local.py", "cloudtrail/layout.py"),
        ("tests/test_selection.py", "tests/test_listing_filter.py", "tests/test_scan.py"),
        ("tests/test_selection.py", "tests/test_listing_filter.py"),
    ),
    "s3": Group(
        ("sources/s3.py",),
        ("tests/test_s3.py",),
        (),  # moto-backed: full run only
    ),
    "scanner": Group(
        ("scan/decode.py", "scan/tally.py"),
        (
            "tests/test_decode.py",
            "tests/test_tally.py",
            "tests/test_tally_files.py",
            "tests/test_native.py",
            "tests/test_scan.py",
            "tests/test_hostile_logs.py",
            "tests/test_selection.py",
        ),
        # in-process: the mutated code runs in the test process, not in pool workers;
        # test_native compares the C counter's glue in tally with the Python path
        (
            "tests/test_decode.py",
            "tests/test_tally.py",
            "tests/test_tally_files.py",
            "tests/test_native.py",
        ),
    ),
    "render": Group(
        ("policy/render.py",),
        ("tests/test_render.py", "tests/test_policy.py", "tests/test_render_limits.py"),
        ("tests/test_render.py", "tests/test_policy.py", "tests/test_render_limits.py"),
    ),
    "sigv4": Group(
        ("server/auth.py",),
        ("tests/test_auth.py", "tests/test_auth_refusals.py"),
        ("tests/test_auth.py", "tests/test_auth_refusals.py"),
    ),
    "store": Group(
        ("server/store.py",),
        ("tests/test_store.py", "tests/test_service.py"),
        ("tests/test_store.py",),
        _SQL_LINES,
    ),
}

_PYTEST_ARGS = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
KILLED = {1, 3, 36, -24, 24, 152, 255}


def _config(group: Group, quick: bool) -> str:
    """The [tool.mutmut] table for one group."""
    only = [f"src/policygen/{module}" for module in group.modules]
    tests = list(group.quick if quick else group.tests)
    # --quick leaves out tests marked slow (the C counter's fuzz test), which would run for
    # every mutant that the fast tests of its file leave alive
    pytest_args = _PYTEST_ARGS + (["-m", "not slow"] if quick else [])
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {json.dumps(only)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        f"pytest_add_cli_args = {json.dumps(pytest_args)}\n"
        "timeout_multiplier = 5.0\n"
        "timeout_constant = 20.0\n"
        # mutants fork from a server that has collected the tests but run none: caches
        # (functools.cache) filled by the stats run would hide the mutated code
        'process_isolation = "forkserver"\n'
        'forkserver_warmup = "collect"\n'
        "use_git_change_detection = false\n"
        f"do_not_mutate_patterns = {json.dumps(list(group.equivalent))}\n"
    )


def _workdir(name: str, group: Group, quick: bool) -> Path:
    """A fresh scratch folder that looks like the project to mutmut."""
    work = ROOT / "build" / "mutation" / (f"{name}-quick" if quick else name)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for folder in ("src", "tests", "benchmarks"):
        (work / folder).symlink_to(ROOT / folder)
    text = (ROOT / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(text + _config(group, quick))
    return work


def _counts(work: Path, group: Group) -> dict[str, Counter[str]]:
    """Per module: killed, survived (including no tests) and the surviving mutants' names."""
    result: dict[str, Counter[str]] = {}
    for module in group.modules:
        meta = work / "mutants" / "src" / "policygen" / f"{module}.meta"
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        tally: Counter[str] = Counter()
        for code in codes.values():
            tally["killed" if code in KILLED else "survived"] += 1
        result[module] = tally
    return result


def survivors(work: Path, module: str) -> list[str]:
    """The names of one module's surviving mutants (for `mutmut show NAME` in `work`)."""
    meta = work / "mutants" / "src" / "policygen" / f"{module}.meta"
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return sorted(name for name, code in codes.items() if code not in KILLED)


def run_group(name: str, quick: bool, jobs: int) -> dict[str, Counter[str]]:
    group = GROUPS[name]
    work = _workdir(name, group, quick)
    environment = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    started = time.monotonic()
    with (work / "mutmut.log").open("w") as log:
        subprocess.run(
            [str(VENV_BIN / "mutmut"), "run", "--max-children", str(jobs)],
            cwd=work,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    counts = _counts(work, group)
    for module, tally in counts.items():
        total = tally["killed"] + tally["survived"]
        print(
            f"  {module}: killed {tally['killed']} of {total} ({_percent(tally['killed'], total)})"
            f" [{name}, {time.monotonic() - started:.0f}s]",
            flush=True,
        )
    return counts


def _percent(killed: int, total: int) -> str:
    return f"{100 * killed / total:.1f}%" if total else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fast test files only")
    parser.add_argument("--group", action="append", choices=sorted(GROUPS))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    killed = total = 0
    names = args.group or [n for n in GROUPS if GROUPS[n].quick or not args.quick]
    for name in names:
        for tally in run_group(name, args.quick, args.jobs).values():
            killed += tally["killed"]
            total += tally["killed"] + tally["survived"]
    print(f"mutation: killed {killed} of {total} ({_percent(killed, total)})")
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
