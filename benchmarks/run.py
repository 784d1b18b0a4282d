#!/usr/bin/env python3
"""policygen's scan benchmarks, in one command: `.venv/bin/python benchmarks/run.py --size 1GB`.

On one synthetic trail (written once by `policygen_synth` into benchmarks/.corpus/ and
reused), with its files in the page cache, each case runs in a fresh process:

- decompress-Nw: read + gunzip only, with the scanner's isal function and process fan-out:
  the ceiling;
- one-Nw: a one-principal scan (the role below), as `generate` runs it (`--no-index`);
- one-quiet-1w: the same for a principal that makes few of its account's calls (the
  role makes about 8% of them, the quiet user under 1%: the scan's cost beyond
  decompression grows with the principal's share);
- all-Nw: one pass for every principal;
- ceiling-one-1w, ceiling-all-1w (against decompress-1w, decompress-all-1w): what a scan
  costs before any counting, the bound on what any scan built on msgspec can reach:
  decompression, the ARN search and the decoding of the role's records; decompression
  and the decoding of every record;
- index-build: `policygen index` over the whole trail;
- index-query: `policygen generate` for every principal with the index built (the slowest
  is reported), as a whole CLI process;
- cli-one: `policygen generate` for the role, no index, as a whole CLI process;
- trailscraper: `trailscraper select --filter-assumed-role-arn ... | trailscraper generate`
  (0.10.0, in its own virtual environment benchmarks/.venv-trailscraper, installed on first
  use; --no-trailscraper skips it);
- spark-one-local2, spark-all-local2: the one-principal and all-principals scans on the
  Spark engine, master local[2], against one-2w and all-2w (the same two cores); the
  session's start and its first scan (which starts the executors' Python workers) come
  before the clock starts and are reported apart (--no-spark skips them; they need the
  spark extra and Java).

Throughput is MB/s of uncompressed JSON the case read (the role's account only, for a
one-principal job); the end-to-end comparison with trailscraper is by time on the same
question. Peak RSS counts every process of a case: the case's own peak plus, for each
worker, the largest worker's peak (an upper bound). The machine is shared, so cases run
in rounds, interleaved, and the fastest run of each is kept; ratios are taken between
cases of the same run. Results go to benchmarks/results.json and docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROLE = "arn:aws:iam::111122223333:role/app/deployer"
#: A principal of the same account with a small share of its calls.
QUIET = "arn:aws:iam::111122223333:user/dev/alice"
START, END = "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"
TRAILSCRAPER = "trailscraper==0.10.0"
SPARK_MASTER = "local[2]"
SPARK_CASES = ("spark-one-local2", "spark-all-local2")
MB = 1_000_000


# --------------------------------------------------------------------------- child side


def _peak_rss(workers: int) -> int:
    """Bytes: this process's peak, plus `workers` times its largest child's peak."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + workers * child) * 1024


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _corpus_source(corpus: Path) -> Any:
    from policygen.sources.local import LocalFolder

    return LocalFolder(corpus)


def decompress_batch(query: Any, tasks: list[Any]) -> int:
    """Read and gunzip only, as a scan's batch does: the ceiling. Returns the bytes."""
    from policygen.scan.decode import FileError

    size = 0
    for path in tasks.paths:
        try:
            size += sum(map(len, _texts(query, [path])))
        except FileError:
            continue
    return size


def case_decompress(
    corpus: Path, workers: int, account: str | None, work: Any = None, role: str | None = None
) -> dict[str, Any]:
    """Read and gunzip only (`work` None), or a ceiling's `work`, over the files of
    `account` (None: all), in the scanner's batches over `workers` processes."""
    from concurrent.futures import ProcessPoolExecutor

    from policygen.core.arns import Principal
    from policygen.core.time import parse_time
    from policygen.scan import pool
    from policygen.scan.query import ScanQuery
    from policygen.sources.base import Selection

    source = _corpus_source(corpus)
    accounts = frozenset({account}) if account else None
    selection = Selection(parse_time(START), parse_time(END), accounts=accounts)
    query = ScanQuery(Principal.parse(role) if role else None, START, END)
    listed = pool.contents(source, source.list_objects(selection))
    tasks = [pool.file_tasks(batch, query) for batch in pool.batches(listed)]
    files = sum(map(len, tasks))
    work = work or decompress_batch
    if workers == 1:
        return {"bytes": sum(work(query, batch) for batch in tasks), "files": files}
    with ProcessPoolExecutor(workers) as executor:
        return {"bytes": sum(executor.map(work, [query] * len(tasks), tasks)), "files": files}


def case_list(corpus: Path) -> dict[str, Any]:
    """Listing only: every file of the window, as a scan lists them (nothing kept)."""
    from policygen.core.time import parse_time
    from policygen.sources.base import Selection

    selection = Selection(parse_time(START), parse_time(END))
    return {"files": sum(1 for _ in _corpus_source(corpus).list_objects(selection))}


def _texts(query: Any, paths: list[str]) -> Iterator[bytes]:
    """Each local file, gunzipped (the ceilings run in one process, on local files)."""
    from policygen.scan.decode import decompress

    for path in paths:
        with open(path, "rb") as handle:
            yield decompress(handle.read(), query.max_file_bytes)


def prefilter_batch(query: Any, tasks: list[Any]) -> int:
    """A one-principal scan without its counting: decompression, the ARN search, and the
    decoding of the records around each occurrence."""
    import stringzilla

    from policygen.scan.decode import candidate_records

    needle, size = query.principal.arn.encode(), 0
    for text in _texts(query, tasks.paths):
        size += len(text)
        first = stringzilla.find(text, needle)
        if first >= 0:
            candidate_records(text, needle, first)
    return size


def decode_batch(query: Any, tasks: list[Any]) -> int:
    """An all-principals pass without its counting: decompression and decoding."""
    from policygen.scan.decode import FileError, decode_records
    from policygen.scan.usage import ScanStats

    size = 0
    for text in _texts(query, tasks.paths):
        size += len(text)
        try:
            decode_records(text, ScanStats())
        except FileError:  # a digest file: listed, read, then ignored, as a scan does
            continue
    return size


def case_one(corpus: Path, workers: int, role: str, engine: Any = None) -> dict[str, Any]:
    from policygen.core.arns import Principal
    from policygen.core.time import parse_time
    from policygen.pipeline import ScanOptions, collect_usage
    from policygen.sources.base import Selection

    principal = Principal.parse(role)
    selection = Selection(
        parse_time(START), parse_time(END), accounts=frozenset({principal.account})
    )
    options = ScanOptions(workers=workers, observe="passed", engine=engine, use_index=False)
    usage = collect_usage(principal, _corpus_source(corpus), selection, options)
    calls = sum(s.count for s in usage.calls.values())
    return {"bytes": usage.stats.bytes_read, "calls": calls, "files": usage.stats.files_listed}


def case_all(corpus: Path, workers: int, engine: Any = None) -> dict[str, Any]:
    from policygen.core.time import parse_time
    from policygen.pipeline import scan
    from policygen.sources.base import Selection

    found = scan(
        _corpus_source(corpus),
        Selection(parse_time(START), parse_time(END)),
        None,
        workers=workers,
        observe="passed",
        engine=engine,
    )
    stats = next(iter(found.values())).stats
    return {"bytes": stats.bytes_read, "principals": len(found), "files": stats.files_listed}


def case_index_build(corpus: Path, workers: int, home: Path) -> dict[str, Any]:
    from policygen.core.paths import index_path
    from policygen.index import UsageIndex

    path = index_path(home)
    path.unlink(missing_ok=True)
    with UsageIndex(path) as index:
        report = index.ingest(corpus, workers=workers)
    return {
        "bytes": report.stats.bytes_read,
        "index_bytes": path.stat().st_size,
        "files": report.files_listed,
    }


def case_trailscraper(corpus: Path, role: str, venv: Path) -> dict[str, Any]:
    tool = str(venv / "bin" / "trailscraper")
    window = ["--from", START, "--to", END]
    select = [tool, "select", "--log-dir", str(corpus), *window, "--filter-assumed-role-arn", role]
    with tempfile.TemporaryFile() as out:
        first = subprocess.Popen(select, stdout=subprocess.PIPE)
        second = subprocess.Popen([tool, "generate"], stdin=first.stdout, stdout=out)
        assert first.stdout is not None
        first.stdout.close()
        rss = 0
        for process in (first, second):
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            rss += usage.ru_maxrss * 1024
        if first.returncode or second.returncode:
            raise RuntimeError(f"trailscraper failed: {first.returncode}, {second.returncode}")
        out.seek(0)
        policy = json.loads(out.read() or b"{}")
    actions = {a for s in policy.get("Statement", []) for a in _as_list(s.get("Action"))}
    return {"peak_rss": rss, "actions": len(actions)}


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value] if value else []


def case_cli(args: list[str], home: Path | None) -> dict[str, Any]:
    """A whole `policygen` command in this (fresh) process, as a user runs it."""
    from policygen.cli import main

    env_home = {"POLICYGEN_HOME": str(home)} if home else {}
    os.environ.update(env_home)
    try:
        main(args)
    except SystemExit as exit_:
        if exit_.code:
            raise RuntimeError(f"policygen {' '.join(args)}: exit {exit_.code}") from None
    return {}


def warm_up() -> None:
    """What every policygen process pays once before its first file: imports, the IAM
    catalogue and botocore's endpoint index. Scan cases leave it out (the end-to-end `cli`
    cases include it): they measure throughput."""
    import policygen.pipeline  # noqa: F401
    from policygen.iam import catalogue, facts, mapping

    catalogue.version()
    facts.wants("sts.amazonaws.com", "GetCallerIdentity")
    mapping.iam_prefix("warm-up.amazonaws.com")


def spark_engine(master: str | None) -> tuple[Any, float]:
    """The Spark engine on `master` with its session started (None: the local engine), and
    the seconds the start took: a cluster's session outlives one job, so the scan cases
    leave it out."""
    if master is None:
        return None, 0.0
    from policygen.scan import spark

    began = time.perf_counter()
    spark.session(master, {"spark.ui.enabled": "false"}).sparkContext.setLogLevel("ERROR")
    return spark.SparkEngine(master), time.perf_counter() - began


def run_case(options: argparse.Namespace) -> None:
    """Child mode: run one case and print its measurement as one JSON line.

    On Spark the case runs once before the clock starts, as the local engine's workers are
    forked from a parent that has loaded the IAM catalogue: the first job of a session
    also starts the executors' Python workers, which import policygen and load it (timed
    apart, as `first_seconds`)."""
    if options.case not in ("cli", "trailscraper"):
        warm_up()
    engine, session_seconds = spark_engine(options.spark_master)
    first = time.perf_counter()
    if engine is not None:
        measured_case(options, engine)
    first_seconds = time.perf_counter() - first
    began, cpu = time.perf_counter(), _cpu()
    found = measured_case(options, engine)
    found.setdefault("peak_rss", _peak_rss(options.workers))
    found["seconds"] = time.perf_counter() - began
    found["cpu_seconds"] = _cpu() - cpu
    if engine is not None:
        found["session_seconds"] = session_seconds
        found["first_seconds"] = first_seconds
    sys.stdout.write(json.dumps(found) + "\n")


def measured_case(options: argparse.Namespace, engine: Any) -> dict[str, Any]:
    """What the case measures, once."""
    corpus, workers, name = Path(options.corpus), options.workers, options.case
    if name == "decompress":
        found = case_decompress(corpus, workers, options.account)
    elif name == "ceiling-one":
        found = case_decompress(corpus, 1, options.account, prefilter_batch, options.role)
    elif name == "ceiling-all":
        found = case_decompress(corpus, 1, None, decode_batch)
    elif name == "one":
        found = case_one(corpus, workers, options.role, engine)
    elif name == "all":
        found = case_all(corpus, workers, engine)
    elif name == "list":
        found = case_list(corpus)
    elif name == "index-build":
        found = case_index_build(corpus, workers, Path(options.home))
    elif name == "trailscraper":
        found = case_trailscraper(corpus, options.role, Path(options.trailscraper))
    elif name == "cli":
        found = case_cli(options.cli_args, Path(options.home) if options.home else None)
    else:
        raise SystemExit(f"unknown case {name}")
    return found


# --------------------------------------------------------------------------- parent side


@dataclass
class Case:
    """One measured case: how to run it, and its runs."""

    name: str
    argv: list[str]
    workers: int = 1
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: environment the case's process gets beyond this one's (POLICYGEN_NATIVE=0).
    env: dict[str, str] = field(default_factory=dict)

    def best(self) -> dict[str, Any]:
        return min(self.runs, key=lambda run: run["seconds"])


def ensure_corpus(corpus: Path, size: str) -> dict[str, Any]:
    """Generate the trail once per size; reuse it afterwards."""
    from policygen.core.units import parse_size
    from policygen_synth import CorpusSpec, Manifest, generate_corpus

    target = parse_size(size)
    marker = corpus / "manifest.json"
    if marker.is_file():
        manifest = Manifest.read(marker)
        if manifest.params.get("target_bytes") == target:
            return manifest.stats
        shutil.rmtree(corpus)
    print(f"writing a {size} synthetic trail to {corpus} ...", file=sys.stderr)
    corpus.mkdir(parents=True, exist_ok=True)
    return generate_corpus(corpus, CorpusSpec(target_bytes=target), workers=2).stats


def warm(corpus: Path) -> int:
    """Read every file once, so that every case finds them in the page cache."""
    total = 0
    for path in corpus.rglob("*"):
        if path.is_file():
            total += len(path.read_bytes())
    return total


def ensure_trailscraper(venv: Path) -> bool:
    """trailscraper in its own virtual environment (its pins clash with ours)."""
    if (venv / "bin" / "trailscraper").exists():
        return True
    print(f"installing {TRAILSCRAPER} into {venv} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, TRAILSCRAPER], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"trailscraper not installed ({exc}); skipping it", file=sys.stderr)
        return False
    return True


def measure(case: Case) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *case.argv],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0", **case.env},
    )
    if done.returncode:
        raise RuntimeError(f"case {case.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plan(options: argparse.Namespace, corpus: Path, venv: Path | None) -> list[Case]:
    base = ["--corpus", str(corpus), "--role", options.role]
    account = options.role.split(":")[4]
    window = ["--start", START, "--end", END]
    cases = []
    for workers in (1, 2):
        w = ["--workers", str(workers)]
        ceiling = [*base, *w, "--case", "decompress", "--account", account]
        cases.append(Case(f"decompress-{workers}w", ceiling, workers))
        cases.append(Case(f"one-{workers}w", [*base, *w, "--case", "one"], workers))
    one, acct = ["--workers", "1"], ["--account", account]
    quiet = ["--corpus", str(corpus), "--role", options.quiet, *one, "--case", "one"]
    cases.append(Case("one-quiet-1w", quiet, 1))
    cases.append(Case("ceiling-one-1w", [*base, *one, *acct, "--case", "ceiling-one"], 1))
    cases.append(Case("decompress-all-1w", [*base, *one, "--case", "decompress"], 1))
    cases.append(Case("ceiling-all-1w", [*base, *one, "--case", "ceiling-all"], 1))
    cases.append(Case("decompress-all-2w", [*base, "--workers", "2", "--case", "decompress"], 2))
    cases.append(Case("all-2w", [*base, "--workers", "2", "--case", "all"], 2))
    cli = ["generate", "--principal", options.role, "--logs", str(corpus), *window, "--no-progress"]
    cases.append(
        Case("cli-one", [*base, "--workers", "2", "--case", "cli", "--", *cli, "--no-index"], 2)
    )
    if venv is not None:
        other = [*base, "--case", "trailscraper", "--trailscraper", str(venv)]
        cases.append(Case("trailscraper", other, 0))
    if with_spark(options):
        on_spark = [*base, "--workers", "0", "--spark-master", SPARK_MASTER]
        cases.append(Case("spark-one-local2", [*on_spark, "--case", "one"], 0))
        cases.append(Case("spark-all-local2", [*on_spark, "--case", "all"], 0))
    return cases


def with_spark(options: argparse.Namespace) -> bool:
    """Whether to run the Spark cases: asked for, and Spark can run here."""
    if options.no_spark:
        return False
    from policygen.scan.spark import unavailable

    reason = unavailable()
    if reason is not None:
        print(f"skipping the Spark cases: {reason}", file=sys.stderr)
    return reason is None


def index_queries(corpus: Path, home: Path) -> tuple[Case, Case]:
    """Build the index, then time `generate` for every principal from it."""
    from policygen_synth import Manifest

    base = ["--corpus", str(corpus), "--home", str(home)]
    build = Case("index-build", [*base, "--workers", "2", "--case", "index-build"], 2)
    build.runs.append(measure(build))
    query = Case("index-query", [], 1)
    for described in Manifest.read(corpus / "manifest.json").principals:
        cli = ["generate", "--principal", described["arn"], "--logs", str(corpus), "--no-progress"]
        query.argv = [*base, "--workers", "1", "--case", "cli", "--", *cli]
        began = time.perf_counter()
        run = measure(query)
        run["wall_seconds"] = time.perf_counter() - began  # the whole process, startup included
        run["principal"] = described["arn"]
        query.runs.append(run)
    return build, query


def summarise(cases: dict[str, Case], corpus_bytes: int) -> dict[str, Any]:
    """Throughputs and the ratios the targets are stated in."""
    best = {name: case.best() for name, case in cases.items() if case.runs}

    def mbps(name: str, over: int | None = None) -> float:
        run = best[name]
        return (over if over is not None else run["bytes"]) / run["seconds"] / MB

    def per_cpu(name: str) -> float:
        """MB per CPU-second, over the case's runs: what a core does, whatever the load."""
        run = min(cases[name].runs, key=lambda r: r["cpu_seconds"])
        return run["bytes"] / max(run["cpu_seconds"], 1e-9) / MB

    figures: dict[str, Any] = {
        name: {
            "seconds": round(run["seconds"], 3),
            "cpu_seconds": round(run["cpu_seconds"], 3),
            "mb_per_s": round(mbps(name), 1) if "bytes" in run else None,
            "peak_rss_mb": round(run["peak_rss"] / MB, 1),
        }
        for name, run in best.items()
        if name != "index-query"
    }
    ratios: dict[str, Any] = {
        "one_vs_decompress_1w": mbps("one-1w") / mbps("decompress-1w"),
        "one_vs_decompress_2w": mbps("one-2w") / mbps("decompress-2w"),
        "one_scaling_1w_to_2w": mbps("one-2w") / mbps("one-1w"),
        "decompress_scaling_1w_to_2w": mbps("decompress-2w") / mbps("decompress-1w"),
        "all_vs_decompress_2w": mbps("all-2w") / mbps("decompress-all-2w"),
        "one_quiet_vs_decompress_1w": mbps("one-quiet-1w") / mbps("decompress-1w"),
        "ceiling_one_vs_decompress_1w": mbps("ceiling-one-1w") / mbps("decompress-1w"),
        "ceiling_all_vs_decompress_1w": mbps("ceiling-all-1w") / mbps("decompress-all-1w"),
        "one_vs_decompress_per_cpu_second": per_cpu("one-1w") / per_cpu("decompress-1w"),
        "all_vs_decompress_per_cpu_second": per_cpu("all-2w") / per_cpu("decompress-all-2w"),
    }
    if "trailscraper" in best:
        ts = best["trailscraper"]
        ratios["speedup_vs_trailscraper"] = ts["seconds"] / best["cli-one"]["seconds"]
        ratios["rss_vs_trailscraper"] = best["cli-one"]["peak_rss"] / ts["peak_rss"]
        figures["trailscraper"]["mb_per_s"] = round(corpus_bytes / ts["seconds"] / MB, 1)
        figures["trailscraper"]["actions"] = ts.get("actions")
    figures["cli-one"]["mb_per_s"] = round(corpus_bytes / best["cli-one"]["seconds"] / MB, 1)
    if cases.get("index-query") and cases["index-query"].runs:
        runs = cases["index-query"].runs
        slowest = max(runs, key=lambda run: run["wall_seconds"])
        figures["index-query"] = {
            "slowest_seconds": round(slowest["wall_seconds"], 3),
            "slowest_principal": slowest["principal"],
            "median_seconds": round(sorted(r["wall_seconds"] for r in runs)[len(runs) // 2], 3),
            "peak_rss_mb": round(max(r["peak_rss"] for r in runs) / MB, 1),
        }
    if "spark-one-local2" in best:
        ratios["spark_vs_local_one_2w"] = mbps("spark-one-local2") / mbps("one-2w")
        ratios["spark_vs_local_all_2w"] = mbps("spark-all-local2") / mbps("all-2w")
        runs = [run for name in SPARK_CASES for run in cases[name].runs]
        figures["spark-session-start"] = {
            "seconds": round(min(run["session_seconds"] for run in runs), 3),
            "first_one_seconds": round(
                min(run["first_seconds"] for run in cases["spark-one-local2"].runs), 3
            ),
        }
    rss = [
        run["peak_rss"]
        for name, run in best.items()
        if name != "trailscraper" and name not in SPARK_CASES
    ]
    ratios["max_policygen_peak_rss_mb"] = max(rss) / MB
    return {"figures": figures, "ratios": {k: round(v, 3) for k, v in ratios.items()}}


TARGETS = [
    ("one-principal vs decompression, per core (1 worker)", "one_vs_decompress_1w", ">= 0.80"),
    (
        "the same, in MB per CPU-second (less sensitive to other load)",
        "one_vs_decompress_per_cpu_second",
        ">= 0.80",
    ),
    (
        "the same for a quiet principal (under 1% of its account's calls)",
        "one_quiet_vs_decompress_1w",
        ">= 0.80",
    ),
    (
        "bound for the role: decompression, search and decoding its records, no counting",
        "ceiling_one_vs_decompress_1w",
        "(bound)",
    ),
    ("one-principal scaling, 1 -> 2 workers", "one_scaling_1w_to_2w", ">= 1.70"),
    (
        "the same for decompression alone (the machine's own scaling)",
        "decompress_scaling_1w_to_2w",
        "(bound)",
    ),
    ("all-principals vs decompression (2 workers)", "all_vs_decompress_2w", ">= 0.45"),
    (
        "the same, in MB per CPU-second",
        "all_vs_decompress_per_cpu_second",
        ">= 0.45",
    ),
    (
        "bound: decompression and msgspec decoding of every record, no counting (1 worker)",
        "ceiling_all_vs_decompress_1w",
        "(bound)",
    ),
    (
        "end-to-end speed-up over trailscraper (same corpus, role)",
        "speedup_vs_trailscraper",
        ">= 30",
    ),
    ("peak RSS vs trailscraper's", "rss_vs_trailscraper", "<= 0.25"),
    ("largest peak RSS of any policygen case (MB)", "max_policygen_peak_rss_mb", "< 300"),
]


def markdown(result: dict[str, Any]) -> str:
    """docs/performance.md: the latest figures and how they compare with the targets."""
    meta, figures, ratios = result["meta"], result["figures"], result["ratios"]
    lines = [
        "# Performance",
        "",
        "Written by `benchmarks/run.py` (reproduce: `.venv/bin/python benchmarks/run.py "
        f"--size {meta['size']}`); the raw figures are in `benchmarks/results.json`.",
        "",
        f"Corpus: `policygen_synth`, {meta['corpus_mb']:.0f} MB uncompressed "
        f"({meta['files']} files, {meta['records']} records), files in the page cache. "
        f"Role: `{meta['role']}`. Machine: {meta['machine']}, shared with other work, so "
        "each case is the fastest of its runs and every comparison is a ratio between cases "
        "of the same run.",
        "",
        "| target | measured | goal |",
        "|---|---|---|",
    ]
    index = figures.get("index-query", {})
    for label, key, goal in TARGETS:
        value = ratios.get(key)
        lines.append(f"| {label} | {'n/a' if value is None else value} | {goal} |")
    if index:
        lines.append(
            f"| slowest `generate` of any principal with the index built (s) | "
            f"{index['slowest_seconds']} | < 1 |"
        )
    lines += [
        "",
        "| case | seconds | CPU seconds | MB/s | peak RSS (MB) |",
        "|---|---|---|---|---|",
    ]
    for name, figure in figures.items():
        if name in ("index-query", "spark-session-start"):
            continue
        lines.append(
            f"| {name} | {figure['seconds']} | {figure['cpu_seconds']} | "
            f"{figure['mb_per_s'] if figure['mb_per_s'] is not None else ''} | "
            f"{figure['peak_rss_mb']} |"
        )
    load = meta.get("load_average")
    lines += [
        "",
        "MB/s is uncompressed JSON read per second of the case (for `cli-one` and "
        "`trailscraper`, the whole corpus over the end-to-end time, for comparison). "
        "`one-*` reads the role's account only; `decompress-*` the same files; `*-all-*` "
        "every file. `cli-one` and `index-query` are whole `policygen generate` processes "
        "(interpreter start, IAM catalogue and analysis included); the other policygen cases "
        "leave out what a process pays once before its first file.",
        "",
        "Where the time goes: a one-principal job pays, beyond decompression, one search of "
        "every file for the principal's ARN (StringZilla's SIMD search, 10-14 GB/s here), the "
        "decoding of the records that hold it (msgspec, 1.3-1.6 microseconds each) and "
        "their counting (about one microsecond each). So its cost beyond decompression grows "
        "with the principal's share of its account's records: the default role makes about "
        "8% of them in the synthetic trail, the quiet user under 1%. An all-principals pass "
        "decodes every record, which costs more than decompressing it, then counts it. The "
        "`(bound)` rows are cases that stop before counting: no scan that decodes with "
        "msgspec can beat them, so a goal above a bound cannot be met by tuning the Python "
        "around the decoder. Peak RSS is the case's own peak plus, per worker, the largest "
        "worker's: an upper bound, since forked workers share pages with their parent.",
        "",
    ]
    lines += spark_lines(figures, ratios)
    if load:
        lines += [
            f"Load average when the run started: {load}. Every run of every case is in "
            "`benchmarks/results.json`.",
            "",
        ]
    if "small" in result:
        from smallfiles import markdown_lines

        lines += markdown_lines(result["small"])
    return "\n".join(lines)


def spark_lines(figures: dict[str, Any], ratios: dict[str, Any]) -> list[str]:
    """The Spark engine against the local engine on the same cores, when it was run."""
    if "spark_vs_local_one_2w" not in ratios:
        return []
    return [
        "## Spark engine",
        "",
        f"| scan | local engine, 2 workers (s) | Spark `{SPARK_MASTER}` (s) | Spark's "
        "throughput / local's |",
        "|---|---|---|---|",
        f"| one principal | {figures['one-2w']['seconds']} | "
        f"{figures['spark-one-local2']['seconds']} | {ratios['spark_vs_local_one_2w']} |",
        f"| all principals | {figures['all-2w']['seconds']} | "
        f"{figures['spark-all-local2']['seconds']} | {ratios['spark_vs_local_all_2w']} |",
        "",
        "Same corpus, same two cores, same answer (the differential tests prove it). The "
        "Spark times are a scan in a running session with its Python workers started, as "
        "the local engine's workers start from a parent that has loaded the IAM catalogue; "
        "starting the session took "
        f"{figures['spark-session-start']['seconds']} s here (a JVM), and the session's "
        "first one-principal scan "
        f"{figures['spark-session-start']['first_one_seconds']} s (Python workers start and "
        "import policygen). What remains is what one machine pays for the ability to spread "
        "a scan over many: task scheduling, and the tasks and their results passing "
        "through the JVM to and from its Python workers (executors open local files "
        "themselves). For the Spark cases, CPU seconds and peak "
        "RSS are the driver's Python only (the JVM and its Python workers are not counted). "
        "See [spark.md](spark.md) for running on a cluster.",
        "",
    ]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GB", help="Uncompressed corpus size (default 1GB).")
    parser.add_argument(
        "--shape",
        choices=("large", "small"),
        default="large",
        help="large: today's ~330 KB files; small: CloudTrail's real file sizes (smallfiles.py).",
    )
    parser.add_argument("--role", default=ROLE, help="Role of the one-principal cases.")
    parser.add_argument(
        "--quiet", default=QUIET, help="A principal of the role's account with few calls."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Runs of each case (best kept).")
    parser.add_argument("--corpus", help="Corpus folder (default benchmarks/.corpus/<size>).")
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--no-trailscraper", action="store_true", help="Skip trailscraper.")
    parser.add_argument("--no-index", action="store_true", help="Skip the index cases.")
    parser.add_argument("--no-spark", action="store_true", help="Skip the Spark cases.")
    parser.add_argument("--spark-master", help=argparse.SUPPRESS)
    parser.add_argument(
        "--render", action="store_true", help="Only rewrite --doc from --results; measure nothing."
    )
    parser.add_argument(
        "--trailscraper", default=str(HERE / ".venv-trailscraper"), help=argparse.SUPPRESS
    )
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("cli_args", nargs="*", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    if options.case:
        run_case(options)
        return 0
    if options.render:
        options.doc.write_text(markdown(json.loads(options.results.read_text())))
        return 0
    if options.shape == "small":
        from smallfiles import run_small

        result = json.loads(options.results.read_text())
        million = result.get("small", {}).get("million")  # million.py's figure, kept
        result["small"] = run_small(options, measure, Case)
        if million:
            result["small"]["million"] = million
        options.results.write_text(json.dumps(result, indent=2) + "\n")
        options.doc.write_text(markdown(result))
        print(json.dumps(result["small"]["ratios"], indent=2))
        return 0
    corpus = Path(options.corpus or HERE / ".corpus" / options.size.lower())
    stats = ensure_corpus(corpus, options.size)
    venv = Path(options.trailscraper)
    with_trailscraper = not options.no_trailscraper and ensure_trailscraper(venv)
    warm(corpus)
    cases = {c.name: c for c in plan(options, corpus, venv if with_trailscraper else None)}
    for round_ in range(options.rounds):
        for case in cases.values():
            if case.name == "trailscraper" and round_:
                continue  # minutes per run, and far from the others: once is enough
            print(f"round {round_ + 1}: {case.name}", file=sys.stderr)
            case.runs.append(measure(case))
    if not options.no_index:
        with tempfile.TemporaryDirectory() as home:
            build, query = index_queries(corpus, Path(home))
        cases[build.name], cases[query.name] = build, query
    result = summarise(cases, stats["raw_bytes"])
    result["meta"] = {
        "size": options.size,
        "role": options.role,
        "corpus_mb": stats["raw_bytes"] / MB,
        "files": stats["log_files"],
        "records": stats["records"],
        "machine": f"{os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": options.rounds,
        "load_average": " / ".join(f"{value:.1f}" for value in os.getloadavg()),
    }
    result["runs"] = {name: case.runs for name, case in cases.items()}
    options.results.write_text(json.dumps(result, indent=2) + "\n")
    options.doc.write_text(markdown(result))
    print(json.dumps({"ratios": result["ratios"], "figures": result["figures"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
