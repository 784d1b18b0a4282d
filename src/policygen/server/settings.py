"""Server settings, from a TOML file, `POLICYGEN_*` environment variables and CLI flags.

Later sources win: defaults < config file < environment < flags. Trails (`ARN=LOCATION`)
are merged across all three, a later source replacing an ARN's location. Every value is
checked here, so a bad setting stops `policygen serve` with one line, before it listens.
Access keys come from their own file (`credentials_file`), never from the command line or
the environment, and their secrets never appear in a repr or a message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policygen.core.arns import TrailArn
from policygen.core.aws import ACCESS_ROLE_MODES
from policygen.core.paths import HOME_ENV, home_data_dir
from policygen.core.units import parse_size
from policygen.scan.pool import Engine
from policygen.scan.query import DEFAULT_MAX_FILE_BYTES
from policygen.scan.spark import SparkUnavailable, engine_named
from policygen.sources.s3 import is_s3_url
from policygen.sources.s3 import parse_url as parse_s3_url

ENV_PREFIX = "POLICYGEN_"
CONFIG_ENV = "POLICYGEN_CONFIG"
DB_NAME = "policygen.sqlite"
ACCOUNT_RE = re.compile(r"\d{12}")
#: AWS's AccessKeyId shape: 16 to 128 word characters.
ACCESS_KEY_ID_RE = re.compile(r"\w{16,128}", re.ASCII)


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


def default_data_dir() -> Path:
    return home_data_dir()


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An access key the server accepts, and the account whose jobs its caller sees."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    account: str


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Everything `policygen serve` can be told. 0 means "no limit" for the limits."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=default_data_dir)
    #: trail ARN -> where its logs are (a local folder in the CloudTrail S3 layout, or
    #: `s3://bucket/prefix`).
    trails: Mapping[str, str] = field(default_factory=dict)
    #: trail used when a request has no `cloudTrailDetails` (a policygen extension).
    default_trail: str | None = None
    workers: int = 2
    max_concurrent_jobs: int = 0
    max_jobs_per_day: int = 0
    retention_days: float = 0
    max_window_days: float = 90
    #: requests per second per caller (access key id, else address).
    rate_limit: float = 0
    #: accounts whose principals this server generates for; empty: any account.
    allowed_accounts: tuple[str, ...] = ()
    denied: str = "include"
    data_events: bool = True
    #: seconds a request waits for a database lock held by another process.
    db_timeout: float = 5.0
    #: find trails that are not configured with AssumeRole(accessRole) + GetTrail.
    resolve_trails: bool = False
    #: `assume` the request's accessRole, `fallback` to own credentials, or `ambient` only.
    access_role_mode: str = "assume"
    #: ask IAM for service last accessed data (the service-level template) when reading S3.
    service_last_accessed: bool = True
    #: largest log file read, stored or decompressed (a gzip bomb stops here).
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: verify SigV4 signatures; off only when asked (`--no-auth`), and only on loopback.
    auth: bool = True
    #: TOML file of access keys: `[<access key id>]` tables of `secret_access_key`, `account`.
    credentials_file: Path | None = None
    #: seconds a request's `X-Amz-Date` may be off the server's clock (AWS: 15 minutes).
    clock_skew: float = 900
    #: seconds SIGTERM waits for running jobs before stopping them for the next start.
    shutdown_grace: float = 30
    #: access key id -> key, read from `credentials_file`.
    credentials: Mapping[str, AccessKey] = field(default_factory=dict, repr=False)
    #: where jobs scan: `local` (processes on this machine) or `spark`.
    engine: str = "local"
    #: with `spark`: the master URL (None: spark-submit's, else `local[*]`), and the
    #: stored MB of logs per Spark task (None: policygen.scan.spark's default).
    spark_master: str | None = None
    spark_partition_mb: float | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    def scan_engine(self) -> Engine | None:
        """The engine jobs scan on (None: worker processes here); ConfigError if it cannot
        be used, such as Spark without pyspark or Java."""
        try:
            return engine_named(
                self.engine, master=self.spark_master, partition_mb=self.spark_partition_mb
            )
        except (ValueError, SparkUnavailable) as exc:
            raise ConfigError(str(exc)) from None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    return float(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _accounts(value: Any) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return tuple(str(item) for item in items)


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a size such as 512MB")
    return parse_size(value)


def _path(value: Any) -> Path:
    return Path(str(value)).expanduser()


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "host": str,
    "port": _int,
    "data_dir": _path,
    "default_trail": str,
    "workers": _int,
    "max_concurrent_jobs": _int,
    "max_jobs_per_day": _int,
    "retention_days": _float,
    "max_window_days": _float,
    "rate_limit": _float,
    "allowed_accounts": _accounts,
    "denied": str,
    "data_events": _bool,
    "db_timeout": _float,
    "resolve_trails": _bool,
    "access_role_mode": str,
    "service_last_accessed": _bool,
    "max_file_bytes": _size,
    "auth": _bool,
    "credentials_file": _path,
    "clock_skew": _float,
    "shutdown_grace": _float,
    "engine": str,
    "spark_master": str,
    "spark_partition_mb": _float,
}


def env_name(setting: str) -> str:
    """A setting's environment variable: `max_jobs_per_day` -> `POLICYGEN_MAX_JOBS_PER_DAY`."""
    return HOME_ENV if setting == "data_dir" else ENV_PREFIX + setting.upper()


def parse_trail(spec: str, base: Path | None = None) -> tuple[str, str]:
    """`ARN=LOCATION` -> (ARN, `s3://` URL or absolute local folder); relative folders are
    taken from `base`."""
    arn, sep, location = spec.partition("=")
    arn, location = arn.strip(), location.strip()
    if not sep or not arn or not location:
        raise ConfigError(f"trail {spec!r}: expected ARN=LOCATION")
    return _trail(arn, location, base)


def _trail(arn: str, location: str, base: Path | None) -> tuple[str, str]:
    try:
        TrailArn.parse(arn)
    except ValueError as exc:
        raise ConfigError(f"trail {arn!r}: {exc}") from None
    if is_s3_url(location):
        try:
            bucket, prefix = parse_s3_url(location)
        except ValueError as exc:
            raise ConfigError(f"trail {arn}: {exc}") from None
        return arn, f"s3://{bucket}/{prefix}".rstrip("/")
    if "://" in location:
        raise ConfigError(
            f"trail {arn}: expected a local folder or s3://bucket/prefix, not {location!r}"
        )
    folder = Path(location).expanduser()
    if base is not None and not folder.is_absolute():
        folder = base / folder
    return arn, str(folder.absolute())


def parse_trail_list(text: str, base: Path | None = None) -> dict[str, str]:
    """`ARN=LOCATION` entries separated by `;` or new lines (`POLICYGEN_TRAILS`)."""
    entries = [e for e in re.split(r"[;\n]", text) if e.strip()]
    return dict(parse_trail(entry, base) for entry in entries)


def _convert(name: str, value: Any, origin: str) -> Any:
    try:
        return _CONVERTERS[name](value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: bad value {value!r} ({exc})") from None


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(settings, trails) from a TOML file; unknown keys are errors, so typos do not pass."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    trails_table = data.pop("trails", {})
    if not isinstance(trails_table, dict):
        raise ConfigError(f"config file {path}: [trails] must be a table of ARN = LOCATION")
    unknown = sorted(set(data) - set(_CONVERTERS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting {unknown[0]!r}")
    settings = {name: _convert(name, value, f"{path}: {name}") for name, value in data.items()}
    base = path.parent.absolute()
    if "credentials_file" in settings:  # relative to the config file, as trails are
        settings["credentials_file"] = base / settings["credentials_file"]
    trails = dict(_trail(arn, str(loc), base) for arn, loc in trails_table.items())
    return settings, trails


def _from_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    settings = {
        name: _convert(name, environ[env_name(name)], env_name(name))
        for name in _CONVERTERS
        if environ.get(env_name(name), "").strip()
    }
    trails = parse_trail_list(environ.get(ENV_PREFIX + "TRAILS", ""))
    return settings, trails


def load_settings(
    flags: Mapping[str, Any],
    trail_specs: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> ServerSettings:
    """Merge defaults, the config file, the environment and the flags (None = not given)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    trails: dict[str, str] = {}
    config_file = config_file or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if config_file is not None:
        file_settings, file_trails = read_config_file(config_file)
        values.update(file_settings)
        trails.update(file_trails)
    env_settings, env_trails = _from_environment(environ)
    values.update(env_settings)
    trails.update(env_trails)
    values.update(
        {
            name: _convert(name, v, f"--{name.replace('_', '-')}")
            for name, v in flags.items()
            if v is not None
        }
    )
    trails.update(parse_trail(spec) for spec in trail_specs)
    settings = dataclasses.replace(ServerSettings(), **values, trails=trails)
    if settings.credentials_file is not None:
        keys = read_credentials_file(settings.credentials_file)
        settings = dataclasses.replace(settings, credentials=keys)
    check(settings)
    return settings


def read_credentials_file(path: Path) -> dict[str, AccessKey]:
    """Access keys from a TOML file, one table per key:

    ```toml
    [AKIAIOSFODNN7EXAMPLE]
    secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    account = "111122223333"
    ```
    Messages name the file and the key id, never a secret.
    """
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"credentials file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"credentials file {path}: not TOML ({exc})") from None
    return {key_id: _access_key(path, key_id, entry) for key_id, entry in data.items()}


def _access_key(path: Path, key_id: str, entry: Any) -> AccessKey:
    where = f"credentials file {path}: [{key_id}]"
    if not ACCESS_KEY_ID_RE.fullmatch(key_id):
        raise ConfigError(f"{where}: an access key id is 16 to 128 letters, digits or _")
    if not isinstance(entry, dict) or set(entry) != {"secret_access_key", "account"}:
        raise ConfigError(f"{where}: expected exactly secret_access_key and account")
    secret, account = entry["secret_access_key"], entry["account"]
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"{where}: secret_access_key must be a non-empty string")
    if not isinstance(account, str) or not ACCOUNT_RE.fullmatch(account):
        raise ConfigError(f"{where}: account must be a 12-digit account id in quotes")
    return AccessKey(key_id, secret, account)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) reaches this machine only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check(settings: ServerSettings) -> None:
    """Reject settings that cannot work, naming the setting."""
    if not 0 <= settings.port <= 65535:
        raise ConfigError(f"port {settings.port} is not between 0 and 65535")
    if settings.workers < 1:
        raise ConfigError("workers must be at least 1")
    for name in ("max_concurrent_jobs", "max_jobs_per_day", "retention_days", "rate_limit"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{name} must not be negative (0 means no limit)")
    if settings.max_file_bytes < 1:
        raise ConfigError("max_file_bytes must be at least 1 byte")
    if settings.max_window_days <= 0 or settings.db_timeout < 0:
        raise ConfigError("max_window_days must be positive and db_timeout not negative")
    if settings.access_role_mode not in ACCESS_ROLE_MODES:
        modes = ", ".join(ACCESS_ROLE_MODES)
        raise ConfigError(
            f"access_role_mode must be one of {modes}, not {settings.access_role_mode!r}"
        )
    if settings.denied not in ("include", "exclude"):
        raise ConfigError(f"denied must be include or exclude, not {settings.denied!r}")
    bad = [a for a in settings.allowed_accounts if not ACCOUNT_RE.fullmatch(a)]
    if bad:
        raise ConfigError(f"allowed account {bad[0]!r} is not a 12-digit account id")
    if settings.default_trail is not None and settings.default_trail not in settings.trails:
        raise ConfigError(f"default trail {settings.default_trail} is not one of the trails")
    if settings.clock_skew <= 0 or settings.shutdown_grace < 0:
        raise ConfigError("clock_skew must be positive and shutdown_grace not negative")
    settings.scan_engine()
    check_auth(settings)


def check_auth(settings: ServerSettings) -> None:
    """Authentication is on unless turned off, and never off beyond this machine."""
    if settings.auth and not settings.credentials:
        raise ConfigError(
            "authentication is on but no access keys are configured: give "
            "--credentials-file FILE (or --no-auth, on a loopback address only)"
        )
    if not settings.auth and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} without authentication: "
            "--no-auth is for loopback addresses (127.0.0.1, ::1, localhost) only"
        )
