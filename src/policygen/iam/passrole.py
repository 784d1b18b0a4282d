"""`iam:PassRole` inference: which calls hand a role to a service, and in which parameter.

CloudTrail never logs PassRole (AWS documents this), so AWS's generated policies never
grant it and every function, stack or task the principal creates with a role fails. The
role is in the request, though: this table says where, per IAM action of the call, and
which service principal receives it (the `iam:PassedToService` condition value).

Kinds of value: `role` is a role ARN; `role-or-name` also accepts a role name, possibly
with a path (Glue, EMR), taken to be in the caller's account; `instance-profile` names an
EC2 instance profile (ARN or name), whose role cannot be resolved offline.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, NamedTuple

from policygen.cloudtrail.params import is_arn, strings_at
from policygen.iam import mapping

Kind = Literal["role", "role-or-name", "instance-profile"]


class PassRule(NamedTuple):
    """A request parameter that carries a role passed to `service`."""

    path: str
    service: str
    kind: Kind = "role"


def _rules(service: str, actions: str, *paths: str, kind: Kind = "role") -> dict:
    rules = tuple(PassRule(path, service, kind) for path in paths)
    return {action: rules for action in actions.split()}


_EC2 = "ec2.amazonaws.com"
_PROFILE = ("iamInstanceProfile.arn", "iamInstanceProfile.name")

#: IAM action of the call -> where its request carries a passed role. Parameter names are
#: CloudTrail's; those seen in the public sample logs are marked in docs/behaviour.md.
RULES: dict[str, tuple[PassRule, ...]] = {
    **_rules(
        _EC2,
        "ec2:RunInstances ec2:AssociateIamInstanceProfile ec2:ReplaceIamInstanceProfileAssociation",
        *_PROFILE,
        kind="instance-profile",
    ),
    **_rules(
        _EC2,
        "ec2:RequestSpotInstances",
        *(f"launchSpecification.{p}" for p in _PROFILE),
        kind="instance-profile",
    ),
    **_rules("vpc-flow-logs.amazonaws.com", "ec2:CreateFlowLogs", "deliverLogsPermissionArn"),
    **_rules(
        "lambda.amazonaws.com", "lambda:CreateFunction lambda:UpdateFunctionConfiguration", "role"
    ),
    **_rules(
        "ecs-tasks.amazonaws.com",
        "ecs:RegisterTaskDefinition",
        "taskRoleArn",
        "executionRoleArn",
    ),
    **_rules(
        "ecs-tasks.amazonaws.com",
        "ecs:RunTask ecs:StartTask",
        "overrides.taskRoleArn",
        "overrides.executionRoleArn",
    ),
    **_rules("ecs.amazonaws.com", "ecs:CreateService", "role"),
    **_rules(
        "cloudformation.amazonaws.com",
        "cloudformation:CreateStack cloudformation:UpdateStack cloudformation:DeleteStack "
        "cloudformation:CreateChangeSet cloudformation:ContinueUpdateRollback "
        "cloudformation:RollbackStack",
        "roleARN",
    ),
    **_rules(
        "cloudformation.amazonaws.com",
        "cloudformation:CreateStackSet cloudformation:UpdateStackSet",
        "administrationRoleARN",
    ),
    **_rules(
        "states.amazonaws.com", "states:CreateStateMachine states:UpdateStateMachine", "roleArn"
    ),
    **_rules("events.amazonaws.com", "events:PutTargets", "targets[].roleArn"),
    **_rules("events.amazonaws.com", "events:PutRule", "roleArn"),
    **_rules(
        "scheduler.amazonaws.com",
        "scheduler:CreateSchedule scheduler:UpdateSchedule",
        "target.roleArn",
    ),
    **_rules(
        "glue.amazonaws.com",
        "glue:CreateJob glue:CreateCrawler glue:UpdateCrawler glue:CreateSession "
        "glue:CreateMLTransform",
        "role",
        kind="role-or-name",
    ),
    **_rules("glue.amazonaws.com", "glue:UpdateJob", "jobUpdate.role", kind="role-or-name"),
    **_rules("glue.amazonaws.com", "glue:CreateDevEndpoint", "roleArn"),
    **_rules(
        "sagemaker.amazonaws.com",
        "sagemaker:CreateTrainingJob sagemaker:CreateProcessingJob "
        "sagemaker:CreateNotebookInstance sagemaker:CreateAutoMLJob sagemaker:CreateAutoMLJobV2 "
        "sagemaker:CreateCompilationJob sagemaker:CreateLabelingJob sagemaker:CreatePipeline "
        "sagemaker:UpdatePipeline sagemaker:CreateFeatureGroup sagemaker:CreateFlowDefinition",
        "roleArn",
    ),
    **_rules("sagemaker.amazonaws.com", "sagemaker:CreateModel", "executionRoleArn"),
    **_rules(
        "sagemaker.amazonaws.com",
        "sagemaker:CreateHyperParameterTuningJob",
        "trainingJobDefinition.roleArn",
        "trainingJobDefinitions[].roleArn",
    ),
    **_rules(
        "sagemaker.amazonaws.com",
        "sagemaker:CreateDomain sagemaker:UpdateDomain",
        "defaultUserSettings.executionRole",
    ),
    **_rules(
        "sagemaker.amazonaws.com",
        "sagemaker:CreateUserProfile sagemaker:UpdateUserProfile",
        "userSettings.executionRole",
    ),
    **_rules(
        "codebuild.amazonaws.com", "codebuild:CreateProject codebuild:UpdateProject", "serviceRole"
    ),
    **_rules("codebuild.amazonaws.com", "codebuild:UpdateProjectVisibility", "resourceAccessRole"),
    **_rules(
        "codepipeline.amazonaws.com",
        "codepipeline:CreatePipeline codepipeline:UpdatePipeline",
        "pipeline.roleArn",
    ),
    **_rules("eks.amazonaws.com", "eks:CreateCluster", "roleArn"),
    **_rules("eks.amazonaws.com", "eks:CreateNodegroup", "nodeRole"),
    **_rules("batch.amazonaws.com", "batch:CreateComputeEnvironment", "serviceRole"),
    **_rules(
        "ecs-tasks.amazonaws.com",
        "batch:RegisterJobDefinition",
        "containerProperties.jobRoleArn",
        "containerProperties.executionRoleArn",
    ),
    **_rules(
        "monitoring.rds.amazonaws.com",
        "rds:CreateDBInstance rds:ModifyDBInstance",
        "monitoringRoleArn",
    ),
    **_rules("rds.amazonaws.com", "rds:AddRoleToDBCluster rds:AddRoleToDBInstance", "roleArn"),
    **_rules("export.rds.amazonaws.com", "rds:StartExportTask", "iamRoleArn"),
    **_rules(
        "elasticmapreduce.amazonaws.com",
        "elasticmapreduce:RunJobFlow",
        "serviceRole",
        kind="role-or-name",
    ),
    **_rules("firehose.amazonaws.com", "firehose:CreateDeliveryStream", "**.roleARN"),
    **_rules("config.amazonaws.com", "config:PutConfigurationRecorder", "**.roleARN"),
    **_rules(
        "cloudtrail.amazonaws.com",
        "cloudtrail:CreateTrail cloudtrail:UpdateTrail",
        "cloudWatchLogsRoleArn",
    ),
    **_rules("logs.amazonaws.com", "logs:PutSubscriptionFilter logs:PutDestination", "roleArn"),
    **_rules("s3.amazonaws.com", "s3:PutReplicationConfiguration", "replicationConfiguration.role"),
    **_rules(
        "rolesanywhere.amazonaws.com",
        "rolesanywhere:CreateProfile rolesanywhere:UpdateProfile",
        "roleArns[]",
    ),
    **_rules(
        "application-autoscaling.amazonaws.com",
        "application-autoscaling:RegisterScalableTarget",
        "roleARN",
    ),
    **_rules("appsync.amazonaws.com", "appsync:CreateDataSource", "serviceRoleArn"),
    **_rules(
        "bedrock.amazonaws.com",
        "bedrock:CreateModelCustomizationJob bedrock:CreateKnowledgeBase",
        "roleArn",
    ),
    **_rules("bedrock.amazonaws.com", "bedrock:CreateAgent", "agentResourceRoleArn"),
}


def _rules_for(event_source: str, event_name: str) -> tuple[PassRule, ...]:
    """The pass rules of a kind of call (via its mapped actions, so old suffixed names such
    as `CreateFunction20150331` match too)."""
    mapped = mapping.map_call(event_source, event_name)
    return tuple(rule for action in mapped.actions for rule in RULES.get(action, ()))


rules_for = cache(_rules_for)  # not a decorator: mutmut skips decorated functions


def _resolve(value: str, kind: Kind, partition: str, account: str) -> str | None:
    """The role (or instance-profile) ARN a parameter value names, or None if it names none
    we can be sure of."""
    if is_arn(value):
        expected = ":instance-profile/" if kind == "instance-profile" else ":role/"
        return value if expected in value else None
    if not account or value.startswith("arn:") or "*" in value:
        return None
    if kind == "instance-profile":
        return f"arn:{partition}:iam::{account}:instance-profile/{value.strip('/')}"
    if kind == "role-or-name":
        return f"arn:{partition}:iam::{account}:role/{value.strip('/')}"
    return None


def passed_roles(
    rules: tuple[PassRule, ...], params: dict[str, Any] | None, partition: str, account: str
) -> list[tuple[str, str]]:
    """(service principal, role or instance-profile ARN) pairs a request passes."""
    if not isinstance(params, dict):
        return []
    found: list[tuple[str, str]] = []
    for rule in rules:
        for value in strings_at(params, rule.path):
            arn = _resolve(value, rule.kind, partition, account)
            if arn is None or (rule.service, arn) in found or _named_twice(arn, value, found):
                continue
            found.append((rule.service, arn))
    return found


def _named_twice(arn: str, value: str, found: list[tuple[str, str]]) -> bool:
    """True when `value` is a bare name for a profile already found by its ARN (EC2 sends
    both `iamInstanceProfile.arn` and `.name` at times; the ARN keeps the path)."""
    if value == arn or not is_instance_profile(arn):
        return False
    return any(is_instance_profile(f) and f.endswith("/" + value) for _, f in found)


def is_instance_profile(arn: str) -> bool:
    """True for an instance-profile ARN, which stands for a role policygen cannot name."""
    return ":instance-profile/" in arn
