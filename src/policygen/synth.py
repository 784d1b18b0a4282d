"""Deterministic synthetic CloudTrail: the sample trail, every test fixture, benchmark corpora.

Output is laid out exactly as CloudTrail delivers to S3 (log files, a few digest files and
an Insights file to be skipped), and comes with a ground-truth `Manifest` of who called
what, so scanners can be checked against it.

How it stays fast and reproducible at gigabyte scale:
- every (principal, call, outcome, variant) record is rendered once into a byte template
  with a few slots (time, ids); a record then costs one `%` format;
- every log file is drawn from its own RNG seeded by (seed, account, region, index), so
  files are byte-identical whatever the number of worker processes;
- the manifest only aggregates counts per (principal, call, outcome).
"""

from __future__ import annotations

import calendar
import hashlib
import random
import re
import string
import struct
import time
from binascii import hexlify
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from itertools import accumulate, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgspec
from isal import igzip

from policygen.core.units import parse_size  # noqa: F401 (re-exported for existing callers)

Json = Any

WINDOW = 300  # CloudTrail delivers roughly every 5 minutes
MAX_LAG = 600  # events reach back 10 minutes before their window ends...
LATE_SHARE = 0.7  # ...and most files are delivered one window later: 0-15 minutes of lag
GZIP_LEVEL = 2  # isal's default: close to zlib -6 ratios at many times the speed
VARIANTS = 2  # templates per (principal, call, outcome): identity, agent, IP, version vary
BACKGROUND_SHARE = 0.12  # records by root, services, federated and external callers
HOME_REGION_BIAS = 0.35  # weight of a principal's calls outside its home region
DUP_SHARE = 0.1  # files with a few records that CloudTrail delivers again in the next file
CROSS_SHARE = 0.15  # files carrying a cross-account call (copies in both accounts)
GLOBAL_REGION = "us-east-1"
TRAIL_NAME = "main-trail"
TRAIL_BUCKET = "policygen-sample-trail"
EXTERNAL_ACCOUNT = "210987654321"
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate. Same spec (seed included) -> byte-identical output."""

    seed: int = 0
    start: str = "2026-01-05T00:00:00Z"
    days: int = 1
    accounts: tuple[str, ...] = ("111122223333", "444455556666")
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1")
    users_per_account: int = 3
    roles_per_account: int = 4
    target_bytes: int = 20_000_000
    org_id: str | None = None
    prefix: str = ""
    gzip: bool = True
    records_per_file: tuple[int, int] = (50, 400)

    def __post_init__(self) -> None:
        for name in ("accounts", "regions", "records_per_file"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        lo, hi = self.records_per_file
        problems = {
            "accounts must be 12-digit ids": not self.accounts
            or any(not re.fullmatch(r"\d{12}", a) for a in self.accounts),
            "accounts must be distinct": len(set(self.accounts)) != len(self.accounts),
            "regions must be distinct and non-empty": not self.regions
            or len(set(self.regions)) != len(self.regions),
            "org_id must look like o-exampleorgid": self.org_id is not None
            and not re.fullmatch(r"o-[a-z0-9]{10,32}", self.org_id),
            "days must be >= 1": self.days < 1,
            "records_per_file must be 1 <= lo <= hi": not 1 <= lo <= hi,
            "start must be a UTC time on a 5-minute boundary": self.start_epoch % WINDOW != 0,
        }
        wrong = [message for message, failed in problems.items() if failed]
        if wrong:
            raise ValueError("; ".join(wrong))

    @cached_property
    def start_epoch(self) -> int:
        return calendar.timegm(time.strptime(self.start, "%Y-%m-%dT%H:%M:%SZ"))


# --------------------------------------------------------------------------- call catalogue

#: eventSource labels whose IAM prefix differs from the label (used in denial messages).
IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "tagging": "tag"}

#: errorCode of an authorization failure, by eventSource label; JSON services use the default.
DENIED_CODE = {
    "ec2": "Client.UnauthorizedOperation",
    "s3": "AccessDenied",
    "iam": "AccessDenied",
    "sts": "AccessDenied",
    "cloudformation": "AccessDenied",
    "cloudfront": "AccessDenied",
    "rds": "AccessDenied",
    "monitoring": "AccessDenied",
    "email": "AccessDenied",
    "sqs": "AccessDenied",
    "route53": "AccessDenied",
    "sns": "AuthorizationError",
}
DEFAULT_DENIED_CODE = "AccessDeniedException"

#: Errors that show the call was attempted (not refused by IAM): errorCode -> errorMessage.
ERRORS = {
    "NoSuchBucketPolicy": "The bucket policy does not exist",
    "ServerSideEncryptionConfigurationNotFoundError": (
        "The server side encryption configuration was not found"
    ),
    "NoSuchKey": "The specified key does not exist.",
    "ThrottlingException": "Rate exceeded",
    "Client.RequestLimitExceeded": "Request limit exceeded.",
    "Client.DryRunOperation": "Request would have succeeded, but DryRun flag is set.",
    "NoSuchEntity": "The role with name lambda-exec cannot be found.",
    "ResourceNotFoundException": "Secrets Manager can't find the specified secret.",
    "ResourceAlreadyExistsException": "The specified log group already exists",
    "ParameterNotFound": "Parameter /orders/prod/db-host not found.",
    "ValidationError": "Stack with id ${stack} does not exist",
}

S3_BUCKET = {"accountId": "${owner}", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::${bucket}"}
S3_OBJECT = ({"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::${bucket}/${key}"}, S3_BUCKET)
KMS_KEY = ({"accountId": "${owner}", "type": "AWS::KMS::Key", "ARN": "${kms_arn}"},)
FUNCTION = "arn:aws:lambda:${region}:${acct}:function:${function}"
LAMBDA_FN = ({"accountId": "${acct}", "type": "AWS::Lambda::Function", "ARN": FUNCTION},)
TABLE = ({"accountId": "${acct}", "type": "AWS::DynamoDB::Table", "ARN": "${table_arn}"},)
DEPLOYER_ROLE = ({"accountId": "${acct}", "type": "AWS::IAM::Role", "ARN": "${role_deployer}"},)
S3_HOST = "${bucket}.s3.${region}.amazonaws.com"
CREDENTIALS = {
    "credentials": {
        "accessKeyId": "${temp_key}",
        "sessionToken": "${session_token}",
        "expiration": "${expires}",
    },
}
STACK = {
    "stackName": "${stack}",
    "templateURL": "https://${bucket}.s3.${region}.amazonaws.com/templates/orders-app.yaml",
    "roleARN": "${role_cfn}",
    "capabilities": ["CAPABILITY_NAMED_IAM"],
    "parameters": [{"parameterKey": "Stage", "parameterValue": "prod"}],
}
NEW_FUNCTION = {
    "functionName": "report-builder",
    "runtime": "python3.12",
    "role": "${role_lambda}",
    "handler": "app.handler",
    "code": {"s3Bucket": "${bucket}", "s3Key": "builds/report-builder.zip"},
    "timeout": 30,
    "memorySize": 256,
    "publish": True,
    "packageType": "Zip",
}
NEW_FUNCTION_OUT = {
    "functionName": "report-builder",
    "functionArn": "arn:aws:lambda:${region}:${acct}:function:report-builder",
    "runtime": "python3.12",
    "role": "${role_lambda}",
    "handler": "app.handler",
    "codeSize": 48213,
    "version": "1",
    "state": "Pending",
    "stateReasonCode": "Creating",
}
CODE_UPDATE = {
    "functionName": "${function}",
    "s3Bucket": "${bucket}",
    "s3Key": "builds/${function}.zip",
    "publish": True,
    "dryRun": False,
}


@dataclass(frozen=True, slots=True)
class Call:
    """One API operation as CloudTrail logs it, and what makes its records realistic.

    `key` is `<eventSource label>:<eventName>[#variant]`; variants are the same event
    with other parameters (a versioned S3 read, a PartiQL verb, a forward-access call).
    """

    key: str
    read_only: bool
    params: Json = None
    response: Json = None
    resources: tuple[Json, ...] = ()
    action: str = ""  # the IAM action AWS names in a denial, when not <prefix>:<eventName>
    target: str = "*"  # the resource AWS names in a denial
    errors: tuple[tuple[str, float], ...] = ()  # (errorCode, share of calls)
    data: bool = False
    global_: bool = False  # logged in us-east-1 whatever the caller's region
    event_type: str = "AwsApiCall"
    invoked_by: str = ""  # the service calling on the identity's behalf
    extra: Json = None  # additionalEventData

    @property
    def label(self) -> str:
        return self.key.partition(":")[0]

    @property
    def name(self) -> str:
        return self.key.partition(":")[2].partition("#")[0]

    @property
    def source(self) -> str:
        return f"{self.label}.amazonaws.com"

    @property
    def denied_action(self) -> str:
        return self.action or f"{IAM_PREFIX.get(self.label, self.label)}:{self.name}"


def _calls(*calls: Call) -> dict[str, Call]:
    return {c.key: c for c in calls}


THROTTLED = (("ThrottlingException", 0.01),)
CALLS = _calls(
    # EC2
    Call(
        "ec2:DescribeInstances",
        True,
        {"instancesSet": {}, "filterSet": {}},
        errors=(("Client.RequestLimitExceeded", 0.01),),
    ),
    Call("ec2:DescribeVpcs", True, {"vpcSet": {}, "filterSet": {}}),
    Call("ec2:DescribeSubnets", True, {"subnetSet": {}, "filterSet": {}}),
    Call(
        "ec2:DescribeSecurityGroups",
        True,
        {
            "securityGroupSet": {},
            "filterSet": {
                "items": [{"name": "vpc-id", "valueSet": {"items": [{"value": "${vpc}"}]}}]
            },
        },
    ),
    Call("ec2:DescribeRegions", True, {"regionSet": {}, "allRegions": False}),
    Call(
        "ec2:DescribeTags",
        True,
        {
            "filterSet": {
                "items": [
                    {"name": "resource-id", "valueSet": {"items": [{"value": "${instance}"}]}}
                ]
            }
        },
    ),
    Call(
        "ec2:RunInstances",
        False,
        {
            "instancesSet": {"items": [{"imageId": "${ami}", "minCount": 1, "maxCount": 1}]},
            "instanceType": "t3.medium",
            "blockDeviceMapping": {},
            "monitoring": {"enabled": False},
            "subnetId": "${subnet}",
            "disableApiTermination": False,
            "disableApiStop": False,
            "clientToken": "${token}",
            "iamInstanceProfile": {"arn": "${profile_app}"},
            "tagSpecificationSet": {
                "items": [
                    {"resourceType": "instance", "tags": [{"key": "Name", "value": "app-server"}]}
                ]
            },
        },
        {
            "requestId": "@@R@@",
            "reservationId": "r-0${hex}",
            "ownerId": "${acct}",
            "groupSet": {},
            "instancesSet": {
                "items": [
                    {
                        "instanceId": "i-0@@V@@7f3e",
                        "imageId": "${ami}",
                        "instanceType": "t3.medium",
                        "instanceState": {"code": 0, "name": "pending"},
                        "subnetId": "${subnet}",
                        "vpcId": "${vpc}",
                        "iamInstanceProfile": {"arn": "${profile_app}", "id": "AIPA${id17}"},
                    }
                ]
            },
        },
        target="arn:aws:ec2:${region}:${acct}:instance/*",
        errors=(("Client.DryRunOperation", 0.15),),
    ),
    Call(
        "ec2:TerminateInstances",
        False,
        {"instancesSet": {"items": [{"instanceId": "${instance}"}]}},
        target="arn:aws:ec2:${region}:${acct}:instance/${instance}",
    ),
    Call(
        "ec2:CreateTags",
        False,
        {
            "resourcesSet": {"items": [{"resourceId": "${instance}"}]},
            "tagSet": {"items": [{"key": "Owner", "value": "platform"}]},
        },
        {"requestId": "@@R@@", "_return": True},
    ),
    Call("ec2:DescribeFluxCapacitors", True, {"filterSet": {}}),  # no such operation
    # S3 control plane
    Call(
        "s3:ListBuckets", True, {"Host": "s3.${region}.amazonaws.com"}, action="s3:ListAllMyBuckets"
    ),
    Call(
        "s3:GetBucketPolicy",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "policy": ""},
        resources=(S3_BUCKET,),
        target="arn:aws:s3:::${bucket}",
        errors=(("NoSuchBucketPolicy", 0.4),),
    ),
    Call(
        "s3:GetBucketEncryption",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "encryption": ""},
        resources=(S3_BUCKET,),
        action="s3:GetEncryptionConfiguration",
        target="arn:aws:s3:::${bucket}",
        errors=(("ServerSideEncryptionConfigurationNotFoundError", 0.1),),
    ),
    Call(
        "s3:GetBucketAcl",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "acl": ""},
        resources=(S3_BUCKET,),
    ),
    Call(
        "s3:GetBucketVersioning",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "versioning": ""},
        resources=(S3_BUCKET,),
    ),
    Call(
        "s3:GetBucketLocation",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "location": ""},
        resources=(S3_BUCKET,),
    ),
    Call(
        "s3:PutBucketPolicy",
        False,
        {
            "bucketName": "${bucket}",
            "Host": S3_HOST,
            "policy": "",
            "bucketPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": ["arn:aws:s3:::${bucket}", "arn:aws:s3:::${bucket}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
        },
        resources=(S3_BUCKET,),
        target="arn:aws:s3:::${bucket}",
    ),
    Call(
        "s3:CreateBucket",
        False,
        {
            "bucketName": "${bucket}-staging",
            "Host": "${bucket}-staging.s3.${region}.amazonaws.com",
            "CreateBucketConfiguration": {
                "LocationConstraint": "${region}",
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            },
        },
    ),
    Call(
        "s3:PutBucketReplication",
        False,
        {
            "bucketName": "${bucket}",
            "Host": S3_HOST,
            "replication": "",
            "ReplicationConfiguration": {
                "Role": "${role_repl}",
                "Rule": {
                    "ID": "disaster-recovery",
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {"Prefix": "exports/"},
                    "Destination": {"Bucket": "arn:aws:s3:::${bucket}-dr"},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                },
            },
        },
        resources=(S3_BUCKET,),
        action="s3:PutReplicationConfiguration",
    ),
    # S3 data plane
    Call(
        "s3:GetObject",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "key": "${key}"},
        resources=S3_OBJECT,
        data=True,
        target="arn:aws:s3:::${bucket}/${key}",
        errors=(("NoSuchKey", 0.03),),
    ),
    Call(
        "s3:GetObject#version",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "key": "${key}", "versionId": "${version_id}"},
        resources=S3_OBJECT,
        data=True,
        action="s3:GetObjectVersion",
    ),
    Call(
        "s3:HeadObject",
        True,
        {"bucketName": "${bucket}", "Host": S3_HOST, "key": "${key}"},
        resources=S3_OBJECT,
        data=True,
        action="s3:GetObject",
    ),
    Call(
        "s3:PutObject",
        False,
        {
            "bucketName": "${bucket}",
            "Host": S3_HOST,
            "key": "${key}",
            "x-amz-server-side-encryption": "aws:kms",
        },
        {
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id": "${kms_arn}",
        },
        resources=S3_OBJECT,
        data=True,
        target="arn:aws:s3:::${bucket}/${key}",
    ),
    Call(
        "s3:DeleteObject",
        False,
        {"bucketName": "${bucket}", "Host": S3_HOST, "key": "${key}"},
        resources=S3_OBJECT,
        data=True,
    ),
    Call(
        "s3:ListObjects",
        True,
        {
            "bucketName": "${bucket}",
            "Host": S3_HOST,
            "list-type": "2",
            "prefix": "exports/",
            "delimiter": "/",
            "encoding-type": "url",
        },
        resources=(S3_BUCKET,),
        data=True,
        action="s3:ListBucket",
    ),
    # IAM (global)
    Call("iam:GetUser", True, {"userName": "${self_name}"}, global_=True),
    Call("iam:ListUsers", True, global_=True),
    Call("iam:ListRoles", True, global_=True, errors=THROTTLED),
    Call(
        "iam:GetRole",
        True,
        {"roleName": "lambda-exec"},
        global_=True,
        errors=(("NoSuchEntity", 0.05),),
    ),
    Call("iam:ListAttachedRolePolicies", True, {"roleName": "deployer"}, global_=True),
    Call(
        "iam:GetPolicyVersion",
        True,
        {"policyArn": "arn:aws:iam::${acct}:policy/orders-read", "versionId": "v3"},
        global_=True,
    ),
    Call(
        "iam:GetAccountAuthorizationDetails",
        True,
        {"filter": ["Role", "LocalManagedPolicy"]},
        global_=True,
    ),
    Call("iam:GetAccountSummary", True, global_=True),
    Call(
        "iam:CreateRole",
        False,
        {
            "path": "/app/",
            "roleName": "batch-worker",
            "assumeRolePolicyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
        },
        {
            "role": {
                "path": "/app/",
                "roleName": "batch-worker",
                "roleId": "AROA${id17}",
                "arn": "arn:aws:iam::${acct}:role/app/batch-worker",
                "createDate": "${created}",
            }
        },
        global_=True,
        target="arn:aws:iam::${acct}:role/app/batch-worker",
    ),
    Call(
        "iam:AttachRolePolicy",
        False,
        {
            "roleName": "batch-worker",
            "policyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        },
        global_=True,
    ),
    Call(
        "iam:CreateUser",
        False,
        {"userName": "contractor-1", "path": "/contractors/"},
        global_=True,
        target="arn:aws:iam::${acct}:user/contractors/contractor-1",
    ),
    Call(
        "iam:CreateAccessKey",
        False,
        {"userName": "ci-bot"},
        {
            "accessKey": {
                "userName": "ci-bot",
                "accessKeyId": "AKIA${key16}",
                "status": "Active",
                "createDate": "${created}",
            }
        },
        global_=True,
    ),
    # STS
    Call("sts:GetCallerIdentity", True),
    Call("sts:GetSessionToken", True, {"durationSeconds": 3600}, CREDENTIALS, global_=True),
    Call(
        "sts:AssumeRole",
        True,
        {
            "roleArn": "${role_deployer}",
            "roleSessionName": "${self_name}-session",
            "durationSeconds": 3600,
        },
        {
            **CREDENTIALS,
            "assumedRoleUser": {
                "assumedRoleId": "AROA${id17}:${self_name}-session",
                "arn": "arn:aws:sts::${acct}:assumed-role/deployer/${self_name}-session",
            },
        },
        resources=DEPLOYER_ROLE,
        global_=True,
        target="${role_deployer}",
    ),
    Call(
        "sts:AssumeRole#lambda",
        True,
        {
            "roleArn": "${role_lambda}",
            "roleSessionName": "${function}",
            "durationSeconds": 43200,
        },
        CREDENTIALS,
        invoked_by="lambda.amazonaws.com",
    ),
    Call(
        "sts:AssumeRole#ec2",
        True,
        {
            "roleArn": "${role_app}",
            "roleSessionName": "${instance}",
        },
        CREDENTIALS,
        invoked_by="ec2.amazonaws.com",
    ),
    Call(
        "sts:AssumeRoleWithSAML",
        True,
        {
            "sAMLAssertionID": "_${hex}",
            "roleSessionName": "alice@example.com",
            "roleArn": "${role_sso}",
            "durationSeconds": 43200,
            "principalArn": "arn:aws:iam::${acct}:saml-provider/AWSSSO_${hex}_DO_NOT_DELETE",
        },
        CREDENTIALS,
        global_=True,
    ),
    # KMS
    Call(
        "kms:Decrypt",
        True,
        {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        resources=KMS_KEY,
        target="${kms_arn}",
    ),
    Call(
        "kms:Decrypt#secretsmanager",
        True,
        {
            "encryptionContext": {"SecretARN": "${secret_arn}", "SecretVersionId": "${uuid}"},
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        },
        resources=KMS_KEY,
        invoked_by="secretsmanager.amazonaws.com",
    ),
    Call(
        "kms:Decrypt#s3",
        True,
        {
            "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::${bucket}/${key}"},
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        },
        resources=KMS_KEY,
        invoked_by="AWS Internal",
    ),
    Call(
        "kms:GenerateDataKey",
        True,
        {"keyId": "${kms_arn}", "keySpec": "AES_256"},
        resources=KMS_KEY,
    ),
    Call(
        "kms:GenerateDataKey#cloudtrail",
        True,
        {
            "keyId": "${kms_arn}",
            "keySpec": "AES_256",
            "encryptionContext": {"aws:cloudtrail:arn": "${trail_arn}"},
        },
        resources=KMS_KEY,
        invoked_by="cloudtrail.amazonaws.com",
    ),
    Call(
        "kms:Encrypt",
        True,
        {"keyId": "alias/orders", "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        resources=KMS_KEY,
    ),
    Call(
        "kms:ReEncrypt",
        True,
        {
            "sourceKeyId": "${kms_arn}",
            "destinationKeyId": "${kms_arn2}",
            "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        },
        resources=(
            *KMS_KEY,
            {"accountId": "${acct}", "type": "AWS::KMS::Key", "ARN": "${kms_arn2}"},
        ),
        action="kms:ReEncryptFrom",
    ),
    Call("kms:DescribeKey", True, {"keyId": "alias/orders"}, resources=KMS_KEY),
    Call("kms:ListKeys", True, errors=THROTTLED),
    Call(
        "kms:CreateGrant",
        False,
        {
            "keyId": "${kms_arn}",
            "granteePrincipal": "${role_lambda}",
            "operations": ["Decrypt"],
        },
        {"grantId": "${hex}", "keyId": "${kms_arn}"},
        resources=KMS_KEY,
    ),
    # Lambda: suffixed names as logged before October 2021, and today's names
    Call("lambda:ListFunctions20150331", True, action="lambda:ListFunctions"),
    Call("lambda:ListFunctions", True, errors=THROTTLED),
    Call(
        "lambda:GetFunction20150331v2",
        True,
        {"functionName": "${function}"},
        action="lambda:GetFunction",
    ),
    Call("lambda:GetFunction", True, {"functionName": "${function}"}),
    Call(
        "lambda:UpdateFunctionCode20150331v2",
        False,
        CODE_UPDATE,
        action="lambda:UpdateFunctionCode",
        target=FUNCTION,
    ),
    Call("lambda:UpdateFunctionCode", False, CODE_UPDATE, target=FUNCTION),
    Call(
        "lambda:CreateFunction20150331",
        False,
        NEW_FUNCTION,
        NEW_FUNCTION_OUT,
        action="lambda:CreateFunction",
    ),
    Call("lambda:CreateFunction", False, NEW_FUNCTION, NEW_FUNCTION_OUT),
    Call(
        "lambda:Invoke",
        False,
        {"functionName": FUNCTION, "invocationType": "RequestResponse"},
        resources=LAMBDA_FN,
        data=True,
        action="lambda:InvokeFunction",
        target=FUNCTION,
        extra={"functionVersion": FUNCTION + ":$$LATEST"},
    ),
    # CloudTrail, CloudWatch, Logs
    Call("cloudtrail:DescribeTrails", True, {"trailNameList": [], "includeShadowTrails": True}),
    Call("cloudtrail:GetTrailStatus", True, {"name": "${trail_arn}"}),
    Call("cloudtrail:GetEventSelectors", True, {"trailName": TRAIL_NAME}),
    Call(
        "cloudtrail:LookupEvents",
        True,
        {
            "maxResults": 50,
            "lookupAttributes": [{"attributeKey": "EventName", "attributeValue": "ConsoleLogin"}],
        },
        errors=THROTTLED,
    ),
    Call(
        "monitoring:PutMetricData",
        False,
        {
            "namespace": "Orders",
            "metricData": [
                {"metricName": "Latency", "unit": "Milliseconds", "storageResolution": 60}
            ],
        },
    ),
    Call(
        "monitoring:GetMetricData",
        True,
        {
            "metricDataQueries": [
                {
                    "id": "errors",
                    "metricStat": {
                        "metric": {"namespace": "AWS/Lambda", "metricName": "Errors"},
                        "period": 300,
                        "stat": "Sum",
                    },
                }
            ],
            "startTime": "${created}",
            "endTime": "${expires}",
        },
    ),
    Call(
        "monitoring:DescribeAlarms",
        True,
        {"stateValue": "ALARM", "maxRecords": 100},
        errors=THROTTLED,
    ),
    Call(
        "monitoring:PutMetricAlarm",
        False,
        {
            "alarmName": "orders-5xx",
            "metricName": "5XXError",
            "namespace": "AWS/ApiGateway",
            "statistic": "Sum",
            "period": 60,
            "evaluationPeriods": 5,
            "threshold": 10.0,
            "comparisonOperator": "GreaterThanThreshold",
            "alarmActions": ["${topic_arn}"],
        },
    ),
    Call("logs:DescribeLogGroups", True, {"logGroupNamePrefix": "/aws/lambda/"}),
    Call(
        "logs:DescribeLogStreams",
        True,
        {"logGroupName": "${log_group}", "descending": True, "orderBy": "LastEventTime"},
    ),
    Call(
        "logs:CreateLogGroup",
        False,
        {"logGroupName": "${log_group}"},
        errors=(("ResourceAlreadyExistsException", 0.5),),
    ),
    Call(
        "logs:CreateLogStream",
        False,
        {"logGroupName": "${log_group}", "logStreamName": "${day}/[$$LATEST]@@V@@"},
    ),
    Call(
        "logs:FilterLogEvents",
        True,
        {
            "logGroupName": "${log_group}",
            "filterPattern": "ERROR",
            "interleaved": True,
            "limit": 100,
        },
    ),
    # DynamoDB (item and PartiQL calls are data events)
    Call("dynamodb:ListTables", True),
    Call("dynamodb:DescribeTable", True, {"tableName": "${table}"}),
    Call(
        "dynamodb:CreateTable",
        False,
        {
            "tableName": "audit",
            "billingMode": "PAY_PER_REQUEST",
            "attributeDefinitions": [{"attributeName": "pk", "attributeType": "S"}],
            "keySchema": [{"attributeName": "pk", "keyType": "HASH"}],
        },
    ),
    Call(
        "dynamodb:GetItem",
        True,
        {
            "tableName": "${table}",
            "key": {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS"},
            "consistentRead": False,
        },
        resources=TABLE,
        data=True,
    ),
    Call(
        "dynamodb:PutItem",
        False,
        {"tableName": "${table}", "key": {"pk": "HIDDEN_DUE_TO_SECURITY_REASONS"}},
        resources=TABLE,
        data=True,
    ),
    Call(
        "dynamodb:ExecuteStatement#select",
        True,
        {"statement": 'SELECT * FROM "${table}" WHERE pk = ?'},
        resources=TABLE,
        data=True,
        action="dynamodb:PartiQLSelect",
    ),
    Call(
        "dynamodb:ExecuteStatement#insert",
        False,
        {"statement": "INSERT INTO \"${table}\" VALUE {'pk': ?, 'status': ?}"},
        resources=TABLE,
        data=True,
        action="dynamodb:PartiQLInsert",
    ),
    Call(
        "dynamodb:ExecuteStatement#update",
        False,
        {"statement": 'UPDATE "${table}" SET status = ? WHERE pk = ?'},
        resources=TABLE,
        data=True,
        action="dynamodb:PartiQLUpdate",
    ),
    Call(
        "dynamodb:ExecuteStatement#delete",
        False,
        {"statement": 'DELETE FROM "${table}" WHERE pk = ?'},
        resources=TABLE,
        data=True,
        action="dynamodb:PartiQLDelete",
    ),
    # Queues and topics
    Call("sqs:ListQueues", True, {"queueNamePrefix": "orders"}),
    Call("sqs:GetQueueAttributes", True, {"queueUrl": "${queue_url}", "attributeNames": ["All"]}),
    Call(
        "sqs:CreateQueue",
        False,
        {"queueName": "orders-dlq", "attributes": {"MessageRetentionPeriod": "1209600"}},
        {"queueUrl": "${queue_url}-dlq"},
    ),
    Call(
        "sqs:SetQueueAttributes",
        False,
        {"queueUrl": "${queue_url}", "attributes": {"VisibilityTimeout": "120"}},
    ),
    Call("sns:ListTopics", True),
    Call("sns:GetTopicAttributes", True, {"topicArn": "${topic_arn}"}),
    Call(
        "sns:CreateTopic",
        False,
        {"name": "deploy-events"},
        {"topicArn": "arn:aws:sns:${region}:${acct}:deploy-events"},
    ),
    Call(
        "sns:Subscribe",
        False,
        {"topicArn": "${topic_arn}", "protocol": "sqs", "endpoint": "${queue_arn}"},
    ),
    # Containers and stacks (both pass roles)
    Call("ecs:ListClusters", True),
    Call("ecs:DescribeServices", True, {"cluster": "${cluster}", "services": ["orders-api"]}),
    Call(
        "ecs:RegisterTaskDefinition",
        False,
        {
            "family": "orders-api",
            "taskRoleArn": "${role_task}",
            "executionRoleArn": "${role_exec}",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [
                {
                    "name": "api",
                    "image": "${acct}.dkr.ecr.${region}.amazonaws.com/orders-api:1.4.2",
                    "cpu": 256,
                    "memory": 512,
                    "essential": True,
                }
            ],
        },
    ),
    Call(
        "ecs:UpdateService",
        False,
        {
            "cluster": "${cluster}",
            "service": "orders-api",
            "taskDefinition": "orders-api",
            "forceNewDeployment": True,
        },
    ),
    Call(
        "cloudformation:DescribeStacks",
        True,
        {"stackName": "${stack}"},
        errors=(("ValidationError", 0.05),),
    ),
    Call("cloudformation:DescribeStackEvents", True, {"stackName": "${stack}"}, errors=THROTTLED),
    Call(
        "cloudformation:ListStacks",
        True,
        {"stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]},
    ),
    Call(
        "cloudformation:CreateStack",
        False,
        STACK,
        {"stackId": "arn:aws:cloudformation:${region}:${acct}:stack/${stack}/${uuid}"},
    ),
    Call(
        "cloudformation:UpdateStack",
        False,
        STACK,
        {"stackId": "arn:aws:cloudformation:${region}:${acct}:stack/${stack}/${uuid}"},
    ),
    # Parameters and secrets
    Call(
        "ssm:GetParameter",
        True,
        {"name": "${param}", "withDecryption": True},
        errors=(("ParameterNotFound", 0.02),),
    ),
    Call(
        "ssm:GetParametersByPath",
        True,
        {"path": "/orders/prod/", "recursive": True, "withDecryption": True},
    ),
    Call(
        "ssm:PutParameter",
        False,
        {"name": "${param}", "type": "SecureString", "overwrite": True, "keyId": "alias/orders"},
        {"version": 7, "tier": "Standard"},
    ),
    Call("ssm:DescribeInstanceInformation", True, {"maxResults": 50}),
    Call(
        "secretsmanager:GetSecretValue",
        True,
        {"secretId": "${secret}"},
        errors=(("ResourceNotFoundException", 0.02),),
        target="${secret_arn}",
    ),
    Call("secretsmanager:DescribeSecret", True, {"secretId": "${secret}"}),
    Call("secretsmanager:ListSecrets", True),
    Call(
        "secretsmanager:CreateSecret",
        False,
        {"name": "prod/orders/api-token", "clientRequestToken": "${uuid}"},
    ),
    # Databases, analytics, governance
    Call("rds:DescribeDBInstances", True, {"dBInstanceIdentifier": "orders-db"}),
    Call("rds:DescribeDBClusters", True),
    Call(
        "rds:CreateDBSnapshot",
        False,
        {"dBSnapshotIdentifier": "orders-db-manual", "dBInstanceIdentifier": "orders-db"},
    ),
    Call(
        "athena:StartQueryExecution",
        False,
        {"queryString": "SELECT count(*) FROM orders", "workGroup": "primary"},
        {"queryExecutionId": "${uuid}"},
    ),
    Call("glue:GetTable", True, {"databaseName": "analytics", "name": "orders"}),
    Call("access-analyzer:ListAnalyzers", True, {"type": "ACCOUNT"}),
    Call(
        "access-analyzer:StartPolicyGeneration",
        False,
        {
            "policyGenerationDetails": {"principalArn": "${role_deployer}"},
            "cloudTrailDetails": {
                "trails": [{"cloudTrailArn": "${trail_arn}", "allRegions": True}],
                "accessRole": "${role_analyzer}",
                "startTime": "${created}",
            },
        },
        {"jobId": "${uuid}"},
    ),
    Call(
        "access-analyzer:GetGeneratedPolicy",
        True,
        {
            "jobId": "${uuid}",
            "includeResourcePlaceholders": False,
            "includeServiceLevelTemplate": False,
        },
    ),
    Call("access-analyzer:ValidatePolicy", True, {"policyType": "IDENTITY_POLICY", "locale": "EN"}),
    Call(
        "tagging:GetResources",
        True,
        {"tagFilters": [{"key": "Owner", "values": ["platform"]}], "resourcesPerPage": 100},
    ),
    Call(
        "tagging:TagResources",
        False,
        {"resourceARNList": ["${queue_arn}"], "tags": {"Owner": "platform"}},
    ),
    Call(
        "email:SendEmail",
        False,
        {
            "source": "noreply@example.com",
            "destination": {"toAddresses": ["HIDDEN_DUE_TO_SECURITY_REASONS"]},
        },
        {"messageId": "${hex}-000000"},
    ),
    Call("email:GetSendQuota", True),
    Call("kafka:ListClustersV2", True, {"clusterTypeFilter": "PROVISIONED"}),
    Call("kafka:DescribeClusterV2", True, {"clusterArn": "${msk_arn}"}),
    # Edge and API (CloudFront and Route 53 are global)
    Call("apigateway:GetRestApis", True, {"limit": 500}),
    Call("apigateway:GetApis", True, {"maxResults": "100"}),
    Call(
        "apigateway:CreateRestApi",
        False,
        {"name": "orders-api", "endpointConfiguration": {"types": ["REGIONAL"]}},
        {"id": "${restapi}", "name": "orders-api"},
    ),
    Call(
        "apigateway:CreateDeployment",
        False,
        {"restApiId": "${restapi}", "createDeploymentInput": {"stageName": "prod"}},
    ),
    Call(
        "cloudfront:CreateDistribution2020_05_31",
        False,
        {
            "distributionConfig": {
                "callerReference": "${uuid}",
                "comment": "static site",
                "enabled": True,
                "origins": {
                    "quantity": 1,
                    "items": [{"id": "s3-origin", "domainName": "${bucket}.s3.amazonaws.com"}],
                },
            }
        },
        {"distribution": {"id": "${distribution}", "status": "InProgress"}},
        global_=True,
        action="cloudfront:CreateDistribution",
    ),
    Call(
        "cloudfront:GetDistribution2020_05_31",
        True,
        {"id": "${distribution}"},
        global_=True,
        action="cloudfront:GetDistribution",
    ),
    Call("cloudfront:ListDistributions", True, global_=True),
    Call(
        "cloudfront:CreateInvalidation",
        False,
        {
            "distributionId": "${distribution}",
            "invalidationBatch": {
                "paths": {"quantity": 1, "items": ["/*"]},
                "callerReference": "@@V@@",
            },
        },
        global_=True,
    ),
    Call("route53:ListHostedZones", True, global_=True),
    Call(
        "route53:ChangeResourceRecordSets",
        False,
        {
            "hostedZoneId": "${zone}",
            "changeBatch": {
                "changes": [
                    {
                        "action": "UPSERT",
                        "resourceRecordSet": {
                            "name": "api.example.com",
                            "type": "CNAME",
                            "tTL": 300,
                            "resourceRecords": [
                                {"value": "${restapi}.execute-api.${region}.amazonaws.com"}
                            ],
                        },
                    }
                ]
            },
        },
        global_=True,
    ),
    Call("quantumledger:DescribeLedgerWidgets", True, {"ledgerName": "main"}),  # no such service
    # Not API calls: sign-in, console actions, service events
    Call(
        "signin:ConsoleLogin",
        False,
        None,
        {"ConsoleLogin": "Success"},
        global_=True,
        event_type="AwsConsoleSignIn",
        extra={
            "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true",
            "MobileVersion": "No",
            "MFAUsed": "Yes",
        },
    ),
    Call(
        "billingconsole:GetBillsForBillingPeriod",
        True,
        {"map": {"month": "12", "year": "2025"}},
        global_=True,
        event_type="AwsConsoleAction",
    ),
    Call(
        "secretsmanager:StartSecretVersionDelete",
        False,
        event_type="AwsServiceEvent",
        invoked_by="secretsmanager.amazonaws.com",
        extra={"ARN": "${secret_arn}", "Name": "${secret}"},
    ),
    Call(
        "ec2:SharedSnapshotVolumeCreated",
        False,
        event_type="AwsServiceEvent",
        invoked_by="ec2.amazonaws.com",
    ),
    Call(
        "kms:RotateKey",
        False,
        resources=KMS_KEY,
        event_type="AwsServiceEvent",
        invoked_by="kms.amazonaws.com",
    ),
)

#: Behaviour profiles: (call key, relative weight, share of these calls that IAM denies).
PROFILES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "developer": (
        ("ec2:DescribeInstances", 20, 0),
        ("ec2:DescribeVpcs", 5, 0),
        ("ec2:DescribeSecurityGroups", 4, 0),
        ("ec2:RunInstances", 1, 1.0),
        ("s3:ListBuckets", 6, 0),
        ("s3:GetObject", 25, 0),
        ("s3:PutObject", 10, 0),
        ("s3:ListObjects", 8, 0),
        ("s3:HeadObject", 3, 0),
        ("s3:GetBucketPolicy", 2, 1.0),
        ("lambda:ListFunctions20150331", 3, 0),
        ("lambda:GetFunction20150331v2", 3, 0),
        ("lambda:UpdateFunctionCode20150331v2", 2, 0),
        ("lambda:Invoke", 6, 0),
        ("logs:FilterLogEvents", 6, 0),
        ("logs:DescribeLogGroups", 3, 0),
        ("dynamodb:DescribeTable", 3, 0),
        ("dynamodb:ExecuteStatement#select", 5, 0),
        ("sts:GetCallerIdentity", 4, 0),
        ("kms:Decrypt", 3, 0),
        ("iam:GetUser", 1, 0),
        ("iam:CreateRole", 1, 1.0),
        ("ssm:GetParameter", 4, 0),
        ("secretsmanager:GetSecretValue", 2, 0),
        ("kms:Decrypt#secretsmanager", 2, 0),
        ("kafka:ListClustersV2", 1, 0),
        ("ec2:DescribeFluxCapacitors", 1, 0),
        ("signin:ConsoleLogin", 1, 0),
        ("billingconsole:GetBillsForBillingPeriod", 0.3, 0),
    ),
    "deployer": (
        ("cloudformation:DescribeStacks", 15, 0),
        ("cloudformation:DescribeStackEvents", 10, 0),
        ("cloudformation:CreateStack", 2, 0),
        ("cloudformation:UpdateStack", 3, 0),
        ("iam:GetRole", 5, 0),
        ("iam:CreateRole", 1, 0),
        ("iam:AttachRolePolicy", 1, 0),
        ("lambda:CreateFunction", 1, 0),
        ("lambda:CreateFunction20150331", 0.5, 0),
        ("lambda:UpdateFunctionCode", 2, 0),
        ("ecs:RegisterTaskDefinition", 2, 0),
        ("ecs:UpdateService", 2, 0),
        ("ec2:RunInstances", 2, 0),
        ("ec2:CreateTags", 1, 0),
        ("s3:PutObject", 5, 0),
        ("s3:CreateBucket", 0.5, 0),
        ("s3:PutBucketReplication", 1, 0),
        ("s3:PutBucketPolicy", 0.5, 0.5),
        ("apigateway:GetRestApis", 2, 0),
        ("apigateway:CreateRestApi", 0.3, 0),
        ("apigateway:CreateDeployment", 1, 0),
        ("cloudfront:CreateDistribution2020_05_31", 1, 0),
        ("cloudfront:CreateInvalidation", 0.5, 0),
        ("sts:GetCallerIdentity", 3, 0),
        ("kms:DescribeKey", 1, 0),
        ("kms:CreateGrant", 0.3, 0),
        ("ssm:PutParameter", 1, 0),
        ("sqs:CreateQueue", 0.5, 0),
        ("sns:CreateTopic", 0.3, 0),
        ("route53:ChangeResourceRecordSets", 0.3, 0),
        ("quantumledger:DescribeLedgerWidgets", 1, 0),
    ),
    "admin": (
        ("iam:ListUsers", 4, 0),
        ("iam:ListRoles", 4, 0),
        ("iam:GetAccountAuthorizationDetails", 1, 0),
        ("iam:CreateUser", 0.3, 0),
        ("iam:CreateAccessKey", 0.2, 0),
        ("iam:GetPolicyVersion", 2, 0),
        ("cloudtrail:DescribeTrails", 3, 0),
        ("cloudtrail:GetTrailStatus", 2, 0),
        ("cloudtrail:LookupEvents", 3, 0),
        ("cloudtrail:GetEventSelectors", 1, 0),
        ("access-analyzer:ListAnalyzers", 1, 0),
        ("access-analyzer:StartPolicyGeneration", 0.3, 0),
        ("access-analyzer:GetGeneratedPolicy", 0.6, 0),
        ("access-analyzer:ValidatePolicy", 1, 0),
        ("ec2:DescribeRegions", 2, 0),
        ("ec2:TerminateInstances", 0.3, 0),
        ("rds:DescribeDBInstances", 2, 0),
        ("rds:CreateDBSnapshot", 0.2, 0),
        ("kms:ListKeys", 1, 0),
        ("kms:ReEncrypt", 1, 0),
        ("tagging:GetResources", 2, 0),
        ("tagging:TagResources", 0.5, 0),
        ("monitoring:DescribeAlarms", 3, 0),
        ("monitoring:PutMetricAlarm", 0.5, 0),
        ("s3:GetBucketEncryption", 1, 0),
        ("s3:GetBucketAcl", 1, 0),
        ("s3:GetBucketVersioning", 1, 0),
        ("email:GetSendQuota", 0.5, 0),
        ("secretsmanager:ListSecrets", 1, 0),
        ("ecs:ListClusters", 1, 0),
        ("sqs:ListQueues", 1, 0),
        ("sns:ListTopics", 1, 0),
        ("route53:ListHostedZones", 1, 0),
        ("cloudfront:ListDistributions", 1, 0),
        ("cloudfront:GetDistribution2020_05_31", 0.5, 0),
        ("apigateway:GetApis", 0.5, 0),
        ("kafka:DescribeClusterV2", 0.3, 0),
        ("quantumledger:DescribeLedgerWidgets", 0.5, 0),
        ("signin:ConsoleLogin", 1, 0),
    ),
    "readonly": (
        ("ec2:DescribeInstances", 10, 0),
        ("ec2:DescribeSubnets", 3, 0),
        ("s3:ListBuckets", 5, 0),
        ("s3:GetBucketAcl", 2, 0),
        ("s3:GetBucketPolicy", 3, 0),
        ("s3:GetBucketLocation", 2, 0),
        ("iam:ListRoles", 3, 0),
        ("iam:GetRole", 3, 0),
        ("cloudtrail:DescribeTrails", 2, 0),
        ("monitoring:GetMetricData", 5, 0),
        ("monitoring:DescribeAlarms", 3, 0),
        ("logs:DescribeLogGroups", 3, 0),
        ("rds:DescribeDBClusters", 1, 0),
        ("dynamodb:ListTables", 2, 0),
        ("sqs:ListQueues", 1, 0),
        ("sns:ListTopics", 1, 0),
        ("ecs:DescribeServices", 2, 0),
        ("cloudformation:ListStacks", 2, 0),
        ("ssm:DescribeInstanceInformation", 1, 0),
        ("secretsmanager:DescribeSecret", 1, 0),
        ("lambda:ListFunctions", 2, 0),
        ("access-analyzer:ListAnalyzers", 1, 0),
        ("ec2:DescribeFluxCapacitors", 0.5, 0),
        ("iam:CreateUser", 0.5, 1.0),
        ("s3:PutObject", 1, 1.0),
        ("ec2:RunInstances", 0.5, 1.0),
        ("kms:Decrypt", 1, 1.0),
        ("secretsmanager:GetSecretValue", 1, 1.0),
        ("signin:ConsoleLogin", 0.5, 0),
    ),
    "ci": (
        ("s3:PutObject", 10, 0),
        ("s3:GetObject", 6, 0),
        ("s3:ListObjects", 4, 0),
        ("ecs:RegisterTaskDefinition", 2, 0),
        ("ecs:UpdateService", 2, 0),
        ("ecs:DescribeServices", 5, 0),
        ("sts:AssumeRole", 3, 0),
        ("sts:GetCallerIdentity", 3, 0),
        ("lambda:UpdateFunctionCode20150331v2", 2, 0),
        ("lambda:UpdateFunctionCode", 2, 0),
        ("cloudformation:DescribeStacks", 4, 0),
        ("logs:CreateLogStream", 1, 0),
        ("sts:GetSessionToken", 0.5, 0),
        ("iam:ListAttachedRolePolicies", 0.5, 1.0),
    ),
    "data": (
        ("s3:GetObject#version", 10, 0),
        ("s3:GetObject", 10, 0),
        ("s3:PutObject", 6, 0),
        ("s3:ListObjects", 6, 0),
        ("s3:DeleteObject", 2, 0.2),
        ("dynamodb:ExecuteStatement#select", 8, 0),
        ("dynamodb:ExecuteStatement#insert", 3, 0),
        ("dynamodb:ExecuteStatement#update", 2, 0),
        ("dynamodb:ExecuteStatement#delete", 0.5, 0.5),
        ("dynamodb:GetItem", 5, 0),
        ("dynamodb:PutItem", 3, 0),
        ("athena:StartQueryExecution", 2, 0),
        ("glue:GetTable", 2, 0),
        ("kms:Decrypt#s3", 6, 0),
        ("kms:GenerateDataKey", 3, 0),
        ("kms:Encrypt", 1, 0),
        ("signin:ConsoleLogin", 0.3, 0),
    ),
    "appserver": (
        ("s3:GetObject", 15, 0),
        ("s3:PutObject", 8, 0),
        ("ssm:GetParameter", 6, 0),
        ("ssm:GetParametersByPath", 2, 0),
        ("secretsmanager:GetSecretValue", 4, 0),
        ("kms:Decrypt#secretsmanager", 4, 0),
        ("kms:Decrypt", 3, 0),
        ("monitoring:PutMetricData", 10, 0),
        ("logs:CreateLogStream", 2, 0),
        ("logs:DescribeLogStreams", 2, 0),
        ("sqs:GetQueueAttributes", 3, 0),
        ("ec2:DescribeTags", 2, 0),
        ("sts:GetCallerIdentity", 1, 0),
        ("dynamodb:GetItem", 4, 0),
        ("dynamodb:PutItem", 2, 0),
        ("email:SendEmail", 1, 0),
        ("sns:GetTopicAttributes", 1, 0),
    ),
    "lambda": (
        ("logs:CreateLogGroup", 1, 0),
        ("logs:CreateLogStream", 4, 0),
        ("dynamodb:GetItem", 8, 0),
        ("dynamodb:PutItem", 6, 0),
        ("dynamodb:ExecuteStatement#update", 2, 0),
        ("s3:GetObject", 4, 0),
        ("secretsmanager:GetSecretValue", 1, 0),
        ("kms:Decrypt#secretsmanager", 1, 0),
        ("sqs:GetQueueAttributes", 1, 0),
        ("sns:Subscribe", 0.2, 1.0),
    ),
    "ecs": (
        ("s3:GetObject", 6, 0),
        ("s3:PutObject", 3, 0),
        ("dynamodb:GetItem", 4, 0),
        ("sqs:GetQueueAttributes", 2, 0),
        ("sqs:SetQueueAttributes", 0.3, 1.0),
        ("secretsmanager:GetSecretValue", 2, 0),
        ("kms:Decrypt", 2, 0),
        ("monitoring:PutMetricData", 3, 0),
        ("sns:ListTopics", 0.5, 0),
    ),
}

#: Records by callers that are never policy targets: (actor, call key, relative weight).
BACKGROUND = (
    ("root", "signin:ConsoleLogin", 0.5),
    ("root", "billingconsole:GetBillsForBillingPeriod", 0.3),
    ("root", "s3:ListBuckets", 0.3),
    ("root", "iam:GetAccountSummary", 0.2),
    ("service", "sts:AssumeRole#lambda", 3.0),
    ("service", "sts:AssumeRole#ec2", 2.0),
    ("service", "kms:GenerateDataKey#cloudtrail", 3.0),
    ("service_event", "secretsmanager:StartSecretVersionDelete", 0.2),
    ("service_event", "ec2:SharedSnapshotVolumeCreated", 0.2),
    ("service_event", "kms:RotateKey", 0.1),
    ("federated", "sts:GetCallerIdentity", 0.4),
    ("federated", "s3:ListBuckets", 0.4),
    ("federated", "ec2:DescribeInstances", 0.6),
    ("external", "s3:GetObject", 0.6),
    ("external", "kms:Decrypt", 0.3),
    ("saml", "sts:AssumeRoleWithSAML", 0.5),
)

#: Calls one account's principals make on another account's resources (cross-account copies).
CROSS_CALLS = ("s3:GetObject", "kms:Decrypt")

#: Users per account, in order: (name, path, profile). A user and a role share `deployer`.
USERS = (
    ("alice", "/dev/", "developer"),
    ("deployer", "/", "deployer"),
    ("bob", "/ops/", "admin"),
    ("carol", "/", "readonly"),
    ("ci-bot", "/automation/", "ci"),
    ("dana", "/data/", "data"),
)
#: Roles per account, in order: (name, path, profile, session kind). Every account has them.
ROLES = (
    ("deployer", "/app/", "deployer", "ci"),
    (
        "AWSReservedSSO_AdministratorAccess_{sso}",
        "/aws-reserved/sso.amazonaws.com/{region}",
        "admin",
        "sso",
    ),
    ("app-server", "/", "appserver", "instance"),
    ("lambda-exec", "/service-role/", "lambda", "lambda"),
    ("AWSReservedSSO_ReadOnly_{sso}", "/aws-reserved/sso.amazonaws.com/", "readonly", "sso"),
    ("etl-runner", "/data/", "data", "sdk"),
    ("ecs-task", "/app/", "ecs", "sdk"),
)

CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-aws exe/x86_64.ubuntu.22 prompt/off"
BOTO = (
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.79-99.167.amzn2023.x86_64 "
    "md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
)
TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64"
)
JS = "aws-sdk-js/3.540.0 ua/2.0 os/linux#6.5.0-1016-azure lang/js md/nodejs#20.11.1"
JAVA = (
    "aws-sdk-java/2.25.16 Linux/6.1.79-99.167.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/21.0.2+13"
    " Java/21.0.2 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache"
)
LAMBDA_AGENT = BOTO + " exec-env/AWS_Lambda_python3.12"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)
AGENTS = {
    "developer": (CLI, BOTO),
    "deployer": (TERRAFORM, JS),
    "admin": (CLI,),
    "readonly": (CLI, BOTO),
    "ci": (JS, CLI),
    "data": (BOTO, JAVA),
    "appserver": (BOTO, JAVA),
    "lambda": (LAMBDA_AGENT,),
    "ecs": (JAVA,),
}
CONSOLE_AGENTS = (BROWSER, "AWS Internal")
HUMAN_PROFILES = frozenset({"developer", "admin", "readonly", "data"})

#: eventVersion mix; versions before 1.06/1.07 lack managementEvent/eventCategory.
VERSIONS = (
    ("1.05", 3),
    ("1.06", 1),
    ("1.07", 2),
    ("1.08", 30),
    ("1.09", 25),
    ("1.10", 10),
    ("1.11", 29),
)
OLD_VERSIONS = (("1.05", 1), ("1.07", 1), ("1.08", 2))  # for pre-2021 suffixed names
LEGACY_NAME = re.compile(r"(?:\d{8}(?:v\d+)?|\d{4}_\d{2}_\d{2})$")
TLS = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256"}
#: Host headers that do not follow `<label>.<region>.amazonaws.com` (or global `<label>.…`).
HOSTS = {"s3": S3_HOST, "signin": "${region}.signin.aws.amazon.com"}


# --------------------------------------------------------------------------- record templates

SLOT_RE = re.compile(rb"@@[TERQVS]@@")
SLOT_INDEX = {b"@@T@@": 0, b"@@E@@": 1, b"@@R@@": 2, b"@@Q@@": 3, b"@@V@@": 4, b"@@S@@": 5}
SLOT_WIDTH = (20, 36, 36, 16, 12, 36)  # time, eventID, request uuid, S3 request id, var, shared


@dataclass(frozen=True, slots=True)
class Template:
    """A pre-rendered record: `fmt % pick(values)` fills its per-record slots."""

    fmt: bytes
    pick: itemgetter
    size: int  # bytes once filled
    key: int  # manifest key index, or -1 when the record is nobody's own API call


def _compile(record: dict[str, Json], key: int) -> Template:
    text = msgspec.json.encode(record)
    slots = [SLOT_INDEX[m] for m in SLOT_RE.findall(text)]
    fmt = SLOT_RE.sub(b"%b", text.replace(b"%", b"%%"))
    size = len(text) + sum(SLOT_WIDTH[s] - 5 for s in slots)
    return Template(fmt, itemgetter(*slots), size, key)


def _expand(value: Json, ctx: dict[str, str]) -> Json:
    """Fill `${name}` fields of a table entry from the context (strict: typos raise)."""
    if isinstance(value, str):
        return string.Template(value).substitute(ctx) if "$" in value else value
    if isinstance(value, dict):
        return {k: _expand(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_expand(v, ctx) for v in value]
    return value


def _version_at_least(version: str, minor: int) -> bool:
    return int(version.split(".")[1]) >= minor


@dataclass(frozen=True, slots=True)
class Caller:
    """How one record shows its caller: identity, client, address, eventVersion."""

    identity: dict[str, Json]
    agent: str
    ip: str
    version: str
    console: bool = False


def _record(
    call: Call,
    caller: Caller,
    ctx: dict[str, str],
    error: tuple[str, str] | None,
    recipient: str,
    shared: bool = False,
) -> dict[str, Json]:
    """A record in CloudTrail's field order, with `@@X@@` slots for per-record values."""
    version = caller.version
    service_side = bool(call.invoked_by) or call.event_type == "AwsServiceEvent"
    agent = call.invoked_by or caller.agent
    if call.label == "s3" and not call.invoked_by:
        agent = f"[{agent}]"
    record: dict[str, Json] = {
        "eventVersion": version,
        "userIdentity": caller.identity,
        "eventTime": "@@T@@",
        "eventSource": call.source,
        "eventName": call.name,
        "awsRegion": ctx["region"],
        "sourceIPAddress": call.invoked_by or caller.ip,
        "userAgent": agent,
    }
    if error:
        record["errorCode"], record["errorMessage"] = error
    record["requestParameters"] = _expand(call.params, ctx)
    record["responseElements"] = None if error else _expand(call.response, ctx)
    if call.extra is not None or call.label == "s3":
        record["additionalEventData"] = _expand(call.extra, ctx) or _s3_extra(ctx)
    if call.event_type != "AwsConsoleSignIn":
        record["requestID"] = "@@Q@@" if call.label == "s3" else "@@R@@"
    record["eventID"] = "@@E@@"
    record["readOnly"] = call.read_only
    if call.resources:
        record["resources"] = _expand(list(call.resources), ctx)
    record["eventType"] = call.event_type
    if call.label == "lambda" and not LEGACY_NAME.search(call.name):
        record["apiVersion"] = "2015-03-31"
    if _version_at_least(version, 6):
        record["managementEvent"] = not call.data
    record["recipientAccountId"] = recipient
    if shared:
        record["sharedEventID"] = "@@S@@"
    if _version_at_least(version, 7):
        record["eventCategory"] = "Data" if call.data else "Management"
    if _version_at_least(version, 8) and not service_side:
        region = "" if call.global_ else ".${region}"
        host = HOSTS.get(call.label) or f"{call.label}{region}.amazonaws.com"
        record["tlsDetails"] = {**TLS, "clientProvidedHostHeader": _expand(host, ctx)}
        if caller.console:
            record["sessionCredentialFromConsole"] = "true"
    return record


def _s3_extra(ctx: dict[str, str]) -> dict[str, Json]:
    return {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": ctx["amz_id"],
        "bytesTransferredOut": 1843,
    }


def _denial(call: Call, ctx: dict[str, str]) -> tuple[str, str]:
    """The errorCode and AWS-style message of a call IAM refused."""
    action = call.denied_action
    message = (
        f"User: {ctx['caller']} is not authorized to perform: {action} on resource: "
        f"{_expand(call.target, ctx)} because no identity-based policy allows the {action} action"
    )
    code = DENIED_CODE.get(call.label, DEFAULT_DENIED_CODE)
    if code == "Client.UnauthorizedOperation":
        message = (
            f"You are not authorized to perform this operation. {message}. "
            f"Encoded authorization failure message: {ctx['encoded']}"
        )
    return code, message


def _outcomes(
    call: Call, denied: float, ctx: dict[str, str]
) -> Iterator[tuple[str, tuple[str, str] | None, float]]:
    """(outcome, error, share) for each way a principal's call can end."""
    allowed = 1.0 - denied
    errors = sum(share for _, share in call.errors)
    yield "ok", None, allowed * (1.0 - errors)
    if denied:
        yield "denied", _denial(call, ctx), denied
    for code, share in call.errors:
        yield "error", (code, _expand(ERRORS[code], ctx)), allowed * share


# --------------------------------------------------------------------------- population


class _Ids:
    """Random-looking AWS identifiers, all drawn from one seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choices(alphabet, k=n))

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def ip(self, private: bool) -> str:
        r = self.rng.randrange
        if private:
            return f"10.{r(256)}.{r(256)}.{r(1, 255)}"
        return f"{self.rng.choice(('203.0.113', '198.51.100', '192.0.2'))}.{r(1, 255)}"


@dataclass(slots=True)
class Principal:
    """A policy target: an IAM user or role, with how it behaves."""

    arn: str
    kind: str  # "user" | "role"
    account: str
    name: str
    path: str
    profile: str
    weight: float
    home: str
    callers: list[Caller] = field(default_factory=list)
    caller_arns: list[str] = field(default_factory=list)  # ARN named in denials, per caller
    principal_id: str = ""

    def describe(self) -> dict[str, str]:
        return {
            "arn": self.arn,
            "kind": self.kind,
            "account": self.account,
            "name": self.name,
            "path": self.path,
            "profile": self.profile,
        }


def _human(start: int, offset: int) -> str:
    return time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(start + offset))


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _resource_context(spec: CorpusSpec, account: str, region: str, ids: _Ids) -> dict[str, str]:
    """The resources an account has in a region, named in requests and responses."""
    start = spec.start_epoch
    role = f"arn:aws:iam::{account}:role/"
    key_id, key2 = ids.uuid(), ids.uuid()
    return {
        "acct": account,
        "region": region,
        "owner": account,
        "bucket": f"orders-data-{account}-{region}",
        "key": time.strftime("exports/%Y/%m/%d/part-", time.gmtime(start)) + "@@V@@.json.gz",
        "version_id": ids.chars(ALNUM, 32),
        "kms_arn": f"arn:aws:kms:{region}:{account}:key/{key_id}",
        "kms_arn2": f"arn:aws:kms:{region}:{account}:key/{key2}",
        "function": "order-processor",
        "table": "orders",
        "table_arn": f"arn:aws:dynamodb:{region}:{account}:table/orders",
        "queue_url": f"https://sqs.{region}.amazonaws.com/{account}/orders-queue",
        "queue_arn": f"arn:aws:sqs:{region}:{account}:orders-queue",
        "topic_arn": f"arn:aws:sns:{region}:{account}:alerts",
        "cluster": "prod",
        "stack": "orders-app",
        "secret": "prod/orders/db",
        "secret_arn": f"arn:aws:secretsmanager:{region}:{account}:secret:prod/orders/db-"
        + ids.chars(ALNUM, 6),
        "param": "/orders/prod/db-host",
        "log_group": "/aws/lambda/order-processor",
        "instance": f"i-0{ids.hex(16)}",
        "ami": f"ami-0{ids.hex(16)}",
        "subnet": f"subnet-0{ids.hex(16)}",
        "vpc": f"vpc-0{ids.hex(16)}",
        "restapi": ids.chars(string.ascii_lowercase + string.digits, 10),
        "distribution": "E" + ids.chars(UPPER, 13),
        "zone": "Z0" + ids.chars(UPPER, 19),
        "msk_arn": f"arn:aws:kafka:{region}:{account}:cluster/events/{ids.uuid()}-3",
        "role_app": role + "app-server",
        "role_lambda": role + "service-role/lambda-exec",
        "role_task": role + "app/ecs-task",
        "role_exec": role + "ecsTaskExecutionRole",
        "role_cfn": role + "app/deployer",
        "role_deployer": role + "app/deployer",
        "role_repl": role + "service-role/s3-replication",
        "role_analyzer": role + "service-role/AccessAnalyzerMonitorServiceRole",
        "role_sso": role + "aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReadOnly_" + ids.hex(16),
        "profile_app": f"arn:aws:iam::{account}:instance-profile/app/app-server-profile",
        "trail_arn": f"arn:aws:cloudtrail:{spec.regions[0]}:{account}:trail/{TRAIL_NAME}",
        "uuid": ids.uuid(),
        "hex": ids.hex(24),
        "id17": ids.chars(UPPER, 17),
        "key16": ids.chars(UPPER, 16),
        "token": ids.uuid().upper(),
        "temp_key": "ASIA" + ids.chars(UPPER, 16),
        "session_token": "IQoJb3JpZ2luX2Vj" + ids.chars(ALNUM + "+/", 300),
        "created": _human(start, -86400),
        "expires": _human(start, 12 * 3600),
        "day": time.strftime("%Y/%m/%d", time.gmtime(start)),
        "amz_id": ids.chars(ALNUM + "+/", 76) + "=",
        "encoded": ids.chars(ALNUM + "-_", 240),
    }


def _sessions(kind: str, ids: _Ids) -> tuple[str, ...]:
    """Two session names for a role, shaped like what assumes it."""
    names = {
        "ci": lambda: f"gha-{ids.rng.randrange(10**9, 10**10)}",
        "sso": lambda: ids.rng.choice(("alice", "bob", "erin", "frank")) + "@example.com",
        "instance": lambda: f"i-0{ids.hex(16)}",
        "lambda": lambda: ids.rng.choice(("order-processor", "report-builder", "thumbnailer")),
        "sdk": lambda: f"botocore-session-{ids.rng.randrange(10**9, 10**10)}",
    }[kind]
    return names(), names()


def _versions(rng: random.Random, name: str) -> str:
    table = OLD_VERSIONS if LEGACY_NAME.search(name) else VERSIONS
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _user(spec: CorpusSpec, account: str, index: int, ids: _Ids) -> Principal:
    name, path, profile = USERS[index % len(USERS)]
    if index >= len(USERS):
        name = f"{name}{index // len(USERS) + 1}"
    arn = f"arn:aws:iam::{account}:user{path}{name}"
    p = Principal(
        arn,
        "user",
        account,
        name,
        path,
        profile,
        ids.rng.lognormvariate(0, 1.3),
        ids.rng.choice(spec.regions),
        principal_id="AIDA" + ids.chars(UPPER, 17),
    )
    base = {"type": "IAMUser", "principalId": p.principal_id, "arn": arn, "accountId": account}
    for agent in AGENTS[profile]:
        identity = {**base, "accessKeyId": "AKIA" + ids.chars(UPPER, 16), "userName": name}
        p.callers.append(Caller(identity, agent, ids.ip(False), ""))
        p.caller_arns.append(arn)
    if profile in HUMAN_PROFILES:
        identity = {
            **base,
            "accessKeyId": "ASIA" + ids.chars(UPPER, 16),
            "userName": name,
            "sessionContext": {
                "sessionIssuer": {},
                "webIdFederationData": {},
                "attributes": {
                    "creationDate": _iso(spec.start_epoch - 900),
                    "mfaAuthenticated": "true",
                },
            },
        }
        for agent in CONSOLE_AGENTS:
            p.callers.append(Caller(identity, agent, ids.ip(False), "", console=True))
            p.caller_arns.append(arn)
    return p


def _role(spec: CorpusSpec, account: str, index: int, ids: _Ids) -> Principal:
    name, path, profile, session_kind = ROLES[index % len(ROLES)]
    name = name.format(sso=ids.hex(16))
    if index >= len(ROLES):
        name = f"{name}-{index // len(ROLES) + 1}"
    # Identity Center puts a Region in the path in some accounts only.
    region = f"{spec.regions[0]}/" if spec.accounts.index(account) % 2 == 0 else ""
    path = path.format(region=region)
    path = path if path.endswith("/") else path + "/"
    arn = f"arn:aws:iam::{account}:role{path}{name}"
    role_id = "AROA" + ids.chars(UPPER, 17)
    p = Principal(
        arn,
        "role",
        account,
        name,
        path,
        profile,
        ids.rng.lognormvariate(0, 1.3),
        ids.rng.choice(spec.regions),
        principal_id=role_id,
    )
    issuer = {
        "type": "Role",
        "principalId": role_id,
        "arn": arn,
        "accountId": account,
        "userName": name,
    }
    private = profile in ("appserver", "lambda", "ecs", "data")
    agents = CONSOLE_AGENTS if session_kind == "sso" else AGENTS[profile]
    for session, agent in zip(_sessions(session_kind, ids), agents * 2, strict=False):
        sts_arn = f"arn:aws:sts::{account}:assumed-role/{name}/{session}"
        identity = {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{session}",
            "arn": sts_arn,
            "accountId": account,
            "accessKeyId": "ASIA" + ids.chars(UPPER, 16),
            "sessionContext": {
                "sessionIssuer": issuer,
                "webIdFederationData": {},
                "attributes": {
                    "creationDate": _iso(spec.start_epoch - 1200),
                    "mfaAuthenticated": "false",
                },
            },
        }
        p.callers.append(
            Caller(identity, agent, ids.ip(private), "", console=session_kind == "sso")
        )
        p.caller_arns.append(sts_arn)
    return p


def _background_identity(
    actor: str, account: str, call: Call, actors: dict[str, Json]
) -> dict[str, Json]:
    """The identity of a non-target caller; services show only the service's name."""
    if actor == "service":
        return {"type": "AWSService", "invokedBy": call.invoked_by}
    if actor == "service_event":
        return {"accountId": account, "invokedBy": call.invoked_by}
    return actors[actor]


def _actors(account: str, issuer: Principal | None, ids: _Ids, start: int) -> dict[str, Json]:
    """Identities of the account's non-target callers."""
    root = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": "ASIA" + ids.chars(UPPER, 16),
    }
    federated_issuer = (
        {
            "type": "IAMUser",
            "principalId": issuer.principal_id,
            "arn": issuer.arn,
            "accountId": account,
            "userName": issuer.name,
        }
        if issuer
        else {
            "type": "Root",
            "principalId": account,
            "arn": f"arn:aws:iam::{account}:root",
            "accountId": account,
        }
    )
    return {
        "root": root,
        "federated": {
            "type": "FederatedUser",
            "principalId": f"{account}:build-runner",
            "arn": f"arn:aws:sts::{account}:federated-user/build-runner",
            "accountId": account,
            "accessKeyId": "ASIA" + ids.chars(UPPER, 16),
            "sessionContext": {
                "sessionIssuer": federated_issuer,
                "webIdFederationData": {},
                "attributes": {"creationDate": _iso(start - 600), "mfaAuthenticated": "false"},
            },
        },
        "external": {
            "type": "AWSAccount",
            "principalId": "AIDA" + ids.chars(UPPER, 17),
            "accountId": EXTERNAL_ACCOUNT,
        },
        "saml": {
            "type": "SAMLUser",
            "principalId": ids.chars(ALNUM, 28) + "=:alice@example.com",
            "userName": "alice@example.com",
            "identityProvider": ids.chars(ALNUM, 28) + "=",
        },
    }


# --------------------------------------------------------------------------- the world


@dataclass(slots=True)
class Mix:
    """Templates to draw records from, with cumulative weights for `random.choices`."""

    templates: list[Template] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    cum_u64: list[int] = field(default_factory=list)  # cum scaled to [0, 2**64]
    fmts: list[bytes] = field(default_factory=list)
    picks: list[itemgetter] = field(default_factory=list)
    mean_size: float = 0.0

    def add(self, template: Template, weight: float) -> None:
        if weight > 0:
            self.templates.append(template)
            self.weights.append(weight)

    def seal(self) -> None:
        cum = list(accumulate(self.weights))
        total = cum[-1] if cum else 0.0
        self.cum_u64 = [round(c / total * 2**64) for c in cum]
        self.fmts = [t.fmt for t in self.templates]
        self.picks = [t.pick for t in self.templates]
        if total:
            self.mean_size = (
                sum(t.size * w for t, w in zip(self.templates, self.weights, strict=True)) / total
            )


@dataclass(slots=True)
class World:
    """Everything derived from a spec before any file is written; identical in every worker."""

    spec: CorpusSpec
    principals: list[Principal]
    keys: list[tuple[int, str, str, str]]  # (principal index, eventSource, eventName, outcome)
    mixes: dict[tuple[str, str], Mix]
    cross: dict[tuple[str, str, str], Mix]  # (caller account, owner account, region)
    cross_copies: dict[tuple[str, str, str], list[Template]]  # owner-side copy per template
    windows: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def streams(self) -> list[tuple[str, str]]:
        return [(a, r) for a in self.spec.accounts for r in self.spec.regions]

    @property
    def files_per_stream(self) -> int:
        return len(self.windows)

    def window(self, j: int) -> tuple[int, int, int]:
        """(first event second, end of events, delivery time) of file `j` of every stream."""
        return self.windows[j]


def _windows(spec: CorpusSpec, n: int) -> list[tuple[int, int, int]]:
    """File j of every stream covers one 5-minute slot; slots spread evenly, the last one last.

    Events reach back `MAX_LAG` before the slot ends; most files arrive one slot late.
    """
    slots = spec.days * 86400 // WINDOW
    rng = random.Random(f"{spec.seed}/delivery")
    windows = []
    for j in range(n):
        slot = j * (slots - 1) // (n - 1) if n > 1 else slots - 1
        hi = spec.start_epoch + (slot + 1) * WINDOW
        late = rng.random() < LATE_SHARE
        windows.append((max(spec.start_epoch, hi - MAX_LAG), hi, hi + WINDOW * late))
    return windows


class _Keys:
    """Manifest keys (principal, eventSource, eventName, outcome) numbered as first seen."""

    def __init__(self) -> None:
        self.index: dict[tuple[int, str, str, str], int] = {}

    def __call__(self, principal: int, call: Call, outcome: str) -> int:
        if call.event_type != "AwsApiCall":
            return -1
        return self.index.setdefault((principal, call.source, call.name, outcome), len(self.index))


def _logged_in(call: Call, region: str) -> bool:
    return region == GLOBAL_REGION if call.global_ else True


def _principal_templates(
    world_keys: _Keys,
    pi: int,
    p: Principal,
    region: str,
    ctx: dict[str, str],
    rng: random.Random,
    mix: Mix,
) -> None:
    """Add a principal's templates for one region to the mix."""
    for key, weight, denied in PROFILES[p.profile]:
        call = CALLS[key]
        if not _logged_in(call, region):
            continue
        bias = 1.0 if call.global_ or region == p.home else HOME_REGION_BIAS
        for _ in range(VARIANTS):
            ci = rng.randrange(len(p.callers))
            caller = _variant(p.callers[ci], call, rng)
            local = {**ctx, "self_name": p.name, "caller": p.caller_arns[ci]}
            for outcome, error, share in _outcomes(call, denied, local):
                template = _compile(
                    _record(call, caller, local, error, p.account), world_keys(pi, call, outcome)
                )
                mix.add(template, p.weight * bias * weight * share / VARIANTS)


def _variant(caller: Caller, call: Call, rng: random.Random) -> Caller:
    """The caller as one call shows it: version drawn, sign-in and forward-access shapes."""
    identity = caller.identity
    if call.event_type == "AwsConsoleSignIn":  # a password sign-in: no keys, no session yet
        dropped = (
            ("accessKeyId", "sessionContext") if identity["type"] == "IAMUser" else ("accessKeyId",)
        )
        identity = {k: v for k, v in identity.items() if k not in dropped}
    elif call.invoked_by:
        identity = {**identity, "invokedBy": call.invoked_by}
    return Caller(identity, caller.agent, caller.ip, _versions(rng, call.name), caller.console)


def _background_templates(
    account: str,
    region: str,
    ctx: dict[str, str],
    actors: dict[str, Json],
    rng: random.Random,
    scale: float,
    mix: Mix,
) -> None:
    """Add the records of callers that are never targets (they must never be counted)."""
    for actor, key, weight in BACKGROUND:
        call = CALLS[key]
        if not _logged_in(call, region):
            continue
        identity = _background_identity(actor, account, call, actors)
        agent = BROWSER if actor == "root" else CLI
        caller = _variant(Caller(identity, agent, "198.51.100.77", ""), call, rng)
        mix.add(_compile(_record(call, caller, ctx, None, account), -1), weight * scale)


def _cross_templates(
    keys: _Keys,
    pi: int,
    p: Principal,
    owner_ctx: dict[str, str],
    rng: random.Random,
    mix: Mix,
    copies: list[Template],
) -> None:
    """A principal's calls on another account's resources, and the owner-side copies."""
    for key in CROSS_CALLS:
        call = CALLS[key]
        ci = rng.randrange(len(p.callers))
        caller = _variant(p.callers[ci], call, rng)
        ctx = {**owner_ctx, "self_name": p.name, "caller": p.caller_arns[ci]}
        mine = _record(call, caller, ctx, None, p.account, shared=True)
        mix.add(_compile(mine, keys(pi, call, "ok")), p.weight)
        seen_as = {
            "type": "AWSAccount",
            "principalId": caller.identity["principalId"],
            "accountId": p.account,
        }
        theirs = _record(
            call,
            Caller(seen_as, caller.agent, caller.ip, caller.version),
            ctx,
            None,
            owner_ctx["owner"],
            shared=True,
        )
        copies.append(_compile(theirs, -1))


@lru_cache(maxsize=4)
def _world(spec: CorpusSpec) -> World:
    """Build principals and all templates. Deterministic: one RNG, fixed iteration order."""
    rng = random.Random(f"{spec.seed}/world")
    ids = _Ids(rng)
    keys = _Keys()
    principals: list[Principal] = []
    contexts: dict[tuple[str, str], dict[str, str]] = {}
    mixes: dict[tuple[str, str], Mix] = {}
    for account in spec.accounts:
        for region in spec.regions:
            contexts[account, region] = _resource_context(spec, account, region, ids)
        members = [_user(spec, account, i, ids) for i in range(spec.users_per_account)]
        members += [_role(spec, account, i, ids) for i in range(spec.roles_per_account)]
        first = len(principals)
        principals += members
        issuer = next((m for m in members if m.kind == "user"), None)
        actors = _actors(account, issuer, ids, spec.start_epoch)
        for region in spec.regions:
            mix = mixes[account, region] = Mix()
            ctx = contexts[account, region]
            for offset, p in enumerate(members):
                _principal_templates(keys, first + offset, p, region, ctx, rng, mix)
            own = sum(mix.weights)
            background = sum(w for _, key, w in BACKGROUND if _logged_in(CALLS[key], region))
            scale = BACKGROUND_SHARE / (1 - BACKGROUND_SHARE) * own / background if own else 1.0
            _background_templates(account, region, ctx, actors, rng, scale, mix)
            mix.seal()
    cross: dict[tuple[str, str, str], Mix] = {}
    cross_copies: dict[tuple[str, str, str], list[Template]] = {}
    for caller_account, owner in _cross_pairs(spec.accounts):
        for region in spec.regions:
            mix, copies = Mix(), []
            for pi, p in enumerate(principals):
                if p.account == caller_account:
                    _cross_templates(keys, pi, p, contexts[owner, region], rng, mix, copies)
            mix.seal()
            cross[caller_account, owner, region] = mix
            cross_copies[caller_account, owner, region] = copies
    world = World(spec, principals, list(keys.index), mixes, cross, cross_copies)
    world.windows = _windows(spec, _files_per_stream(world))
    return world


def _cross_pairs(accounts: Sequence[str]) -> list[tuple[str, str]]:
    """Each account calls into the next one (a ring), so copies stay O(accounts)."""
    if len(accounts) < 2:
        return []
    return [(a, accounts[(i + 1) % len(accounts)]) for i, a in enumerate(accounts)]


def _files_per_stream(world: World) -> int:
    """Files per account and region that bring the corpus close to `target_bytes` (>= 1)."""
    spec = world.spec
    mean_records = sum(spec.records_per_file) / 2
    mean_size = sum(m.mean_size for m in world.mixes.values()) / len(world.mixes)
    per_file = mean_records * (mean_size + 1)
    return max(1, round(spec.target_bytes / (per_file * len(world.mixes))))


# --------------------------------------------------------------------------- log files

SECONDS = [b"%02dZ" % s for s in range(60)]


def _uuid_bits(n: int) -> tuple[int, int]:
    """Masks that make n concatenated 128-bit numbers RFC 4122 version-4 UUIDs."""
    mask, bits = bytearray(b"\xff" * 16), bytearray(16)
    mask[6], bits[6] = 0x0F, 0x40
    mask[8], bits[8] = 0x3F, 0x80
    return int.from_bytes(bytes(mask) * n, "big"), int.from_bytes(bytes(bits) * n, "big")


def _uuids(rng: random.Random, n: int) -> tuple[bytes, ...]:
    """n random UUIDs in a handful of C-level calls (per-record formatting is the bottleneck).

    The hex is grouped by 4 digits (`g0-g1-...-g7-`); struct keeps `g0`, `g1-g2-g3-g4-g5`,
    `g6`, `g7`, and the join gives `g0g1-g2-g3-g4-g5g6g7`, the UUID layout.
    """
    mask, bits = _uuid_bits(n)
    number = rng.getrandbits(128 * n) & mask | bits
    grouped = hexlify(number.to_bytes(16 * n, "big"), b"-", 2) + b"-"
    return struct.unpack("36s" * n, b"".join(struct.unpack("4sx24sx4sx4sx" * n, grouped)))


def _hex(rng: random.Random, n: int, width: int, upper: bool = False) -> tuple[bytes, ...]:
    """n random hex strings of `width` digits (S3 request ids are upper case)."""
    text = hexlify(rng.randbytes(n * width // 2))
    return struct.unpack(f"{width}s" * n, text.upper() if upper else text)


@lru_cache(maxsize=1)
def _lags() -> list[int]:
    """Lag (seconds before the window ends) by uniform 16-bit draw: u**3 puts ~80% of the
    events in the last 5 minutes, so most of a file's records are only minutes old."""
    return [int(MAX_LAG * (k / 65536) ** 3) for k in range(65536)]


@lru_cache(maxsize=64)
def _times(lo: int, hi: int) -> list[bytes]:
    """`eventTime` by lag for a window (windows clipped at the corpus start are squeezed)."""
    first = lo - lo % 60
    minutes = [
        time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(m)).encode() for m in range(first, hi, 60)
    ]
    span = hi - lo
    table = []
    for lag in range(MAX_LAG):
        second = hi - 1 - lag * span // MAX_LAG - first
        table.append(minutes[second // 60] + SECONDS[second % 60])
    return table


def _event_times(rng: random.Random, n: int, lo: int, hi: int) -> map[bytes]:
    """n event times in the window, skewed towards its end. Bulk C-level draws, like below."""
    draws = struct.unpack(f"<{n}H", rng.randbytes(2 * n))
    return map(_times(lo, hi).__getitem__, map(_lags().__getitem__, draws))


def _choose(mix: Mix, rng: random.Random, n: int) -> list[int]:
    """n template indices by weight (`random.choices` with the loop in C)."""
    draws = struct.unpack(f"<{n}Q", rng.randbytes(8 * n))
    return list(map(bisect_right, repeat(mix.cum_u64, n), draws))


def _draw(mix: Mix, rng: random.Random, n: int, lo: int, hi: int) -> tuple[list[bytes], list[int]]:
    """n records drawn from the mix; returns them and the template indices drawn."""
    chosen = _choose(mix, rng, n)
    ids = _uuids(rng, 2 * n)
    fmts, picks = mix.fmts, mix.picks
    rows = zip(
        chosen,
        _event_times(rng, n, lo, hi),
        ids[:n],
        ids[n:],
        _hex(rng, n, 16, True),
        _hex(rng, n, 12),
        strict=True,
    )
    return [fmts[i] % picks[i]((t, e, r, q, v, b"")) for i, t, e, r, q, v in rows], chosen


def _count(mix: Mix, chosen: list[int], into: Counter[int]) -> None:
    templates = mix.templates
    for i, n in Counter(chosen).items():
        key = templates[i].key
        if key >= 0:
            into[key] += n


def _duplicates(world: World, account: str, region: str, j: int) -> tuple[list[bytes], list[int]]:
    """Records of file j that CloudTrail delivers again in file j + 1 (same eventID)."""
    rng = random.Random(f"{world.spec.seed}/dup/{account}/{region}/{j}")
    if j < 0 or (rng.random() >= DUP_SHARE and j > 0):  # the first file always has some
        return [], []
    return _draw(world.mixes[account, region], rng, rng.randint(1, 3), *world.window(j)[:2])


def _cross_calls(
    world: World, caller: str, owner: str, region: str, j: int
) -> tuple[list[bytes], list[bytes], list[int]]:
    """Cross-account calls of file j: caller-side records, owner-side copies, templates drawn."""
    mix = world.cross.get((caller, owner, region))
    rng = random.Random(f"{world.spec.seed}/cross/{caller}/{owner}/{region}/{j}")
    if not mix or not mix.fmts or rng.random() >= CROSS_SHARE:
        return [], [], []
    n = rng.randint(1, 2)
    chosen = _choose(mix, rng, n)
    ids = _uuids(rng, 4 * n)  # caller's eventID, owner's eventID, requestID, sharedEventID
    rows = zip(
        chosen,
        _event_times(rng, n, *world.window(j)[:2]),
        ids[:n],
        ids[n : 2 * n],
        ids[2 * n : 3 * n],
        ids[3 * n :],
        _hex(rng, n, 16, True),
        _hex(rng, n, 12),
        strict=True,
    )
    copies = world.cross_copies[caller, owner, region]
    mine, theirs = [], []
    for i, t, e_mine, e_theirs, r, shared, q, v in rows:
        mine.append(mix.fmts[i] % mix.picks[i]((t, e_mine, r, q, v, shared)))
        theirs.append(copies[i].fmt % copies[i].pick((t, e_theirs, r, q, v, shared)))
    return mine, theirs, chosen


@dataclass(slots=True)
class _FileOut:
    key: str
    data: bytes
    records: int
    raw_size: int
    counts: Counter[int]
    duplicates: int
    cross: int


def _log_file(world: World, account: str, region: str, j: int) -> _FileOut:
    """File j of an account/region stream, with its own records, duplicates and copies."""
    spec = world.spec
    rng = random.Random(f"{spec.seed}/file/{account}/{region}/{j}")
    lo, hi, delivered = world.window(j)
    mix = world.mixes[account, region]
    counts: Counter[int] = Counter()
    records, chosen = _draw(mix, rng, rng.randint(*spec.records_per_file), lo, hi)
    _count(mix, chosen, counts)
    extra, again, cross = _extras(world, account, region, j, counts)
    for record in extra:
        records.insert(rng.randrange(len(records) + 1), record)
    records[0] = b'{"Records":[' + records[0]  # one join: no second copy of the body
    records[-1] += b"]}"
    body = b",".join(records)
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
    name = f"{account}_CloudTrail_{region}_{stamp}_{''.join(rng.choices(ALNUM, k=16))}.json"
    data = body
    if spec.gzip:
        name += ".gz"
        data = igzip.compress(body, GZIP_LEVEL, mtime=0)
    key = f"{_folder(spec, account, 'CloudTrail', region, delivered)}/{name}"
    return _FileOut(key, data, len(records), len(body), counts, again, cross)


def _extras(
    world: World, account: str, region: str, j: int, counts: Counter[int]
) -> tuple[list[bytes], int, int]:
    """File j's records shared with other files: duplicates and cross-account copies.

    Counts only what this file delivers first: its own duplicated records, not the
    previous file's again, and its account's side of cross-account calls. Returns the
    records, how many are re-deliveries and how many are calls into another account.
    """
    extra, chosen = _duplicates(world, account, region, j)
    _count(world.mixes[account, region], chosen, counts)
    again, _ = _duplicates(world, account, region, j - 1)
    extra += again
    calls = 0
    for caller, owner in _cross_pairs(world.spec.accounts):
        if account in (caller, owner):
            mine, theirs, chosen = _cross_calls(world, caller, owner, region, j)
            if account == caller:
                extra += mine
                _count(world.cross[caller, owner, region], chosen, counts)
                calls += len(chosen)
            else:
                extra += theirs
    return extra, len(again), calls


def _folder(spec: CorpusSpec, account: str, kind: str, region: str, when: int) -> str:
    """`[prefix/]AWSLogs/[org/]<acct>/<kind>/<region>/YYYY/MM/DD` (an S3 key prefix)."""
    parts = [
        spec.prefix,
        "AWSLogs",
        spec.org_id or "",
        account,
        kind,
        region,
        time.strftime("%Y/%m/%d", time.gmtime(when)),
    ]
    return "/".join(p for p in parts if p)


@dataclass(slots=True)
class _Partial:
    """What a worker reports: aggregate counts only, so memory stays bounded."""

    counts: Counter[int] = field(default_factory=Counter)
    files: int = 0
    records: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    duplicates: int = 0
    cross: int = 0
    digested: dict[tuple[str, str, int], tuple[str, str, str, str]] = field(default_factory=dict)

    def merge(self, other: _Partial) -> None:
        self.counts.update(other.counts)
        self.files += other.files
        self.records += other.records
        self.raw_bytes += other.raw_bytes
        self.stored_bytes += other.stored_bytes
        self.duplicates += other.duplicates
        self.cross += other.cross
        self.digested.update(other.digested)


def _digest_files(world: World) -> range:
    """Indices of the files that the first digest of every stream covers (its first hour)."""
    hour = world.window(0)[2] // 3600
    n = 0
    while n < world.files_per_stream and world.window(n)[2] // 3600 == hour:
        n += 1
    return range(n)


def _run(root: str, spec: CorpusSpec, jobs: list[tuple[str, str, int]]) -> _Partial:
    """Write a batch of log files (runs in a worker process when workers > 1)."""
    world = _world(spec)
    digested = _digest_files(world)
    part = _Partial()
    made: set[Path] = set()
    for account, region, j in jobs:
        out = _log_file(world, account, region, j)
        path = Path(root, out.key)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(out.data)
        part.counts.update(out.counts)
        part.files += 1
        part.records += out.records
        part.raw_bytes += out.raw_size
        part.stored_bytes += len(out.data)
        part.duplicates += out.duplicates
        part.cross += out.cross
        if j in digested:
            part.digested[account, region, j] = (
                out.key,
                hashlib.sha256(out.data).hexdigest(),
                *_event_span(world, j),
            )
    return part


def _event_span(world: World, j: int) -> tuple[str, str]:
    lo, hi, _ = world.window(j)
    return _iso(lo), _iso(hi - 1)


# --------------------------------------------------------------------------- digests, insights


def _gz_json(path: Path, value: Json) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(igzip.compress(msgspec.json.encode(value), GZIP_LEVEL, mtime=0))


def _write_digests(root: Path, world: World, part: _Partial) -> int:
    """One hourly digest per stream, listing the hashes of the log files of its first hour."""
    spec = world.spec
    rng = random.Random(f"{spec.seed}/digests")
    hour_start = world.window(0)[2] // 3600 * 3600
    written = 0
    for account, region in world.streams:
        files = [part.digested[account, region, j] for j in _digest_files(world)]
        when = hour_start + 3600 + rng.randrange(60, 900)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
        key = (
            f"{_folder(spec, account, 'CloudTrail-Digest', region, when)}/{account}_"
            f"CloudTrail-Digest_{region}_{TRAIL_NAME}_{spec.regions[0]}_{stamp}.json.gz"
        )
        _gz_json(
            root / key,
            {
                "awsAccountId": account,
                "digestStartTime": _iso(hour_start),
                "digestEndTime": _iso(hour_start + 3600),
                "digestS3Bucket": TRAIL_BUCKET,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": f"{rng.getrandbits(128):032x}",
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": max(f[3] for f in files),
                "oldestEventTime": min(f[2] for f in files),
                "previousDigestS3Bucket": None,
                "previousDigestS3Object": None,
                "previousDigestHashValue": None,
                "previousDigestHashAlgorithm": None,
                "previousDigestSignature": None,
                "logFiles": [
                    {
                        "s3Bucket": TRAIL_BUCKET,
                        "s3Object": k,
                        "hashValue": h,
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": new,
                        "oldestEventTime": old,
                    }
                    for k, h, old, new in files
                ],
            },
        )
        written += 1
    return written


def _write_insight(root: Path, spec: CorpusSpec) -> None:
    """An Insights file (start and end of an unusual RunInstances rate) in its own folder."""
    rng = random.Random(f"{spec.seed}/insight")
    ids = _Ids(rng)
    account, region = spec.accounts[0], spec.regions[0]
    began = spec.start_epoch + spec.days * 86400 // 2
    shared = ids.uuid()

    def insight(state: str, at: int) -> dict[str, Json]:
        return {
            "eventVersion": "1.08",
            "eventTime": _iso(at),
            "awsRegion": region,
            "eventID": ids.uuid(),
            "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": account,
            "sharedEventID": shared,
            "insightDetails": {
                "state": state,
                "eventSource": "ec2.amazonaws.com",
                "eventName": "RunInstances",
                "insightType": "ApiCallRateInsight",
                "insightContext": {
                    "statistics": {
                        "baseline": {"average": 0.0125},
                        "insight": {"average": 3.5},
                        "insightDuration": 4,
                    }
                },
            },
            "eventCategory": "Insight",
        }

    delivered = began + 900
    stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(delivered))
    name = f"{account}_CloudTrail-Insight_{region}_{stamp}_{ids.chars(ALNUM, 16)}.json.gz"
    folder = _folder(spec, account, "CloudTrail-Insight", region, delivered)
    _gz_json(
        root / folder / name, {"Records": [insight("Start", began), insight("End", began + 240)]}
    )


# --------------------------------------------------------------------------- manifest

OUTCOMES = ("ok", "denied", "error")


@dataclass
class Manifest:
    """Ground truth: the principals and, per principal, its own API calls by outcome.

    A record is a principal's own call when its `eventType` is `AwsApiCall` and its
    identity is the user (`IAMUser`, `arn`) or a session of the role (`AssumedRole`,
    `sessionContext.sessionIssuer.arn`), whoever `invokedBy` names; every eventID counts
    once (re-delivered duplicates and other accounts' copies do not add calls).
    """

    params: dict[str, Json]
    principals: list[dict[str, str]]
    counts: dict[str, dict[tuple[str, str], dict[str, int]]]
    stats: dict[str, int]

    def calls(self, principal_arn: str) -> dict[tuple[str, str], dict[str, int]]:
        """(eventSource, eventName) -> {"ok": n, "denied": n, "error": n} for a principal."""
        return self.counts.get(principal_arn, {})

    def to_json(self) -> str:
        principals = [
            {
                **p,
                "calls": [
                    {"eventSource": s, "eventName": n, **c}
                    for (s, n), c in sorted(self.calls(p["arn"]).items())
                ],
            }
            for p in self.principals
        ]
        return msgspec.json.format(
            msgspec.json.encode(
                {"params": self.params, "stats": self.stats, "principals": principals}
            ),
            indent=2,
        ).decode()

    def write(self, path: Path | str) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        doc = msgspec.json.decode(text)
        principals, counts = [], {}
        for entry in doc["principals"]:
            calls = entry.pop("calls")
            principals.append(entry)
            counts[entry["arn"]] = {
                (c["eventSource"], c["eventName"]): {o: c[o] for o in OUTCOMES} for c in calls
            }
        return cls(doc["params"], principals, counts, doc["stats"])

    @classmethod
    def read(cls, path: Path | str) -> Manifest:
        return cls.from_json(Path(path).read_bytes())


def _manifest(world: World, part: _Partial, digests: int) -> Manifest:
    counts: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
    for key, n in sorted(part.counts.items()):
        pi, source, name, outcome = world.keys[key]
        per_call = counts.setdefault(world.principals[pi].arn, {})
        per_call.setdefault((source, name), dict.fromkeys(OUTCOMES, 0))[outcome] += n
    # As JSON has it: lists, not tuples.
    params = msgspec.json.decode(msgspec.json.encode(asdict(world.spec)))
    stats = {
        "log_files": part.files,
        "records": part.records,
        "raw_bytes": part.raw_bytes,
        "stored_bytes": part.stored_bytes,
        "duplicate_records": part.duplicates,
        "cross_account_calls": part.cross,
        "files_per_stream": world.files_per_stream,
        "digest_files": digests,
        "insight_files": 1,
    }
    return Manifest(params, [p.describe() for p in world.principals], counts, stats)


# --------------------------------------------------------------------------- entry point


def generate_corpus(
    root: Path | str, spec: CorpusSpec, workers: int = 1, write_manifest: bool = True
) -> Manifest:
    """Write the corpus under `root` and return its manifest.

    Output depends only on `spec`: `workers` processes split the files between them, and
    every file is drawn from its own seeded RNG. The manifest goes to `manifest.json`
    beside `AWSLogs` (under the key prefix), outside the CloudTrail layout.
    """
    root = Path(root)
    world = _world(spec)
    # Window-major order: consecutive files share a window and its cached time table.
    jobs = [(a, r, j) for j in range(world.files_per_stream) for a, r in world.streams]
    part = _Partial()
    if workers <= 1:
        part = _run(str(root), spec, jobs)
    else:
        size = max(1, len(jobs) // (workers * 4))
        batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(
                _run, [str(root)] * len(batches), [spec] * len(batches), batches
            ):
                part.merge(result)
    digests = _write_digests(root, world, part)
    _write_insight(root, spec)
    manifest = _manifest(world, part, digests)
    if write_manifest:
        base = root / spec.prefix if spec.prefix else root
        manifest.write(base / "manifest.json")
    return manifest
