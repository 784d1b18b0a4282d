"""Scan-time resource facts: the ARNs a matched call used and the roles it passed.

These are CloudTrail facts (no IAM resource types: `policygen.iam.resources` matches ARNs to
an action's resource types later, so one scan serves every rendering). Sources, in order:

1. `resources[]`, CloudTrail's own list; when it names anything, the request is only
   decoded for passed roles.
2. `requestParameters`: ARNs given at the top level (or one object down), and resource
   names that identify their resource type for sure (`bucketName`, `tableName`, EC2 IDs
   such as `subnet-...`; see `_NAMED`). Nested documents (policies, encryption contexts,
   templates, tags) are not read: the ARNs in them are not the call's resources.
3. `responseElements`, likewise shallow, and only for calls that do not create what
   they report: a created resource's generated ID (`subnet-0abc`) would be useless, even
   wrong, in a policy for the next `Create...` call.

Decoding costs: only matched records of kinds that can yield facts (a cached predicate
per eventSource and eventName) are looked at, and their fields are decoded only as far
as needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from typing import Any, NamedTuple

import msgspec

from policygen.cloudtrail.params import is_arn, partition_of, strings_at
from policygen.cloudtrail.records import PARAMS_DECODER, Record
from policygen.iam import catalogue, mapping, passrole
from policygen.iam.resources import NAME_PREFIX
from policygen.scan.query import ObserveLevel

#: At most this many ARNs are taken from one record.
MAX_ARNS_PER_RECORD = 50
#: Distinct calls (same fields, same bytes) whose facts are remembered.
CACHE_SIZE = 4096
#: Nested request or response objects under these words hold documents, not resources.
_SKIPPED_KEYS = re.compile(r"polic|context|document|template|tag|filter|condition", re.I)
#: Calls named like this create the resource their response reports.
_CREATING = re.compile(r"^(Create|Run|Allocate|Copy|Restore|Import|Register|Request|Clone)")


class _Entry(msgspec.Struct):
    ARN: str | None = None


_RESOURCES_DECODER = msgspec.json.Decoder(list[_Entry] | None)


class Context(NamedTuple):
    """Where a call happened: what fills `${Partition}`, `${Region}` and `${Account}`."""

    partition: str
    region: str
    account: str


NameRule = Callable[[dict[str, Any], Context], Iterator[str]]


def _named(
    fmt: str, *paths: str, events: str = "", check: str = "", lstrip: str = ""
) -> tuple[str, NameRule]:
    """A rule building ARNs from names at `paths` (all must be present; the first value of
    each). Names with `:` (partial ARNs, qualifiers) are not sure, so not used; `check`
    is a regex every name must match; `lstrip` characters are dropped from the front."""
    pattern = re.compile(check) if check else None

    def rule(params: dict[str, Any], where: Context) -> Iterator[str]:
        firsts = [strings_at(params, path) for path in paths]
        if len(paths) == 1:
            combos = [[value] for value in firsts[0]]
        else:
            combos = [[values[0] for values in firsts]] if all(firsts) else []
        for names in combos:
            if any(":" in n or (pattern and not pattern.fullmatch(n)) for n in names):
                continue
            yield fmt.format(*(n.lstrip(lstrip) for n in names), **where._asdict())

    return events, rule


_QUEUE_URL = re.compile(
    r"https?://(?:sqs\.)?([a-z0-9-]+)\.(?:queue\.)?amazonaws\.com/(\d{12})/([^/]+)"
)


def _sqs_queue(params: dict[str, Any], where: Context) -> Iterator[str]:
    """`https://sqs.<region>.amazonaws.com/<account>/<name>` -> the queue ARN."""
    for url in strings_at(params, "queueUrl"):
        match = _QUEUE_URL.fullmatch(url)
        if match and match.group(1) != "queue":  # legacy `queue.amazonaws.com`: no region
            region, account, name = match.groups()
            yield f"arn:{where.partition}:sqs:{region}:{account}:{name}"


def _iam_created(kind: str) -> NameRule:
    """`Create<Kind>`'s path and name -> the new entity's ARN (only at creation is the
    path in the request; elsewhere a bare name could be on any path, so it is not used)."""

    def rule(params: dict[str, Any], where: Context) -> Iterator[str]:
        names = strings_at(params, f"{kind}Name")
        paths = strings_at(params, "path") or ["/"]
        if names and paths[0].startswith("/") and paths[0].endswith("/") and where.account:
            yield f"arn:{where.partition}:iam::{where.account}:{kind}{paths[0]}{names[0]}"

    return rule


def _iam_named(kind: str) -> NameRule:
    """`<kind>Name` elsewhere than at creation: the path is unknown, so the fact is a
    name (`resources.NAME_PREFIX`), resolved later against the full ARNs seen in the
    same usage (IAM names are unique in an account, whatever the path)."""

    def rule(params: dict[str, Any], where: Context) -> Iterator[str]:
        for name in strings_at(params, f"{kind}Name")[:1]:
            if where.account and "/" not in name and ":" not in name:
                yield f"{NAME_PREFIX}arn:{where.partition}:iam::{where.account}:{kind}/{name}"

    return rule


_EC2_ID = re.compile(r"(i|ami|subnet|sg|vol|snap|vpc|eni|igw|rtb|acl|lt|eipalloc)-[0-9a-f]{8,17}")
_EC2_TYPES = {
    "i": "instance",
    "subnet": "subnet",
    "sg": "security-group",
    "vol": "volume",
    "vpc": "vpc",
    "eni": "network-interface",
    "igw": "internet-gateway",
    "rtb": "route-table",
    "acl": "network-acl",
    "lt": "launch-template",
    "eipalloc": "elastic-ip",
}
#: EC2 resource types whose ARNs have no account field.
_EC2_NO_ACCOUNT = {"ami": "image", "snap": "snapshot"}


def _ec2_ids(params: dict[str, Any], where: Context) -> Iterator[str]:
    """EC2 IDs name their type (`subnet-0abc...`), wherever in the request they are."""
    stack: list[object] = [params]
    seen = 0
    while stack and seen < 500:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            stack.extend(v for k, v in item.items() if not _SKIPPED_KEYS.search(str(k)))
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and _EC2_ID.fullmatch(item):
            kind = item.split("-", 1)[0]
            base = f"arn:{where.partition}:ec2:{where.region}"
            if kind in _EC2_NO_ACCOUNT:
                yield f"{base}::{_EC2_NO_ACCOUNT[kind]}/{item}"
            elif where.account:
                yield f"{base}:{where.account}:{_EC2_TYPES[kind]}/{item}"


_TRAIL_CALLS = (
    "CreateTrail DeleteTrail UpdateTrail StartLogging StopLogging GetTrail GetTrailStatus "
    "GetEventSelectors PutEventSelectors GetInsightSelectors PutInsightSelectors"
)
_PARAMETER_CALLS = (
    "GetParameter GetParameters PutParameter DeleteParameter DeleteParameters "
    "GetParameterHistory LabelParameterVersion UnlabelParameterVersion"
)
_TRAIL = "arn:{partition}:cloudtrail:{region}:{account}:trail/{0}"
_PARAMETER = "arn:{partition}:ssm:{region}:{account}:parameter/{0}"

#: IAM prefix -> (eventNames it is limited to: "" all, "!..." all but; rule) for names
#: that say for sure which resource, and of which type, a call used.
_NAMED: dict[str, tuple[tuple[str, NameRule], ...]] = {
    "s3": (
        _named("arn:{partition}:s3:::{0}", "bucketName"),
        _named("arn:{partition}:s3:::{0}/{1}", "bucketName", "key"),
    ),
    "dynamodb": (_named("arn:{partition}:dynamodb:{region}:{account}:table/{0}", "tableName"),),
    "lambda": (_named("arn:{partition}:lambda:{region}:{account}:function:{0}", "functionName"),),
    "logs": (
        _named("arn:{partition}:logs:{region}:{account}:log-group:{0}", "logGroupName"),
        _named(
            "arn:{partition}:logs:{region}:{account}:log-group:{0}:log-stream:{1}",
            "logGroupName",
            "logStreamName",
        ),
    ),
    "ecr": (_named("arn:{partition}:ecr:{region}:{account}:repository/{0}", "repositoryName"),),
    "kms": (
        _named(
            "arn:{partition}:kms:{region}:{account}:key/{0}",
            "keyId",
            check=r"(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        ),
    ),
    "sqs": (("", _sqs_queue),),
    "ssm": (
        _named(_PARAMETER, "name", events=_PARAMETER_CALLS, lstrip="/"),
        _named(_PARAMETER, "names[]", events=_PARAMETER_CALLS, lstrip="/"),
    ),
    "cloudtrail": (
        _named(_TRAIL, "name", events=_TRAIL_CALLS),
        _named(_TRAIL, "trailName", events=_TRAIL_CALLS),
    ),
    "iam": (
        ("CreateRole", _iam_created("role")),
        ("CreateUser", _iam_created("user")),
        ("CreatePolicy", _iam_created("policy")),
        *(
            ("!CreateRole CreateUser CreateGroup CreateInstanceProfile", _iam_named(kind))
            for kind in ("role", "user", "group", "instanceProfile")
        ),
    ),
    "ec2": (
        ("", _ec2_ids),
        _named("arn:{partition}:ec2:{region}:{account}:key-pair/{0}", "keyName"),
    ),
}


@cache
def _name_rules(event_source: str, event_name: str) -> tuple[NameRule, ...]:
    rules = _NAMED.get(mapping.iam_prefix(event_source), ())
    return tuple(rule for events, rule in rules if _applies(events, event_name))


def _applies(events: str, event_name: str) -> bool:
    """Whether a rule limited to `events` ("" all, "A B" only those, "!A B" all but
    those) applies to `event_name`."""
    if events.startswith("!"):
        return event_name not in events[1:].split()
    return not events or event_name in events.split()


@cache
def wants(event_source: str, event_name: str) -> bool:
    """True when calls of this kind can yield facts: one of their actions takes a resource
    type, or they can pass a role. Cached, so the scan pays one dict lookup per record."""
    if passrole.rules_for(event_source, event_name):
        return True
    mapped = mapping.map_call(event_source, event_name)
    return any(catalogue.resource_types(action) for action in mapped.actions)


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        value = PARAMS_DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return value if isinstance(value, dict) else None


def _resource_arns(raw: bytes) -> list[str]:
    try:
        entries = _RESOURCES_DECODER.decode(raw) or []
    except (msgspec.DecodeError, msgspec.ValidationError):
        return []
    return [e.ARN for e in entries if e.ARN and is_arn(e.ARN)]


def _shallow_arns(document: dict[str, Any]) -> Iterator[str]:
    """ARNs at the top level of a request or response, or one object down (EC2's
    `...Request` wrappers, `functionConfiguration`), never inside documents."""
    for key, value in document.items():
        if _SKIPPED_KEYS.search(str(key)):
            continue
        inner = value.values() if isinstance(value, dict) else [value]
        for item in inner:
            for text in item if isinstance(item, list) else [item]:
                if isinstance(text, str) and is_arn(text):
                    yield text


def _request_arns(source: str, name: str, params: dict[str, Any], where: Context) -> Iterator[str]:
    yield from _shallow_arns(params)
    for rule in _name_rules(source, name):
        yield from rule(params, where)


Facts = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]


@lru_cache(maxsize=CACHE_SIZE)
def _facts(
    source: str,
    name: str,
    region: str,
    account: str,
    resources: bytes,
    request: bytes,
    response: bytes,
) -> Facts:
    """The facts of a call, from its raw fields. Cached: real trails repeat the same calls
    on the same resources (the same key decrypted, the same role assumed) all day."""
    where = Context(partition_of(region), region, account)
    arns = dict.fromkeys(_resource_arns(resources))
    rules = passrole.rules_for(source, name)
    params = _decode(request) if rules or not arns else None
    if params and not arns:
        arns.update(dict.fromkeys(_request_arns(source, name, params, where)))
    if not arns and not _CREATING.match(name):
        decoded = _decode(response)
        if decoded:
            arns.update(dict.fromkeys(_shallow_arns(decoded)))
    passed = passrole.passed_roles(rules, params, where.partition, where.account) if rules else []
    return tuple(arns)[:MAX_ARNS_PER_RECORD], tuple(passed)


def _raw_facts(record: Record) -> Facts:
    return _facts(
        record.eventSource or "",
        record.eventName or "",
        record.awsRegion or "",
        record.recipientAccountId or "",
        bytes(record.resources),
        bytes(record.requestParameters),
        bytes(record.responseElements),
    )


def facts(record: Record) -> tuple[list[str], list[tuple[str, str]]]:
    """(resource ARNs, passed (service, role ARN) pairs) of one call."""
    arns, passed = _raw_facts(record)
    return list(arns), list(passed)


def wants_at(level: ObserveLevel, event_source: str, event_name: str) -> bool:
    """Whether calls of this kind yield facts at `level`."""
    if level == "all":
        return wants(event_source, event_name)
    return level == "passed" and bool(passrole.rules_for(event_source, event_name))


def facts_at(level: ObserveLevel, record: Record) -> tuple[list[str], list[tuple[str, str]]]:
    """`facts` at `level`: with "passed", no resource ARNs (and much less decoding)."""
    if level == "all":
        return facts(record)
    return [], list(
        _passed(
            record.eventSource or "",
            record.eventName or "",
            record.awsRegion or "",
            record.recipientAccountId or "",
            bytes(record.requestParameters),
        )
    )


@lru_cache(maxsize=CACHE_SIZE)
def _passed(
    source: str, name: str, region: str, account: str, request: bytes
) -> tuple[tuple[str, str], ...]:
    rules = passrole.rules_for(source, name)
    params = _decode(request) if rules else None
    return tuple(passrole.passed_roles(rules, params, partition_of(region), account))


class _Rules:
    """This module as the scanner's `FactRules`; pickled by name, so workers and Spark
    executors use their own copy of the module's caches."""

    def wants_at(self, level: ObserveLevel, event_source: str, event_name: str) -> bool:
        return wants_at(level, event_source, event_name)

    def facts_at(
        self, level: ObserveLevel, record: Record
    ) -> tuple[list[str], list[tuple[str, str]]]:
        return facts_at(level, record)

    def warm(self) -> None:
        catalogue.version()
        wants("sts.amazonaws.com", "GetCallerIdentity")

    def __reduce__(self) -> str:
        return "RULES"


#: The IAM knowledge a scan needs to collect resource facts (`ScanQuery.rules`).
RULES = _Rules()
