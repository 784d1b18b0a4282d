"""`policygen synth`: a synthetic trail for tests and benchmarks, from `policygen_synth`."""

from __future__ import annotations

from pathlib import Path

import click
import cloup

from policygen.cli.errors import user_errors
from policygen.core.units import parse_size


@cloup.command()
@cloup.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to write.")
@cloup.option("--size", default="20MB", show_default=True, help="Uncompressed size (200MB, 1GB).")
@cloup.option("--seed", default=0, show_default=True, help="Same seed, same bytes.")
@cloup.option("--start", default="2026-01-05T00:00:00Z", show_default=True, help="First day.")
@cloup.option("--days", default=1, show_default=True, help="Days of activity.")
@cloup.option("--account", "accounts", multiple=True, help="Account id; repeatable.")
@cloup.option("--region", "regions", multiple=True, help="Region; repeatable.")
@cloup.option("--org-id", help="Write an organization trail (AWSLogs/<org-id>/<account>/...).")
@cloup.option("--workers", default=1, show_default=True, help="Processes to generate with.")
def synth(
    out: Path,
    size: str,
    seed: int,
    start: str,
    days: int,
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    org_id: str | None,
    workers: int,
) -> None:
    """Write a synthetic CloudTrail trail for tests and benchmarks (same seed, same bytes).

    Provided by the separate `policygen_synth` package, not by policygen itself.
    """
    from policygen_synth import CorpusSpec, generate_corpus

    with user_errors():
        overrides = {"accounts": accounts, "regions": regions}
        spec = CorpusSpec(
            seed=seed,
            start=start,
            days=days,
            target_bytes=parse_size(size),
            org_id=org_id,
            **{name: value for name, value in overrides.items() if value},
        )
        manifest = generate_corpus(out, spec, workers=workers)
    for principal in manifest.principals:
        click.echo(principal["arn"])
