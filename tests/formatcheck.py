"""Checking ready-to-apply output with the tools users run: python-hcl2 and Terraform
itself, cfn-lint, and parliament for the policies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import yaml
from parliament import analyze_policy_string

TERRAFORM = shutil.which("terraform")
#: parliament findings that are expected: `Resource: "*"` is AWS's own default output.
ACCEPTED_FINDINGS = {"RESOURCE_STAR"}
#: AWS's ARN template placeholders (`${Region}`, `${Account}`) and IAM policy variables
#: (`${aws:PrincipalAccount}`): parliament and cfn-lint check an ARN's account and region
#: fields as literal values.
PLACEHOLDER = re.compile(r"\$\{(?:[A-Z][A-Za-z]*|aws:[A-Za-z]+)\}")


def terraform_documents(text: str, workdir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(resource type, policy document) of each resource of a Terraform file: parsed
    with python-hcl2; where the binary exists, `terraform fmt -check` must pass and the
    `jsonencode(...)` is evaluated by `terraform console` (else only parsed)."""
    parsed = hcl2.loads(text)
    found = []
    for block in parsed.get("resource", []):
        for kind, named in block.items():
            for body in named.values():
                key = "inline_policy" if "inline_policy" in body else "policy"
                expression = body[key]
                assert expression.startswith("${jsonencode(") and expression.endswith(")}")
                found.append((kind.strip('"'), expression[2:-1]))
    if TERRAFORM is None:
        return [(kind, {}) for kind, _ in found]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf").write_text(text)
    fmt = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-diff", "main.tf"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    console_dir = workdir / "console"
    console_dir.mkdir(exist_ok=True)
    out = []
    for kind, expression in found:
        console = subprocess.run(
            [TERRAFORM, "console"],
            input=expression,
            cwd=console_dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert console.returncode == 0, console.stderr
        out.append((kind, json.loads(json.loads(console.stdout.strip().splitlines()[-1]))))
    return out


def cloudformation_template(text: str, path: Path) -> dict[str, Any]:
    """The template, after cfn-lint found nothing wrong with it. Where it holds ARN
    templates with AWS's placeholders (`${Region}`), cfn-lint's ARN pattern check (E3510)
    is off: such a policy is a template to fill in, as AWS writes it."""
    path.write_text(text)
    ignore = ["--ignore-checks", "E3510"] if PLACEHOLDER.search(text) else []
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path), *ignore],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    return yaml.safe_load(text)


def _accepted(finding: Any) -> bool:
    """RESOURCE_STAR, and INVALID_ARN for an ARN with a placeholder or policy variable in a
    field parliament expects literal (see PLACEHOLDER)."""
    if finding.issue in ACCEPTED_FINDINGS:
        return True
    arn = finding.location.get("string", "") if isinstance(finding.location, dict) else ""
    return finding.issue == "INVALID_ARN" and PLACEHOLDER.search(arn) is not None


def lint(document: dict[str, Any]) -> list[str]:
    """parliament's findings on a policy, less the accepted ones."""
    policy = analyze_policy_string(json.dumps(document))
    return [
        f"{finding.issue}: {finding.detail} {finding.location}"
        for finding in policy.findings
        if not _accepted(finding)
    ]
