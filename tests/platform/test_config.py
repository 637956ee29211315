"""Settings: every TAIJI_* variable the code reads is documented, and the defaults run."""

from __future__ import annotations

import re
import stat

import pytest

from taiji.modules.iam import services as iam
from taiji.platform import config
from taiji.platform.app import ENABLED_MODULES
from tests.conftest import ROOT

NAME = re.compile(r"\bTAIJI_[A-Z0-9_]*[A-Z0-9]\b")
ALL_SETTINGS = config.all_settings(ENABLED_MODULES)  # the kernel's and the enabled modules' own
DOCUMENTED = {setting.name for setting in ALL_SETTINGS}


def _code() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text() for path in (ROOT / "taiji").rglob("*.py")}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No TAIJI_* variable set, run from an empty folder."""
    import os

    for name in list(os.environ):
        if name.startswith("TAIJI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_setting_the_code_reads_is_listed():
    read = {name for text in _code().values() for name in NAME.findall(text)}
    assert read - DOCUMENTED - config.CHILD_PROCESS_VARIABLES - config.CLIENT_VARIABLES == set(), (
        "add these to config.SETTINGS (and the README table), to CHILD_PROCESS_VARIABLES "
        "when Taiji only sets them for a process it starts, or to CLIENT_VARIABLES when only a "
        "client of a Taiji elsewhere reads them")


def test_variables_set_for_child_processes_are_used_and_are_not_settings():
    source = "\n".join(text for path, text in _code().items() if path != "taiji/platform/config.py")
    assert not config.CHILD_PROCESS_VARIABLES & DOCUMENTED
    for name in config.CHILD_PROCESS_VARIABLES:
        assert name in source, f"{name} is listed as a child-process variable but nothing sets it"


def test_every_listed_setting_is_read_somewhere():
    source = "\n".join(_code().values())
    for setting in config.SETTINGS:
        # One quoted mention is the SETTINGS entry itself; a setting nobody reads stops there.
        assert source.count(f'"{setting.name}"') >= 2, f"{setting.name} is listed but never read"
    for setting in config.module_settings(ENABLED_MODULES):
        # A module's setting is read by the kernel from its declaration; the module uses its key.
        assert re.search(rf"""["']{setting.config_key}["']""", source), f"{setting.name} is never used"


def test_settings_are_listed_once_with_help():
    names = [setting.name for setting in ALL_SETTINGS]
    assert len(names) == len(set(names))
    assert all(setting.help.strip() for setting in ALL_SETTINGS)


def test_defaults_run_an_install_in_the_current_folder(clean_env):
    loaded = config.load()

    instance = clean_env / "instance"
    assert loaded["DATA_DIR"] == str(instance)
    assert loaded["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'taiji.db'}"
    assert loaded["BROKER_URL"] == "filesystem://"
    assert (loaded["HOST"], loaded["PORT"]) == ("127.0.0.1", 8000)
    assert loaded["BASE_URL"] == "http://127.0.0.1:8000"
    assert loaded["SESSION_COOKIE_SECURE"] is False
    assert loaded["LOG_LEVEL"] == "INFO"
    assert loaded["EXTRA_MODULES"] == ()
    assert loaded["METRICS_DIR"] == str(instance / "metrics")
    # The first administrator's default address must be one the sign-up rules accept.
    assert iam.normalize_email(loaded["ADMIN_EMAIL"]) == loaded["ADMIN_EMAIL"]


def test_generated_secret_key_is_private_and_kept_across_restarts(clean_env):
    first = config.load()["SECRET_KEY"]
    key_file = clean_env / "instance" / "secret_key"

    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert config.load()["SECRET_KEY"] == first


def test_environment_overrides_defaults(clean_env, monkeypatch):
    monkeypatch.setenv("TAIJI_DATA_DIR", str(clean_env / "elsewhere"))
    monkeypatch.setenv("TAIJI_PORT", "9123")
    monkeypatch.setenv("TAIJI_BASE_URL", "https://taiji.example.com/")
    monkeypatch.setenv("TAIJI_EXTRA_MODULES", " tests.fakes.event_probe , ")
    monkeypatch.setenv("TAIJI_LOG_LEVEL", "debug")

    loaded = config.load()

    assert loaded["DATA_DIR"] == str(clean_env / "elsewhere")
    assert loaded["PORT"] == 9123
    assert loaded["BASE_URL"] == "https://taiji.example.com"
    assert loaded["SESSION_COOKIE_SECURE"] is True
    assert loaded["EXTRA_MODULES"] == ("tests.fakes.event_probe",)
    assert loaded["LOG_LEVEL"] == "DEBUG"


@pytest.mark.parametrize(("name", "value"), [
    ("TAIJI_PORT", "eighty"),
    ("TAIJI_PORT", "0"),
    ("TAIJI_WEB_WORKERS", "many"),
    ("TAIJI_LOG_LEVEL", "LOUD"),
    ("TAIJI_SECURE_COOKIES", "perhaps"),
    # The modules' own (Module.settings), read beside the kernel's.
    ("TAIJI_INVITATION_TTL_HOURS", "-1"),
    ("TAIJI_VCS_HOOK_RETRY_SECONDS", "soon"),
    ("TAIJI_VCS_PUSH_IDLE_SECONDS", "-5"),
    ("TAIJI_OAUTH_ACCESS_TOKEN_TTL", "ten minutes"),
    ("TAIJI_OAUTH_KEY_ACTIVATION_DELAY", "later"),
    ("TAIJI_CICD_MAX_JOBS", "0"),
])
def test_unusable_value_is_refused_naming_the_setting(clean_env, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=name):
        config.load(settings=config.module_settings(ENABLED_MODULES))


def test_a_modules_bad_setting_stops_the_app_naming_it(clean_env, monkeypatch):
    from taiji.platform.app import create_app

    monkeypatch.setenv("TAIJI_IAM_LDAP_ALLOWED_HOSTS", "10.0.0.0/8")
    monkeypatch.setenv("TAIJI_OAUTH_REFRESH_TOKEN_TTL", "a month")
    with pytest.raises(config.ConfigError, match="TAIJI_OAUTH_REFRESH_TOKEN_TTL must be a whole number"):
        create_app({"SECRET_KEY": "x", "DATA_DIR": str(clean_env / "data")})


def test_the_modules_settings_land_in_the_config_parsed(clean_env, monkeypatch):
    monkeypatch.setenv("TAIJI_IAM_LDAP_ALLOWED_HOSTS", " ldap.internal ,, 127.0.0.1 ")
    monkeypatch.setenv("TAIJI_DNS_NAMESERVERS", "127.0.0.1:5353")
    monkeypatch.setenv("TAIJI_VCS_PUSH_IDLE_SECONDS", "0")
    loaded = config.load(settings=config.module_settings(ENABLED_MODULES))
    assert loaded["IAM_LDAP_ALLOWED_HOSTS"] == ("ldap.internal", "127.0.0.1")
    assert loaded["DNS_NAMESERVERS"] == ("127.0.0.1:5353",)
    assert loaded["VCS_PUSH_IDLE_SECONDS"] == 0
    # The defaults, as they were when the kernel read them.
    assert (loaded["INVITATION_TTL_HOURS"], loaded["VCS_HOOK_RETRY_SECONDS"]) == (72, 30)
    assert loaded["LOGIN_RATE_LIMIT"] == loaded["IAM_LDAP_BIND_RATE_LIMIT"] == "10 per minute"
    assert loaded["OAUTH_ACCESS_TOKEN_TTL"] == 600 and loaded["OAUTH_KEY_ACTIVATION_DELAY"] == ""
    assert loaded["OAUTH_INSECURE_TRANSPORT"] == "false" and loaded["VCS_MIRROR_ALLOWED_HOSTS"] == ()
    # A kernel-only load knows none of them: they are the modules'.
    assert "INVITATION_TTL_HOURS" not in config.load() and "OAUTH_CODE_TTL" not in config.load()
