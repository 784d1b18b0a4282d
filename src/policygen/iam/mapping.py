"""CloudTrail call -> IAM actions.

The rule is `<prefix>:<eventName>` with the prefix taken from `eventSource`, but the
exceptions matter: services whose endpoint is not their IAM prefix, S3 calls named after
the REST API rather than the IAM action, old Lambda and CloudFront names with API-version
suffixes, calls that need several actions, and API Gateway's HTTP-verb actions. The
reasoning and sources for every table are in `event-to-action.md`.

Every action returned exists in the catalogue, in its casing; a call that resolves to
nothing known is reported "unmapped" rather than guessed. botocore models are loaded only
when a call needs them (API Gateway verbs, unknown event sources).
"""

from __future__ import annotations

import gzip
import os
import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

import msgspec

from policygen.cloudtrail.qualifiers import PARTIQL, PARTIQL_CALLS, VERSION, event_host
from policygen.iam import catalogue, operations
from policygen.iam.operations import Grant

Status = Literal["mapped", "unmapped", "ignored"]


@dataclass(frozen=True, slots=True)
class Mapped:
    """The IAM actions one kind of CloudTrail call needs, or why it has none."""

    #: canonical catalogue actions, sorted and deduplicated; () unless status is "mapped".
    actions: tuple[str, ...]
    #: IAM prefix of the eventSource, even when the catalogue does not know it.
    prefix: str
    #: "ignored": not a permission check (sign-in, portal, console-internal events);
    #: "unmapped": a real call with no known catalogue action (makes the result incomplete).
    status: Status
    reason: str = ""
    #: (action, the rule or cited entry that maps the call to it), for `explain`.
    rules: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------------------------------
# Tables (event-to-action.md §2 and §3). Names are keyed lower-cased: eventName casing
# varies, and the catalogue supplies the canonical casing of the result.

#: eventSource (without `.amazonaws.com`) -> IAM prefix, where the first label is wrong.
_PREFIX_OVERRIDES: dict[str, str] = {
    "monitoring": "cloudwatch",
    "tagging": "tag",
    "streams.dynamodb": "dynamodb",
    "appstream2": "appstream",
    "models.lex": "lex",
    "runtime.lex": "lex",
    "mturk-requester": "mechanicalturk",
    "email": "ses",
    "amazonmq": "mq",
    "application-insights": "applicationinsights",
    "billingconsole": "billing",
    "chime-sdk-media-pipelines": "chime",
    "chime-sdk-voice": "chime",
    "cloudcontrolapi": "cloudformation",
    "contact-lens": "connect",
    "participant-connect": "connect",
    "participant.connect": "connect",  # botocore's endpoint; its signingName is execute-api
    "agreement-marketplace": "aws-marketplace",
    "discovery-marketplace": "aws-marketplace",
    "reporting-marketplace": "aws-marketplace",
    "marketplacecatalog": "aws-marketplace",
    "management-marketplace": "aws-marketplace-management",
    "migrationhub": "mgh",
    "opensearchservice": "es",
    "pinpoint": "mobiletargeting",
    "pricelist": "pricing",
    "qconnect": "wisdom",
    "rdsdata": "rds-data",
    "servicecatalog-appregistry": "servicecatalog",
    "taxconsole": "tax",
    "transcribestreaming": "transcribe",
    # IoT data plane, jobs and secure tunneling (botocore endpoints; IAM prefixes per the
    # SAR: iot:Publish, iotjobsdata:DescribeJobExecution, iot:OpenTunnel)
    "data-ats.iot": "iot",
    "data.iot": "iot",
    "iotdata": "iot",
    "data.jobs.iot": "iotjobsdata",
    "api.tunneling.iot": "iot",
}

#: (prefix, eventName) -> actions, where the action is not named like the event.
_RENAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "listbuckets"): ("s3:ListAllMyBuckets",),
    ("s3", "listobjects"): ("s3:ListBucket",),
    ("s3", "listobjectsv2"): ("s3:ListBucket",),
    ("s3", "headbucket"): ("s3:ListBucket",),
    ("s3", "listobjectversions"): ("s3:ListBucketVersions",),
    ("s3", "listmultipartuploads"): ("s3:ListBucketMultipartUploads",),
    ("s3", "listparts"): ("s3:ListMultipartUploadParts",),
    ("s3", "headobject"): ("s3:GetObject",),
    ("s3", "selectobjectcontent"): ("s3:GetObject",),
    ("s3", "createmultipartupload"): ("s3:PutObject",),
    ("s3", "uploadpart"): ("s3:PutObject",),
    ("s3", "completemultipartupload"): ("s3:PutObject",),
    ("s3", "copyobject"): ("s3:GetObject", "s3:PutObject"),
    ("s3", "uploadpartcopy"): ("s3:GetObject", "s3:PutObject"),
    ("s3", "deleteobjects"): ("s3:DeleteObject",),
    ("s3", "getbucketencryption"): ("s3:GetEncryptionConfiguration",),
    ("s3", "putbucketencryption"): ("s3:PutEncryptionConfiguration",),
    ("s3", "deletebucketencryption"): ("s3:PutEncryptionConfiguration",),
    ("s3", "getbucketlifecycle"): ("s3:GetLifecycleConfiguration",),
    ("s3", "getbucketlifecycleconfiguration"): ("s3:GetLifecycleConfiguration",),
    ("s3", "putbucketlifecycle"): ("s3:PutLifecycleConfiguration",),
    ("s3", "putbucketlifecycleconfiguration"): ("s3:PutLifecycleConfiguration",),
    ("s3", "deletebucketlifecycle"): ("s3:PutLifecycleConfiguration",),
    ("s3", "getbucketreplication"): ("s3:GetReplicationConfiguration",),
    # Not s3:DeleteReplicationConfiguration (trailscraper's bug): that action does not exist.
    ("s3", "putbucketreplication"): ("s3:PutReplicationConfiguration",),
    ("s3", "deletebucketreplication"): ("s3:PutReplicationConfiguration",),
    ("s3", "getbucketnotificationconfiguration"): ("s3:GetBucketNotification",),
    ("s3", "putbucketnotificationconfiguration"): ("s3:PutBucketNotification",),
    ("s3", "getbucketaccelerateconfiguration"): ("s3:GetAccelerateConfiguration",),
    ("s3", "putbucketaccelerateconfiguration"): ("s3:PutAccelerateConfiguration",),
    ("s3", "getbucketcors"): ("s3:GetBucketCORS",),
    ("s3", "putbucketcors"): ("s3:PutBucketCORS",),
    ("s3", "deletebucketcors"): ("s3:PutBucketCORS",),
    ("s3", "deletebuckettagging"): ("s3:PutBucketTagging",),
    ("s3", "deletebucketpublicaccessblock"): ("s3:PutBucketPublicAccessBlock",),
    ("s3", "deleteaccountpublicaccessblock"): ("s3:PutAccountPublicAccessBlock",),
    ("s3", "deletebucketownershipcontrols"): ("s3:PutBucketOwnershipControls",),
    ("s3", "getobjectlockconfiguration"): ("s3:GetBucketObjectLockConfiguration",),
    ("s3", "putobjectlockconfiguration"): ("s3:PutBucketObjectLockConfiguration",),
    ("kms", "reencrypt"): ("kms:ReEncryptFrom", "kms:ReEncryptTo"),
    ("lambda", "invoke"): ("lambda:InvokeFunction",),
}


def _s3_configuration_renames() -> dict[tuple[str, str], tuple[str, ...]]:
    """S3 bucket sub-configurations: Get/List calls need one Get action, Put/Delete calls one
    Put action (`DeleteBucketInventoryConfiguration` -> `s3:PutInventoryConfiguration`)."""
    renames = {}
    for kind in ("Analytics", "Inventory", "Metrics", "IntelligentTiering"):
        get, put = (f"s3:Get{kind}Configuration",), (f"s3:Put{kind}Configuration",)
        for event, action in (
            (f"GetBucket{kind}Configuration", get),
            (f"ListBucket{kind}Configurations", get),
            (f"PutBucket{kind}Configuration", put),
            (f"DeleteBucket{kind}Configuration", put),
        ):
            renames["s3", event.lower()] = action
    return renames


_RENAMES.update(_s3_configuration_renames())

#: (prefix, eventName) -> actions when the request names an object version (qualifier
#: "version"): S3 authorizes the `...Version...` variant instead.
_VERSIONED: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "getobject"): ("s3:GetObjectVersion",),
    ("s3", "headobject"): ("s3:GetObjectVersion",),
    ("s3", "selectobjectcontent"): ("s3:GetObjectVersion",),
    ("s3", "getobjectattributes"): ("s3:GetObjectVersionAttributes",),
    ("s3", "getobjecttorrent"): ("s3:GetObjectVersionTorrent",),
    ("s3", "getobjectacl"): ("s3:GetObjectVersionAcl",),
    ("s3", "putobjectacl"): ("s3:PutObjectVersionAcl",),
    ("s3", "getobjecttagging"): ("s3:GetObjectVersionTagging",),
    ("s3", "putobjecttagging"): ("s3:PutObjectVersionTagging",),
    ("s3", "deleteobjecttagging"): ("s3:DeleteObjectVersionTagging",),
    ("s3", "deleteobject"): ("s3:DeleteObjectVersion",),
    # A batch may mix versioned and plain keys, and CloudTrail does not say which.
    ("s3", "deleteobjects"): ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    # The version is the copy source's; the destination write is a plain PutObject.
    ("s3", "copyobject"): ("s3:GetObjectVersion", "s3:PutObject"),
    ("s3", "uploadpartcopy"): ("s3:GetObjectVersion", "s3:PutObject"),
}

#: DynamoDB PartiQL calls: the action depends on each statement's verb (§3.6).
_PARTIQL_ACTIONS: dict[str, str] = {
    "select": "dynamodb:PartiQLSelect",
    "insert": "dynamodb:PartiQLInsert",
    "update": "dynamodb:PartiQLUpdate",
    "delete": "dynamodb:PartiQLDelete",
}

#: (prefix, eventName) -> why the event is not a permission check by the caller (§3.8).
_IGNORED: dict[tuple[str, str], str] = {
    ("sts", "assumerolewithsaml"): "authorized by the role's trust policy",
    ("sts", "assumerolewithwebidentity"): "authorized by the role's trust policy",
    ("s3", "getstoragelensdashboarddatainternal"): "console-internal call",
    ("es", "listnotifications"): "console-internal call",
    ("ec2", "sharedsnapshotvolumecreated"): "AWS service event",
    ("organizations", "createaccountresult"): "AWS service event",
    ("secretsmanager", "startsecretversiondelete"): "AWS service event",
    ("secretsmanager", "endsecretversiondelete"): "AWS service event",
    **{
        ("sso", name): "IAM Identity Center portal or OIDC event"
        for name in (
            "authenticate",
            "createtoken",
            "federate",
            "getrolecredentials",
            "listaccountroles",
            "listaccounts",
            "listprofilesforapplication",
            "logout",
            "registerclient",
            "startdeviceauthorization",
        )
    },
}

#: eventSources (without `.amazonaws.com`) whose events, unless the catalogue knows them,
#: are not permission checks.
_PSEUDO_SOURCES: dict[str, str] = {
    "signin": "console sign-in event",
    "billingconsole": "billing console internal call",
    "ec2messages": "SSM agent channel event",
    "ssmmessages": "SSM agent channel event",
}

#: Old Lambda and CloudFront API-version suffixes (§3.3): `20150331`, `20150331v2`,
#: `2020_05_31`. Only date shapes, so `ListClustersV2` and `CreateLocationS3` survive.
_VERSION_SUFFIX = re.compile(r"(?:\d{8}|\d{4}_\d{2}_\d{2})(?:v\d+)?$", re.IGNORECASE)
_SUFFIXED_PREFIXES = frozenset({"lambda", "cloudfront"})

#: API Gateway's management API is authorized by HTTP-verb actions (§3.5).
_APIGATEWAY_MODELS = ("apigateway", "apigatewayv2")


# ---------------------------------------------------------------------------------------
# eventSource -> prefix


def _iam_prefix(event_source: str) -> str:
    """The IAM prefix of `event_source`: the §2 table, else its first label when that is an
    IAM prefix, else what botocore's models say, else the first label anyway."""
    host = event_host(event_source)
    if not host:
        return ""
    if host in _PREFIX_OVERRIDES:
        return _PREFIX_OVERRIDES[host]
    first = host.split(".")[0]
    if catalogue.has_service(first):
        return first
    return _botocore_prefix(host) or first


# Cached by assignment, not by decorator: mutmut (scripts/mutation) skips decorated functions.
iam_prefix = cache(_iam_prefix)


class _ModelMetadata(msgspec.Struct):
    endpointPrefix: str = ""
    signingName: str = ""


class _ModelHead(msgspec.Struct):
    metadata: _ModelMetadata = msgspec.field(default_factory=_ModelMetadata)


_HEAD_DECODER = msgspec.json.Decoder(_ModelHead)


#: `metadata` comes first in botocore's models; its few keys are found in the head.
_METADATA_RE = re.compile(rb'"metadata"\s*:\s*(\{[^{}]*\})')
_MODEL_HEAD_BYTES = 16384


def _read_model_head(path: str) -> _ModelHead | None:
    """A botocore model's metadata only, from the first few KB of the (gzip) file when
    the metadata object is there (it is, first), else from the whole model: indexing all
    ~450 models then takes tens of milliseconds, not the 5 s of botocore's own loader."""
    for ext, opener in ((".json", open), (".json.gz", gzip.open)):
        if os.path.isfile(path + ext):
            with opener(path + ext, "rb") as fp:
                head = fp.read(_MODEL_HEAD_BYTES)
                found = _METADATA_RE.search(head)
                if found is not None:
                    try:
                        return _ModelHead(msgspec.json.decode(found.group(1), type=_ModelMetadata))
                    except msgspec.DecodeError:
                        pass
                return _HEAD_DECODER.decode(head + fp.read())
    return None


@cache
def _botocore_sources() -> dict[str, tuple[str, ...]]:
    """endpointPrefix -> candidate IAM prefixes (signingName, then the service name)."""
    from botocore.loaders import create_loader

    loader = create_loader()
    index: dict[str, tuple[str, ...]] = {}
    for service in loader.list_available_services("service-2"):
        version = loader.determine_latest_version(service, "service-2")
        for base in loader.search_paths:
            head = _read_model_head(os.path.join(base, service, version, "service-2"))
            if head is not None:
                meta = head.metadata
                endpoint = meta.endpointPrefix.lower()
                names = tuple(n for n in (meta.signingName, service) if n)
                index[endpoint] = index.get(endpoint, ()) + names
                break
    return index


def _botocore_prefix(host: str) -> str | None:
    """The IAM prefix botocore's models suggest for an event source host, if any."""
    index = _botocore_sources()
    for endpoint in (host, host.split(".")[0]):
        for candidate in index.get(endpoint, ()):
            if catalogue.has_service(candidate):
                return candidate.lower()
    return None


# ---------------------------------------------------------------------------------------
# eventName -> actions


def _strip_version_suffix(prefix: str, name: str) -> str:
    """`GetFunction20150331v2` -> `GetFunction`, for Lambda and CloudFront only, and only
    when the stripped name is a catalogue action or an operation the table or a family
    maps (`CreateDistributionWithTags2020_05_31`)."""
    if prefix in _SUFFIXED_PREFIXES:
        base = _VERSION_SUFFIX.sub("", name)
        known = catalogue.canonical(prefix, base) or operations.entry(prefix, base)
        if base != name and (known or operations.family(prefix, base)):
            return base
    return name


@cache
def _apigateway_methods() -> dict[str, frozenset[str]]:
    """Lower-cased API Gateway v1 and v2 operation name -> HTTP methods (botocore models)."""
    from botocore.loaders import create_loader

    loader = create_loader()
    methods: dict[str, set[str]] = {}
    for model in _APIGATEWAY_MODELS:
        operations = loader.load_service_model(model, "service-2")["operations"]
        for name, operation in operations.items():
            methods.setdefault(name.lower(), set()).add(operation["http"]["method"])
    return {name: frozenset(verbs) for name, verbs in methods.items()}


def _apigateway_actions(name: str) -> tuple[str, ...]:
    """A named action when the catalogue has one (`CreatePortal`), else the HTTP verb(s) of
    the operation. `TagResource` is PUT in v1 and POST in v2, so it gets both."""
    if catalogue.canonical("apigateway", name):
        return (f"apigateway:{name}",)
    verbs = _apigateway_methods().get(name.lower(), frozenset())
    return tuple(f"apigateway:{verb}" for verb in sorted(verbs))


def _partiql_actions(tokens: frozenset[str]) -> tuple[str, ...]:
    """The PartiQL actions of a `partiql:<verb>[+<verb>...]` qualifier token; all four when
    the statements are unknown."""
    for token in tokens:
        if token.startswith(PARTIQL):
            verbs = token.removeprefix(PARTIQL).split("+")
            if all(verb in _PARTIQL_ACTIONS for verb in verbs):
                return tuple(_PARTIQL_ACTIONS[verb] for verb in verbs)
    return tuple(_PARTIQL_ACTIONS.values())


_RENAMED = "rename table (event-to-action.md §3)"
SAME_NAME = "the action named like the call"


def _grants(actions: tuple[str, ...], rule: str) -> tuple[Grant, ...]:
    return tuple(Grant(action, rule) for action in actions)


def _candidates(prefix: str, name: str, tokens: frozenset[str]) -> tuple[Grant, ...]:
    """The actions a call needs per the tables, before catalogue validation, each with
    the rule that names it."""
    key = (prefix, name.lower())
    cited = operations.entry(prefix, name)
    if cited:
        return cited
    if prefix == "apigateway":
        return _grants(_apigateway_actions(name), "API Gateway: the operation's HTTP verb (§3.5)")
    if prefix == "dynamodb" and key[1] in PARTIQL_CALLS:
        return _grants(_partiql_actions(tokens), "PartiQL: the statements' verbs (§3.6)")
    if VERSION in tokens and key in _VERSIONED:
        return _grants(_VERSIONED[key], "S3: the request names an object version (§3.1)")
    if key in _RENAMES:
        return _grants(_RENAMES[key], _RENAMED)
    return operations.family(prefix, name) or _grants((f"{prefix}:{name}",), SAME_NAME)


def _canonical(candidates: tuple[Grant, ...]) -> tuple[dict[str, str], list[str]]:
    """Each candidate action in the catalogue's casing, and the candidates it lacks."""
    canonical: dict[str, str] = {}
    missing: list[str] = []
    for grant in candidates:
        action = catalogue.canonical(*catalogue.split_action(grant.action))
        if action is not None:
            canonical[grant.action] = action
        elif grant.action not in missing:
            missing.append(grant.action)
    return canonical, missing


def _map_call(event_source: str, event_name: str, qualifier: str = "") -> Mapped:
    """The IAM actions a CloudTrail call (`eventSource`, `eventName`, qualifier) needs."""
    prefix = iam_prefix(event_source)
    if not event_name:
        return Mapped((), prefix, "unmapped", "no eventName")
    ignored = _IGNORED.get((prefix, event_name.lower()))
    if ignored:
        return Mapped((), prefix, "ignored", ignored)
    name = _strip_version_suffix(prefix, event_name)
    tokens = frozenset(qualifier.split())
    candidates = operations.with_conditions(prefix, name, tokens, _candidates(prefix, name, tokens))
    canonical, missing = _canonical(candidates)
    if candidates and not missing:
        rules: dict[str, str] = {}
        for grant in candidates:
            rules.setdefault(canonical[grant.action], grant.rule)
        actions = tuple(sorted(rules))
        return Mapped(actions, prefix, "mapped", rules=tuple((a, rules[a]) for a in actions))
    pseudo = _PSEUDO_SOURCES.get(event_host(event_source))
    if pseudo:
        return Mapped((), prefix, "ignored", pseudo)
    if not catalogue.has_service(prefix):
        return Mapped((), prefix, "unmapped", f"unknown IAM service prefix {prefix!r}")
    documented = operations.no_action_reason(prefix, name)
    if documented:
        return Mapped((), prefix, "unmapped", f"no IAM action: {documented}")
    what = ", ".join(missing) if missing else f"for {name}"
    return Mapped((), prefix, "unmapped", f"no catalogue action {what}")


map_call = cache(_map_call)
