"""Request facts (policygen.cloudtrail.conditions): what a logged request shows, and only that."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policygen.cloudtrail.conditions import TAG_ON_CREATE_HOSTS, facts_of
from policygen.cloudtrail.qualifiers import needs_parameters, parameter_hint, qualifier_for
from policygen.iam import operations

ARN_V1 = "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3"
ARN_V2 = "arn:aws:apigateway:eu-west-1::/apis/x9y8z7"
ARN_BOTH = "arn:aws:apigateway:eu-west-1::/domainnames/api.example.com"


@pytest.mark.parametrize(
    ("host", "name", "params", "facts"),
    [
        ("lambda", "CreateFunction", {"tags": {"a": "b"}}, ("tags",)),
        ("lambda", "CreateFunction", {"tags": {}}, ()),
        ("lambda", "CreateFunction", {"Tags": [{"Key": "a", "Value": "b"}]}, ("tags",)),
        ("lambda", "UpdateFunctionCode", {"tags": {"a": "b"}}, ()),  # not a create
        ("ec2", "CreateTags", {"tagSet": {"items": [{"key": "a"}]}}, ()),  # the tag call itself
        (
            "ec2",
            "RunInstances",
            {"tagSpecificationSet": {"items": [{"resourceType": "instance"}]}},
            (),
        ),
        (
            "ec2",
            "CopyImage",
            {"tagSpecificationSet": {"items": [{"resourceType": "image", "tags": [{"key": "a"}]}]}},
            ("tags",),
        ),
        ("budgets", "CreateBudget", {"resourceTags": [{"key": "a", "value": "b"}]}, ("tags",)),
        ("rds", "CreateDBInstance", {"tags": [{"key": "a"}]}, ()),  # no tag-on-create entry
        ("sts", "AssumeRole", {"transitiveTagKeys": ["a"]}, ("sessiontags",)),
        ("sts", "AssumeRole", {"sourceIdentity": ""}, ()),
        ("sts", "AssumeRole", {"tags": [], "sourceIdentity": "alice"}, ("sourceidentity",)),
        ("s3", "CopyObject", {"x-amz-grant-read": "id=abc"}, ("acl",)),
        ("s3", "CopyObject", {"x-amz-tagging-directive": "COPY"}, ()),
        ("s3", "CopyObject", {"x-amz-object-lock-legal-hold": "ON"}, ("legalhold",)),
        ("s3", "CopyObject", {"x-amz-acl": ""}, ()),
        ("s3", "PutObject", {"x-amz-acl": "private"}, ()),  # only the copy is read
        (
            "dynamodb",
            "TransactWriteItems",
            {"transactItems": [{"Delete": {"k": 1}}]},
            ("item:delete",),
        ),
        ("dynamodb", "TransactWriteItems", {"transactItems": "HIDDEN"}, ()),
        ("dynamodb", "TransactWriteItems", {"transactItems": [{"put": "x"}]}, ()),
        ("apigateway", "TagResource", {"resourceArn": ARN_V1}, ("apigw:v1",)),
        ("apigateway", "TagResource", {"resource-arn": ARN_V2}, ("apigw:v2",)),
        ("apigateway", "TagResource", {"resourceArn": ARN_BOTH}, ()),
        ("apigateway", "UntagResource", {"resourceArn": ARN_V1}, ()),  # DELETE in both
        ("secretsmanager", "BatchGetSecretValue", {"filters": []}, ()),
        ("cloudtrail", "ListInsightsMetricData", {"trailName": "t"}, ("trailname",)),
        ("cloudtrail", "ListInsightsMetricData", {"eventSource": "s3"}, ()),
    ],
)
def test_facts(host: str, name: str, params: dict[str, Any], facts: tuple[str, ...]) -> None:
    assert facts_of(host, name, params) == facts


def test_facts_join_the_version_qualifier() -> None:
    params = {"x-amz-copy-source": "b/k?versionId=v1", "x-amz-acl": "private"}
    assert qualifier_for("s3.amazonaws.com", "CopyObject", params) == "version acl"


@pytest.mark.parametrize(
    ("source", "name", "hint"),
    [
        ("lambda.amazonaws.com", "CreateFunction20150331", b"tag"),
        ("ec2.amazonaws.com", "RunInstances", b"tag"),
        ("s3.amazonaws.com", "CopyObject", None),  # version and headers: always read
        ("s3.amazonaws.com", "GetObject", b"versionid"),
        ("secretsmanager.amazonaws.com", "BatchGetSecretValue", b"filters"),
        ("sts.amazonaws.com", "AssumeRole", None),
    ],
)
def test_parameter_hints(source: str, name: str, hint: bytes | None) -> None:
    assert needs_parameters(source, name)
    assert parameter_hint(source, name) == hint


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=10,
)
keys = st.sampled_from(
    [
        "tags",
        "tagSpecificationSet",
        "transactItems",
        "resourceArn",
        "sourceIdentity",
        "x-amz-acl",
        "x-amz-tagging",
        "filters",
        "put",
        "items",
    ]
)
calls = st.sampled_from(
    [
        ("lambda", "CreateFunction"),
        ("ec2", "RunInstances"),
        ("sts", "AssumeRole"),
        ("s3", "CopyObject"),
        ("dynamodb", "TransactWriteItems"),
        ("apigateway", "TagResource"),
        ("secretsmanager", "BatchGetSecretValue"),
        ("cloudtrail", "ListInsightsMetricData"),
    ]
)
VOCABULARY = {
    "tags",
    "sessiontags",
    "sourceidentity",
    "acl",
    "tagging",
    "retention",
    "legalhold",
    "filters",
    "trailname",
    "apigw:v1",
    "apigw:v2",
    "item:put",
    "item:update",
    "item:delete",
    "item:check",
}


# The too_slow health check times input generation by the wall clock, which a loaded
# machine (several test processes on two cores) stretches past its limit; what the test
# checks does not depend on how fast examples are drawn.
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(call=calls, params=st.dictionaries(keys, json_values, max_size=6))
def test_facts_never_raise_and_stay_in_vocabulary(call: tuple[str, str], params: dict) -> None:
    assert set(facts_of(*call, params)) <= VOCABULARY


def test_tag_on_create_services_agree_with_the_table() -> None:
    """The scanner reads tags for the hosts the table has a tagging action for (these
    services' eventSource hosts are their IAM prefixes)."""
    assert operations.tag_on_create_prefixes() == TAG_ON_CREATE_HOSTS
