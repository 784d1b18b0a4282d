"""The calls the synthetic principals make, and how each profile mixes them.

The tables are data: `calls.json` holds one entry per API operation as CloudTrail logs it
(request and response shapes, resources, errors), `profiles.json` each behaviour profile's
`[call key, relative weight, share IAM denies]` and the background callers'
`[actor, call key, relative weight]`. Both are decoded strictly (an unknown field or a
wrong type fails at import), and their order is part of the output: the same tables and
seed write the same bytes.
"""

from __future__ import annotations

from importlib.resources import files

import msgspec

from policygen_synth.spec import Json

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


class Call(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One API operation as CloudTrail logs it, and what makes its records realistic.

    `key` is `<eventSource label>:<eventName>[#variant]`; variants are the same event
    with other parameters (a versioned S3 read, a PartiQL verb, a forward-access call).
    `${name}` fields are filled from the account's resources, `@@X@@` slots per record.
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
    global_: bool = msgspec.field(default=False, name="global")  # logged in us-east-1 only
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


class Behaviour(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """profiles.json: who calls what, how often, and how often IAM says no."""

    profiles: dict[str, tuple[tuple[str, float, float], ...]]
    background: tuple[tuple[str, str, float], ...]  # callers that are never policy targets


def _load_calls() -> dict[str, Call]:
    calls = msgspec.json.decode(_data("calls.json"), type=list[Call])
    table = {c.key: c for c in calls}
    if len(table) != len(calls):
        raise ValueError("calls.json names a call key twice")
    return table


def _data(name: str) -> bytes:
    return files(__package__).joinpath(name).read_bytes()


CALLS = _load_calls()
_BEHAVIOUR = msgspec.json.decode(_data("profiles.json"), type=Behaviour)
#: Behaviour profiles: (call key, relative weight, share of these calls that IAM denies).
PROFILES = _BEHAVIOUR.profiles
#: Records by callers that are never policy targets: (actor, call key, relative weight).
BACKGROUND = _BEHAVIOUR.background

#: Calls one account's principals make on another account's resources (cross-account copies).
CROSS_CALLS = ("s3:GetObject", "kms:Decrypt")
