"""The mapping sweep over every botocore operation (scripts/mapping_sweep.py).

No invented action anywhere; every unmapped operation of a service the IAM catalogue knows
has a reason; the family rules catch exactly the operations listed here by hand (a new
SDK operation that a family would catch must be reviewed and added here).
"""

from __future__ import annotations

import pytest

from policygen.iam import catalogue, mapping, operations, sweep
from test_conditions import VOCABULARY

#: Every request fact there is, at once: the conditional actions of every operation.
ALL_FACTS = " ".join(sorted(VOCABULARY | {"version"}))

#: The families' catches, by hand from AWS's docs (SQS batch actions page, SNS
#: PublishBatch, Lambda GetLayerVersionByArn, CloudFront CreateDistributionWithTags).
FAMILY_CATCHES = {
    ("sqs.amazonaws.com", "SendMessageBatch"): {"sqs:SendMessage"},
    ("sqs.amazonaws.com", "DeleteMessageBatch"): {"sqs:DeleteMessage"},
    ("sqs.amazonaws.com", "ChangeMessageVisibilityBatch"): {"sqs:ChangeMessageVisibility"},
    ("sns.amazonaws.com", "PublishBatch"): {"sns:Publish"},
    ("lambda.amazonaws.com", "GetLayerVersionByArn"): {"lambda:GetLayerVersion"},
    ("cloudfront.amazonaws.com", "CreateDistributionWithTags"): {
        "cloudfront:CreateDistribution",
        "cloudfront:TagResource",
    },
}

#: The operations issue 17 found unmapped although AWS documents them.
DOCUMENTED = [
    ("budgets.amazonaws.com", "CreateBudget"),
    ("budgets.amazonaws.com", "DescribeBudgets"),
    ("sqs.amazonaws.com", "SendMessageBatch"),
    ("dynamodb.amazonaws.com", "TransactGetItems"),
    ("dynamodb.amazonaws.com", "TransactWriteItems"),
    ("lambda.amazonaws.com", "GetLayerVersionByArn"),
    ("cloudfront.amazonaws.com", "CreateDistributionWithTags"),
]

REASONS = {sweep.UNSIGNED, sweep.BEARER, sweep.NO_ACTION, sweep.LAGS, sweep.CATALOGUE}


@pytest.fixture(scope="module")
def swept() -> list[sweep.Row]:
    return list(sweep.rows())


def test_no_invented_action_for_any_operation(swept: list[sweep.Row]) -> None:
    invented = set()
    for row in swept:
        for qualifier in ("", ALL_FACTS):
            for action in mapping.map_call(row.event_source, row.operation, qualifier).actions:
                if catalogue.canonical(*catalogue.split_action(action)) != action:
                    invented.add((row.event_source, row.operation, action))
    assert invented == set()
    for action in operations.cited_actions():
        assert catalogue.canonical(*catalogue.split_action(action)) == action, action


def test_every_unmapped_operation_has_a_reason(swept: list[sweep.Row]) -> None:
    known = [
        r for r in swept if r.mapped.status == "unmapped" and r.category != sweep.UNKNOWN_SERVICE
    ]
    assert known, "the sweep found no unmapped operation at all: is botocore there?"
    assert {row.category for row in known} <= REASONS
    assert all(row.mapped.reason for row in known)
    # the unknown services really are unknown to the catalogue
    for row in swept:
        if row.category == sweep.UNKNOWN_SERVICE:
            assert not catalogue.has_service(row.mapped.prefix), row


def test_documented_operations_are_mapped(swept: list[sweep.Row]) -> None:
    by_call = {(row.event_source, row.operation): row for row in swept}
    for call in DOCUMENTED:
        assert by_call[call].mapped.status == "mapped", by_call[call]


def test_families_catch_exactly_the_reviewed_operations(swept: list[sweep.Row]) -> None:
    caught = {
        (row.event_source, row.operation): set(row.mapped.actions)
        for row in swept
        if any(rule.startswith("family ") for _, rule in row.mapped.rules)
    }
    assert caught == FAMILY_CATCHES


def test_figures_add_up(swept: list[sweep.Row]) -> None:
    figures = sweep.figures(swept)
    assert figures.operations == len(swept)
    assert figures.mapped + figures.ignored + sum(figures.unmapped.values()) == len(swept)
    assert figures.mapped == sum(figures.by_rule.values())
