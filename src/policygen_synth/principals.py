"""The population: users and roles (the policy targets), their callers, the account's resources
and the identities of callers that are never targets (root, services, federated, external).
"""

from __future__ import annotations

import random
import string
import time
from dataclasses import dataclass, field

from policygen_synth.calls import Call
from policygen_synth.records import Caller
from policygen_synth.spec import ALNUM, TRAIL_NAME, UPPER, CorpusSpec, Json

EXTERNAL_ACCOUNT = "210987654321"

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


class Ids:
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


def iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def resource_context(spec: CorpusSpec, account: str, region: str, ids: Ids) -> dict[str, str]:
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


def _sessions(kind: str, ids: Ids) -> tuple[str, ...]:
    """Two session names for a role, shaped like what assumes it."""
    names = {
        "ci": lambda: f"gha-{ids.rng.randrange(10**9, 10**10)}",
        "sso": lambda: ids.rng.choice(("alice", "bob", "erin", "frank")) + "@example.com",
        "instance": lambda: f"i-0{ids.hex(16)}",
        "lambda": lambda: ids.rng.choice(("order-processor", "report-builder", "thumbnailer")),
        "sdk": lambda: f"botocore-session-{ids.rng.randrange(10**9, 10**10)}",
    }[kind]
    return names(), names()


def _placement(spec: CorpusSpec, ids: Ids) -> dict[str, Json]:
    """A principal's share of its account's calls (heavy-tailed) and its home region."""
    return {"weight": ids.rng.lognormvariate(0, 1.3), "home": ids.rng.choice(spec.regions)}


def make_user(spec: CorpusSpec, account: str, index: int, ids: Ids) -> Principal:
    name, path, profile = USERS[index % len(USERS)]
    if index >= len(USERS):
        name = f"{name}{index // len(USERS) + 1}"
    arn = f"arn:aws:iam::{account}:user{path}{name}"
    placed = _placement(spec, ids)  # before the id: the order of draws is part of the output
    user_id = "AIDA" + ids.chars(UPPER, 17)
    p = Principal(arn, "user", account, name, path, profile, **placed, principal_id=user_id)
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
                    "creationDate": iso(spec.start_epoch - 900),
                    "mfaAuthenticated": "true",
                },
            },
        }
        for agent in CONSOLE_AGENTS:
            p.callers.append(Caller(identity, agent, ids.ip(False), "", console=True))
            p.caller_arns.append(arn)
    return p


def make_role(spec: CorpusSpec, account: str, index: int, ids: Ids) -> Principal:
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
    placed = _placement(spec, ids)
    p = Principal(arn, "role", account, name, path, profile, **placed, principal_id=role_id)
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
                    "creationDate": iso(spec.start_epoch - 1200),
                    "mfaAuthenticated": "false",
                },
            },
        }
        p.callers.append(
            Caller(identity, agent, ids.ip(private), "", console=session_kind == "sso")
        )
        p.caller_arns.append(sts_arn)
    return p


def background_identity(
    actor: str, account: str, call: Call, actors: dict[str, Json]
) -> dict[str, Json]:
    """The identity of a non-target caller; services show only the service's name."""
    if actor == "service":
        return {"type": "AWSService", "invokedBy": call.invoked_by}
    if actor == "service_event":
        return {"accountId": account, "invokedBy": call.invoked_by}
    return actors[actor]


def make_actors(account: str, issuer: Principal | None, ids: Ids, start: int) -> dict[str, Json]:
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
                "attributes": {"creationDate": iso(start - 600), "mfaAuthenticated": "false"},
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
