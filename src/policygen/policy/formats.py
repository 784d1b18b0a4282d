"""Ready-to-apply output: policy documents as Terraform, CloudFormation or plain JSON.

`--format api` is GetGeneratedPolicy's result (what scripts parse); `policy` is the
document(s) alone, pretty; `terraform` one resource per document with the policy as
`jsonencode(...)` of an HCL object, laid out as `terraform fmt` lays it out (so
`terraform fmt -check` passes and a diff against the checked-in file is clean);
`cloudformation` a YAML template. Strings are escaped for each language: in HCL a
`${...}` policy variable must be written `$${...}` or Terraform interpolates it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from policygen.core.arns import Principal

FORMATS = ("api", "policy", "terraform", "cloudformation")
Format = Literal["api", "policy", "terraform", "cloudformation"]
#: What a document is attached as: a managed policy, an inline policy of a role, user or
#: group, or a permission set's inline policy.
TargetKind = Literal["managed", "role", "user", "group", "permission-set"]

_TERRAFORM_TYPES = {
    "managed": "aws_iam_policy",
    "role": "aws_iam_role_policy",
    "user": "aws_iam_user_policy",
    "group": "aws_iam_group_policy",
    "permission-set": "aws_ssoadmin_permission_set_inline_policy",
}
_CFN_TYPES = {
    "managed": "AWS::IAM::ManagedPolicy",
    "role": "AWS::IAM::RolePolicy",
    "user": "AWS::IAM::UserPolicy",
    "group": "AWS::IAM::GroupPolicy",
}
_CFN_OWNER = {"role": "RoleName", "user": "UserName", "group": "GroupName"}


@dataclass(frozen=True, slots=True)
class Target:
    """One policy document to write and what it is attached as.

    `name` is the policy's name; `owner` the role, user or group name of an inline
    policy (for a managed policy: the role or user to attach it to, if any, with
    `owner_kind`); for a permission set, its name.
    """

    name: str
    kind: TargetKind
    document: dict[str, Any]
    owner: str | None = None
    owner_kind: str | None = None


def policy_json(documents: Sequence[dict[str, Any]]) -> str:
    """The document pretty-printed; several as a JSON list."""
    value: Any = documents[0] if len(documents) == 1 else list(documents)
    return json.dumps(value, indent=2, ensure_ascii=False)


# --- Terraform --------------------------------------------------------------------------


def hcl_string(text: str) -> str:
    """A quoted HCL string: JSON escapes, and template sequences escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted.replace("${", "$${").replace("%{", "%%{")


def _hcl_lines(value: Any, indent: int) -> list[str]:
    """`value` as HCL expression lines; the first line is not indented."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        lines = ["{"]
        run: list[tuple[str, str]] = []

        def flush() -> None:
            width = max((len(k) for k, _ in run), default=0)
            lines.extend(f"{pad}{k.ljust(width)} = {v}" for k, v in run)
            run.clear()

        for key, item in value.items():
            rendered = _hcl_lines(item, indent + 1)
            if len(rendered) == 1:
                run.append((hcl_string(str(key)), rendered[0]))
                continue
            flush()
            lines.append(f"{pad}{hcl_string(str(key))} = {rendered[0]}")
            lines.extend(rendered[1:])
        flush()
        return [*lines, "  " * indent + "}"]
    if isinstance(value, list):
        lines = ["["]
        for item in value:
            rendered = _hcl_lines(item, indent + 1)
            lines.append(pad + rendered[0])
            lines.extend(rendered[1:])
            lines[-1] += ","
        return [*lines, "  " * indent + "]"]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if value is None:
        return ["null"]
    if isinstance(value, int | float):
        return [json.dumps(value)]
    return [hcl_string(str(value))]


def identifier(text: str, *, hcl: bool) -> str:
    """A Terraform resource name (letters, digits, `_`, `-`; not starting with a digit)
    or a CloudFormation logical id (letters and digits only)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+" if hcl else r"[^A-Za-z0-9]+", "_" if hcl else "", text)
    cleaned = cleaned.strip("_-") or "policy"
    return cleaned if cleaned[0].isalpha() else f"p{cleaned}"


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}{seen[name]}")
    return out


def _terraform_resource(label: str, target: Target) -> list[str]:
    attributes: list[tuple[str, str]] = []
    if target.kind == "permission-set":
        attributes += [
            ("instance_arn", "var.sso_instance_arn"),
            ("permission_set_arn", f"var.permission_set_arns[{hcl_string(target.name)}]"),
        ]
        policy_key = "inline_policy"
    else:
        attributes.append(("name", hcl_string(target.name)))
        if target.kind != "managed":
            attributes.append((target.kind, hcl_string(target.owner or "")))
        policy_key = "policy"
    width = max(len(k) for k, _ in attributes)
    body = _hcl_lines(target.document, 1)
    return [
        f'resource "{_TERRAFORM_TYPES[target.kind]}" "{label}" {{',
        *(f"  {key.ljust(width)} = {value}" for key, value in attributes),
        f"  {policy_key} = jsonencode({body[0]}",
        *body[1:-1],
        body[-1] + ")",
        "}",
    ]


def terraform(targets: Sequence[Target]) -> str:
    """One Terraform resource per target, `terraform fmt`'s layout."""
    labels = _unique(identifier(t.name, hcl=True) for t in targets)
    blocks = []
    if any(t.kind == "permission-set" for t in targets):
        blocks.append(
            'variable "sso_instance_arn" {\n  type = string\n}\n\n'
            'variable "permission_set_arns" {\n  type = map(string)\n}'
        )
    blocks.extend(
        "\n".join(_terraform_resource(lbl, t)) for lbl, t in zip(labels, targets, strict=True)
    )
    return "\n\n".join(blocks) + "\n"


# --- CloudFormation ---------------------------------------------------------------------


def _cfn_resource(target: Target) -> dict[str, Any]:
    if target.kind == "permission-set":
        return {
            "Type": "AWS::SSO::PermissionSet",
            "Properties": {
                "InstanceArn": {"Ref": "SsoInstanceArn"},
                "Name": target.name,
                "InlinePolicy": target.document,
            },
        }
    properties: dict[str, Any] = {}
    if target.kind == "managed":
        properties["ManagedPolicyName"] = target.name
        if target.owner and target.owner_kind in ("role", "user"):
            properties[f"{target.owner_kind.title()}s"] = [target.owner]
    else:
        properties["PolicyName"] = target.name
        properties[_CFN_OWNER[target.kind]] = target.owner
    properties["PolicyDocument"] = target.document
    return {"Type": _CFN_TYPES[target.kind], "Properties": properties}


def cloudformation(targets: Sequence[Target], description: str) -> str:
    """A CloudFormation template (YAML) with one resource per target."""
    import yaml

    ids = _unique(identifier(t.name, hcl=False) for t in targets)
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": description,
    }
    if any(t.kind == "permission-set" for t in targets):
        template["Parameters"] = {
            "SsoInstanceArn": {"Type": "String", "Description": "The IAM Identity Center instance"}
        }
    template["Resources"] = {
        logical: _cfn_resource(t) for logical, t in zip(ids, targets, strict=True)
    }
    return yaml.safe_dump(template, sort_keys=False, allow_unicode=True, width=100)


def managed_targets(principal: Principal, documents: Sequence[dict[str, Any]]) -> list[Target]:
    """A principal's generated documents as managed policies attached to it, named
    `<name>-policygen[-N]` (the CLI's and the console's downloads alike)."""
    base = f"{principal.name}-policygen"
    return [
        Target(
            base if len(documents) == 1 else f"{base}-{n}",
            "managed",
            document,
            principal.name,
            principal.kind,
        )
        for n, document in enumerate(documents, start=1)
    ]


def render(targets: Sequence[Target], form: Format, description: str = "") -> str:
    """The targets in one of the ready-to-apply formats (not `api`: the caller's own)."""
    if form == "terraform":
        return terraform(targets)
    if form == "cloudformation":
        return cloudformation(targets, description)
    return policy_json([t.document for t in targets]) + "\n"
