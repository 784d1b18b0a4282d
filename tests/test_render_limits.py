"""Policy size and splitting (aws-policy-generation.md §6.4, §7 #34), and the Resource and
PassRole details of rendering, on analyses written by hand.

IAM's managed-policy limit is 6,144 characters of compact JSON (white space not counted).
policygen keeps the global statement order, fills each policy greedily with whole
statements, cuts a statement too large for a policy of its own into runs of its sorted
actions (and, when one action's Resource list is too long, runs of that list), and numbers
the Sids on across policies. The policies expected below are written out in full; the
limits are the lengths of those texts, so each case sits exactly on the boundary.
"""

from __future__ import annotations

import json

import pytest

from policygen.iam.analysis import ActionUse, Analysis, PassRoleUse
from policygen.policy.render import RenderOptions, render_analysis, render_policies

from logfactory import ACCOUNT, ROLE_ARN

HEAD = '{"Version":"2012-10-17","Statement":['
LIST = (
    '{"Sid":"SupportedServiceSid0","Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}'
)
SNS = '{"Sid":"ServiceLevelSid0","Effect":"Allow","Action":"sns:*","Resource":"*"}'


def test_a_policy_exactly_at_the_limit_is_not_split() -> None:
    whole = HEAD + LIST + "," + SNS + "]}"
    assert render_policies(["s3:ListAllMyBuckets"], service_level=["sns"], limit=len(whole)) == [
        whole
    ]


def test_one_character_over_moves_the_next_statement_to_a_new_policy() -> None:
    whole = HEAD + LIST + "," + SNS + "]}"
    assert render_policies(
        ["s3:ListAllMyBuckets"], service_level=["sns"], limit=len(whole) - 1
    ) == [HEAD + LIST + "]}", HEAD + SNS + "]}"]


def test_a_statement_exactly_at_the_limit_keeps_all_its_actions() -> None:
    whole = (
        HEAD + '{"Sid":"SupportedServiceSid0","Effect":"Allow",'
        '"Action":["s3:GetObject","s3:PutObject"],"Resource":"*"}]}'
    )
    assert render_policies(["s3:PutObject", "s3:GetObject"], limit=len(whole)) == [whole]


def test_a_statement_over_the_limit_is_cut_into_runs_of_its_actions() -> None:
    whole = (
        HEAD + '{"Sid":"SupportedServiceSid0","Effect":"Allow",'
        '"Action":["s3:GetObject","s3:PutObject"],"Resource":"*"}]}'
    )
    assert render_policies(["s3:PutObject", "s3:GetObject"], limit=len(whole) - 1) == [
        HEAD + '{"Sid":"SupportedServiceSid0","Effect":"Allow","Action":"s3:GetObject",'
        '"Resource":"*"}]}',
        HEAD + '{"Sid":"SupportedServiceSid1","Effect":"Allow","Action":"s3:PutObject",'
        '"Resource":"*"}]}',
    ]


OBJECTS = [f"arn:aws:s3:::data/{name}.csv" for name in ("a", "b", "c")]


def objects_analysis() -> Analysis:
    return Analysis(
        ROLE_ARN,
        actions={
            "s3:GetObject": ActionUse(arns={"object": OBJECTS}),
            "s3:PutObject": ActionUse(arns={"object": OBJECTS}),
        },
    )


def test_an_action_whose_resources_do_not_fit_gets_runs_of_them() -> None:
    """Each action with the first two objects fits a policy of its own, with all three
    it does not: each action is cut into [a, b] and [c]."""
    options = RenderOptions(resources="observed")

    def statement(n: int, action: str, resources: list[str]) -> str:
        shown = (
            json.dumps(resources, separators=(",", ":"))
            if len(resources) > 1
            else (f'"{resources[0]}"')
        )
        return (
            f'{{"Sid":"SupportedServiceSid{n}","Effect":"Allow","Action":"{action}",'
            f'"Resource":{shown}}}'
        )

    two = HEAD + statement(0, "s3:GetObject", OBJECTS[:2]) + "]}"
    policies = render_analysis(objects_analysis(), options, limit=len(two))
    assert policies == [
        two,
        HEAD + statement(1, "s3:GetObject", OBJECTS[2:]) + "]}",
        HEAD + statement(2, "s3:PutObject", OBJECTS[:2]) + "]}",
        HEAD + statement(3, "s3:PutObject", OBJECTS[2:]) + "]}",
    ]


LAMBDA = "lambda.amazonaws.com"
ROLES = [f"arn:aws:iam::{ACCOUNT}:role/fn-{n}" for n in range(3)]


def pass_role_text(sid: int, roles: list[str]) -> str:
    resource = json.dumps(roles, separators=(",", ":")) if len(roles) > 1 else f'"{roles[0]}"'
    return (
        f'{{"Sid":"PassRoleSid{sid}","Effect":"Allow","Action":"iam:PassRole",'
        f'"Resource":{resource},"Condition":{{"StringEquals":{{"iam:PassedToService":"{LAMBDA}"}}}}}}'
    )


def test_the_condition_counts_towards_the_size_of_a_pass_role_statement() -> None:
    """Pieces are sized with the longest Sid a piece could get, `SupportedServiceSid3`
    here: 8 characters more than `PassRoleSid0`."""
    analysis = Analysis(ROLE_ARN, passed_roles={LAMBDA: PassRoleUse(roles=ROLES)})
    two = HEAD + pass_role_text(0, ROLES[:2]) + "]}"
    assert render_analysis(analysis, RenderOptions.policygen(), limit=len(two) + 8) == [
        two,
        HEAD + pass_role_text(1, ROLES[2:]) + "]}",
    ]


def test_roles_beyond_those_kept_become_one_wildcard() -> None:
    kept = PassRoleUse(roles=ROLES[:1], overflow=f"arn:aws:iam::{ACCOUNT}:role/fn-")
    [text] = render_analysis(
        Analysis(ROLE_ARN, passed_roles={LAMBDA: kept}), RenderOptions.policygen()
    )
    assert text == HEAD + pass_role_text(0, [f"arn:aws:iam::{ACCOUNT}:role/fn-*"]) + "]}"


def test_only_roles_not_kept_still_give_their_wildcard() -> None:
    none_kept = PassRoleUse(roles=[], overflow=f"arn:aws:iam::{ACCOUNT}:role/batch/")
    [text] = render_analysis(
        Analysis(ROLE_ARN, passed_roles={LAMBDA: none_kept}), RenderOptions.policygen()
    )
    assert text == HEAD + pass_role_text(0, [f"arn:aws:iam::{ACCOUNT}:role/batch/*"]) + "]}"


def single(action: str, resource: str) -> str:
    """A policy of one statement, written out."""
    return (
        HEAD + f'{{"Sid":"SupportedServiceSid0","Effect":"Allow","Action":"{action}",'
        f'"Resource":"{resource}"}}]}}'
    )


def observed(action: str, use: ActionUse) -> list[str]:
    return render_analysis(
        Analysis(ROLE_ARN, actions={action: use}), RenderOptions(resources="observed")
    )


def test_objects_not_kept_widen_the_observed_resource() -> None:
    use = ActionUse(arns={"object": OBJECTS[:1]}, arn_overflow="arn:aws:s3:::data/")
    assert observed("s3:GetObject", use) == [single("s3:GetObject", "arn:aws:s3:::data/*")]


def test_placeholders_ignore_observed_resources() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/app"
    use = ActionUse(arns={"role": [role]})
    analysis = Analysis(ROLE_ARN, actions={"iam:GetRole": use})
    assert observed("iam:GetRole", use) == [single("iam:GetRole", role)]
    assert render_analysis(analysis, RenderOptions(resources="placeholders")) == [
        single("iam:GetRole", "arn:aws:iam::${Account}:role/${RoleNameWithPath}")
    ]


def test_non_ascii_is_written_as_is() -> None:
    use = ActionUse(arns={"object": ["arn:aws:s3:::données/été.csv"]})
    assert observed("s3:GetObject", use) == [single("s3:GetObject", "arn:aws:s3:::données/été.csv")]


def test_service_level_statements_come_last() -> None:
    analysis = Analysis(
        ROLE_ARN,
        actions={"s3:ListAllMyBuckets": ActionUse()},
        last_accessed_prefixes=["sns", "s3"],
    )
    [text] = render_analysis(analysis, RenderOptions(service_level=True))
    assert text == HEAD + LIST + "," + SNS + "]}"


def test_max_arns_is_at_least_one() -> None:
    assert RenderOptions(max_arns=1).max_arns == 1
    with pytest.raises(ValueError, match="at least 1: 0"):
        RenderOptions(max_arns=0)
