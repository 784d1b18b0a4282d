"""Server settings from a TOML file, the environment and flags, in that order of precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from policygen.server.settings import (
    AccessKey,
    ConfigError,
    ServerSettings,
    is_loopback,
    load_settings,
    parse_trail,
)

TRAIL_A = "arn:aws:cloudtrail:us-east-1:111122223333:trail/a"
TRAIL_B = "arn:aws:cloudtrail:eu-west-1:111122223333:trail/b"
KEY_ID, SECRET = "AKIDEXAMPLEKEY0001", "not-in-any-message/0123456789"
NO_AUTH = {"auth": False}


def write_credentials(path: Path, text: str | None = None) -> Path:
    path.write_text(
        text or f'[{KEY_ID}]\nsecret_access_key = "{SECRET}"\naccount = "111122223333"\n'
    )
    return path


def test_defaults_are_safe(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no access keys are configured"):
        load_settings({}, environ={})  # authentication is on by default
    settings = load_settings(NO_AUTH, environ={})
    assert settings.host == "127.0.0.1"
    assert settings.max_concurrent_jobs == settings.max_jobs_per_day == 0  # limits off
    assert settings.retention_days == 0
    assert settings.db_path.parent == Path.home() / ".policygen"
    assert settings.clock_skew == 900  # AWS's 15 minutes


def test_credentials_file(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "policygen.toml"
    config.parent.mkdir()
    config.write_text('credentials_file = "keys.toml"\n')  # relative to the config file
    write_credentials(config.parent / "keys.toml")
    settings = load_settings({}, environ={}, config_file=config)
    assert settings.auth is True
    assert dict(settings.credentials) == {KEY_ID: AccessKey(KEY_ID, SECRET, "111122223333")}
    assert SECRET not in repr(settings) + repr(settings.credentials)


@pytest.mark.parametrize(
    "text, message",
    [
        (f'[{KEY_ID}]\nsecret_access_key = "{SECRET}"\n', "exactly secret_access_key"),
        (f'[{KEY_ID}]\nsecret_access_key = ""\naccount = "111122223333"', "non-empty"),
        (f'[{KEY_ID}]\nsecret_access_key = "{SECRET}"\naccount = 111122223333', "12-digit"),
        (f'[short]\nsecret_access_key = "{SECRET}"\naccount = "111122223333"', "16 to 128"),
        (f'secret_access_key = "{SECRET}"', "exactly secret_access_key"),
        ("[", "not TOML"),
    ],
)
def test_bad_credentials_files(tmp_path: Path, text: str, message: str) -> None:
    path = write_credentials(tmp_path / "keys.toml", text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings({"credentials_file": str(path)}, environ={})
    assert SECRET not in str(caught.value)


def test_no_auth_only_on_loopback(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        assert load_settings({**NO_AUTH, "host": host}, environ={}).host == host
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(ConfigError, match=f"refusing to listen on {host} without auth"):
            load_settings({**NO_AUTH, "host": host}, environ={})
    keys = str(write_credentials(tmp_path / "keys.toml"))
    everywhere = load_settings({"host": "0.0.0.0"}, environ={"POLICYGEN_CREDENTIALS_FILE": keys})
    assert everywhere.auth and everywhere.credentials
    assert not is_loopback("no-such-host.invalid")


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "policygen.toml"
    config.write_text(
        f"""
port = 9000
workers = 3
max_jobs_per_day = 50
allowed_accounts = ["111122223333"]
[trails]
"{TRAIL_A}" = "logs/a"
"{TRAIL_B}" = "/srv/b"
"""
    )
    environ = {
        "POLICYGEN_CONFIG": str(config),
        "POLICYGEN_PORT": "9100",
        "POLICYGEN_HOME": str(tmp_path / "home"),
        "POLICYGEN_DATA_EVENTS": "false",
        "POLICYGEN_TRAILS": f"{TRAIL_B}=/mnt/b",
    }
    flags = {"port": 9200, "workers": None, **NO_AUTH}
    settings = load_settings(flags, (f"{TRAIL_A}=/x/a",), environ=environ)
    assert settings.port == 9200  # flag beats environment beats file
    assert settings.workers == 3  # a flag left out does not override
    assert settings.max_jobs_per_day == 50
    assert settings.data_dir == tmp_path / "home"
    assert settings.data_events is False
    assert settings.allowed_accounts == ("111122223333",)
    assert dict(settings.trails) == {TRAIL_A: "/x/a", TRAIL_B: "/mnt/b"}


def test_s3_trail_locations_and_aws_settings() -> None:
    environ = {
        "POLICYGEN_TRAILS": f"{TRAIL_B}=s3://org-logs/AWSLogs",
        "POLICYGEN_RESOLVE_TRAILS": "yes",
        "POLICYGEN_SERVICE_LAST_ACCESSED": "off",
    }
    flags = {"access_role_mode": "fallback", "auth": False}
    settings = load_settings(flags, (f"{TRAIL_A}=s3://logs/team/a/",), environ=environ)
    assert dict(settings.trails) == {TRAIL_A: "s3://logs/team/a", TRAIL_B: "s3://org-logs"}
    assert settings.resolve_trails is True
    assert settings.access_role_mode == "fallback"
    assert settings.service_last_accessed is False
    defaults = ServerSettings()
    assert (defaults.resolve_trails, defaults.access_role_mode) == (False, "assume")


def test_relative_trail_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "conf" / "policygen.toml"
    config.parent.mkdir()
    config.write_text(f'auth = false\n[trails]\n"{TRAIL_A}" = "logs"\n')
    settings = load_settings({}, environ={}, config_file=config)
    assert settings.trails[TRAIL_A] == str(tmp_path / "conf" / "logs")  # next to the file
    monkeypatch.chdir(tmp_path)
    assert parse_trail(f"{TRAIL_B}=here") == (TRAIL_B, str(tmp_path / "here"))  # from cwd


@pytest.mark.parametrize(
    "flags, trails, environ, message",
    [
        ({"port": 70000}, (), {}, "port"),
        ({"workers": 0}, (), {}, "workers"),
        ({"max_jobs_per_day": -1}, (), {}, "max_jobs_per_day"),
        ({"denied": "sometimes"}, (), {}, "denied"),
        ({"allowed_accounts": ("12345",)}, (), {}, "12-digit"),
        ({"default_trail": TRAIL_A}, (), {}, "not one of the trails"),
        ({}, ("no-equals-sign",), {}, "ARN=LOCATION"),
        ({}, ("arn:aws:s3:::bucket=/x",), {}, "not a CloudTrail trail ARN"),
        ({}, (f"{TRAIL_A}=https://bucket/prefix",), {}, "a local folder or s3://"),
        ({}, (f"{TRAIL_A}=s3://Not_A_Bucket/prefix",), {}, "not a valid S3 bucket name"),
        ({"access_role_mode": "sometimes"}, (), {}, "access_role_mode must be one of"),
        ({}, (), {"POLICYGEN_PORT": "eighty"}, "POLICYGEN_PORT"),
        ({}, (), {"POLICYGEN_DATA_EVENTS": "maybe"}, "POLICYGEN_DATA_EVENTS"),
        ({}, (), {"POLICYGEN_CONFIG": "/no/such/file.toml"}, "No such file"),
        ({"max_file_bytes": "lots"}, (), {}, "not a size"),
        ({"max_file_bytes": 0}, (), {}, "max_file_bytes"),
        ({"clock_skew": 0}, (), {}, "clock_skew"),
        ({}, (), {"POLICYGEN_CREDENTIALS_FILE": "/no/such/keys.toml"}, "No such file"),
    ],
)
def test_bad_settings_are_one_line_errors(
    flags: dict, trails: tuple, environ: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**NO_AUTH, **flags}, trails, environ=environ)


@pytest.mark.parametrize(
    "text, message",
    [
        ("port = ", "Invalid"),
        ("colour = 'blue'", "unknown setting 'colour'"),
        ("trails = 3", "table"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings({}, environ={}, config_file=config)


def test_settings_are_immutable() -> None:
    with pytest.raises(AttributeError):
        ServerSettings().port = 1  # type: ignore[misc]
