"""Settings from ``TAIJI_*`` environment variables, each with a default that runs on one machine.

Every setting is listed in ``SETTINGS`` so that the README table, ``taiji config`` and the
application read the same source.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Setting:
    """One ``TAIJI_*`` variable. The kernel's are read by ``load`` below; a module declares its own
    in ``Module(settings=[...])`` with a ``parse`` (``integer``, ``number``, ``choice``, ``csv`` or
    any ``(name, text) -> value``), and ``load`` puts the parsed value under ``key`` (the name
    without ``TAIJI_``) in the app's config."""

    name: str
    default: str
    help: str
    parse: Callable[[str, str], Any] | None = None
    key: str | None = None
    # Set but empty means "" (none), not the default (e.g. a list that may be emptied on purpose).
    empty_is_value: bool = False

    @property
    def config_key(self) -> str:
        return self.key or self.name.removeprefix("TAIJI_")

    def read(self) -> Any:
        """The value from the environment (the default when unset), parsed and validated."""
        raw = os.environ.get(self.name)
        if raw is None or (raw.strip() == "" and not self.empty_is_value):
            raw = self.default
        raw = raw.strip()
        return self.parse(self.name, raw) if self.parse is not None else raw


def integer(minimum: int = 0) -> Callable[[str, str], int]:
    def parse(name: str, value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None
        if number < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, not {number}.")
        return number

    return parse


def number(minimum: float = 0) -> Callable[[str, str], float]:
    def parse(name: str, value: str) -> float:
        try:
            result = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, not {value!r}.") from None
        if not result >= minimum:
            raise ConfigError(f"{name} must be at least {minimum}, not {value}.")
        return result

    return parse


def choice(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, value: str) -> str:
        for option in choices:
            if value.lower() == option.lower():
                return option
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")

    return parse


def csv(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated items, blanks dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def module_settings(module_paths) -> list[Setting]:
    """The settings the modules at ``module_paths`` (import paths) declare, in order."""
    import importlib

    found = []
    for path in module_paths:
        found.extend(importlib.import_module(path).module.settings)
    return found


def all_settings(module_paths) -> tuple[Setting, ...]:
    """The kernel's settings followed by those of the modules at ``module_paths``."""
    return (*SETTINGS, *module_settings(module_paths))


SETTINGS: tuple[Setting, ...] = (
    Setting("TAIJI_DATA_DIR", "./instance",
            "Folder for the SQLite database, broker files, secret key, metrics."),
    Setting("TAIJI_DATABASE_URL", "sqlite:///<TAIJI_DATA_DIR>/taiji.db", "SQLAlchemy URL of the database."),
    Setting("TAIJI_BROKER_URL", "filesystem://",
            "Celery broker: filesystem:// (embedded, needs no server), redis://…, amqp://…"),
    Setting("TAIJI_REDIS_URL", "",
            "Redis for rate limits and caches; production should set it. When empty, the web "
            "processes of one machine share rate limits through TAIJI_DATA_DIR/ratelimits.db."),
    Setting("TAIJI_SECRET_KEY", "<generated into TAIJI_DATA_DIR/secret_key>",
            "Signs sessions and CSRF tokens."),
    Setting("TAIJI_PREVIOUS_SECRET_KEYS", "",
            "Comma-separated earlier secret keys, still accepted to open secrets sealed before a rotation."),
    Setting("TAIJI_HOST", "127.0.0.1", "Address the web server binds."),
    Setting("TAIJI_PORT", "8000", "Port the web server binds."),
    Setting("TAIJI_WEB_WORKERS", "2", "gunicorn worker processes for `taiji web` / `taiji up`."),
    Setting("TAIJI_BASE_URL", "http://<TAIJI_HOST>:<TAIJI_PORT>", "Public URL, used in invitation links."),
    Setting("TAIJI_ADMIN_EMAIL", "admin@example.com", "First administrator, created on first start."),
    Setting("TAIJI_ADMIN_PASSWORD", "<generated and printed once>", "Password of the first administrator."),
    Setting("TAIJI_LOG_LEVEL", "INFO", "Level of the JSON logs: DEBUG, INFO, WARNING, ERROR."),
    Setting("TAIJI_SECURE_COOKIES", "auto",
            "Secure session cookie: auto (when TAIJI_BASE_URL is https), true, false."),
    Setting("TAIJI_DEFAULT_LOCALE", "en",
            "Console language for visitors who have not chosen one (en, zh_Hans)."),
    Setting("TAIJI_EXTRA_MODULES", "",
            "Comma-separated import paths of extra modules to enable (plugins, tests)."),
    Setting("TAIJI_MAX_BODY_BYTES", "2097152",
            "Largest request body (JSON, YAML, forms) in bytes; larger is refused (413) unread. Package "
            "uploads and git pushes stream and are bounded by storage quotas instead."),
    Setting("TAIJI_METRICS_DIR", "<TAIJI_DATA_DIR>/metrics",
            "Folder where every process of one install keeps its Prometheus metrics."),
    Setting("TAIJI_TX_ALLOWED_HOSTS", "",
            "Comma-separated hosts or CIDR ranges a tenant's transactions may call although they are "
            "loopback, link-local or otherwise reserved (refused by default; public and private "
            "ranges are allowed)."),
    Setting("TAIJI_SMTP_URL", "",
            "Mail server for sign-in links, invitations and email verification: "
            "smtp://[user:password@]host[:port] (STARTTLS when the server offers it), smtps://… for TLS "
            "from the start; no mail is sent when empty (inviters are then handed the invitation link)."),
    Setting("TAIJI_MAIL_FROM", "Taiji <noreply@<host of TAIJI_BASE_URL>>", "Sender of Taiji's mail."),
    Setting("TAIJI_LIVE_MAX_STREAMS", "500",
            "Live streams (server-sent events: log tails, job graphs) one web worker process holds at "
            "once; more are refused with 503 and the page polls instead. Each stream has a thread of "
            "its own besides the 4 that serve requests (docs/operations.md). The limit is per process: "
            "a server holds up to TAIJI_WEB_WORKERS times this many."),
    Setting("TAIJI_LIVE_MAX_STREAMS_PER_USER", "20",
            "Live streams one user (or, signed out, one address) may hold at once; more are refused "
            "with 429. With Redis (TAIJI_REDIS_URL or a redis:// broker) the count spans every web "
            "process and server of the install; without, each web worker process counts on its own, "
            "so a user may hold up to TAIJI_WEB_WORKERS times this many."),
    Setting("TAIJI_LIVE_HEARTBEAT_SECONDS", "15",
            "An idle live stream sends a comment this often, so that proxies and clients see it is alive."),
    Setting("TAIJI_LIVE_POLL_SECONDS", "1",
            "Without Redis (the embedded install) each web process looks at the database this often "
            "for what its live streams watch: one query per kind of topic, however many streams."),
    Setting("TAIJI_LIVE_SEND_TIMEOUT_SECONDS", "30",
            "A live stream whose client takes nothing of what is sent for this long (a stalled or "
            "very slow reader) is dropped, and its thread and place come back."),
    Setting("TAIJI_AUTH_CACHE_SECONDS", "60",
            "How long a web process keeps who a bearer token is and what its user may do at a tenant. "
            "Any change to tokens, users, roles or bindings drops them at once in every process "
            "(PostgreSQL LISTEN/NOTIFY; on SQLite a file in TAIJI_DATA_DIR). 0 turns the cache off."),
    Setting("TAIJI_READ_CACHE_SECONDS", "60",
            "How long a web process may answer a repeated API read (a list of members, products, "
            "repositories) from memory. A change to any table the answer was read from drops it at "
            "once in every process (a counter file in TAIJI_DATA_DIR on one machine, PostgreSQL "
            "NOTIFY across machines); a change made outside Taiji (by hand in the database) is seen "
            "only after this long. 0 turns the cache off."),
)

# Variables Taiji *sets* for processes it starts — pipeline jobs (docs/pipeline-format.md), git
# hooks, the credential helper of mirrors. They are not settings, and Taiji itself never reads them
# from its own environment.
CHILD_PROCESS_VARIABLES = frozenset({
    "TAIJI_CI", "TAIJI_TENANT", "TAIJI_REPOSITORY", "TAIJI_PIPELINE_ID", "TAIJI_PIPELINE_NUMBER",
    "TAIJI_PIPELINE_TRIGGER", "TAIJI_JOB_ID", "TAIJI_JOB_NAME", "TAIJI_JOB_ATTEMPT", "TAIJI_COMMIT_SHA",
    "TAIJI_REF", "TAIJI_REF_NAME", "TAIJI_BRANCH", "TAIJI_TAG", "TAIJI_WORKSPACE", "TAIJI_GIT_URL",
    "TAIJI_HOOK_SOCKET", "TAIJI_HOOK_TOKEN", "TAIJI_MIRROR_USERNAME", "TAIJI_MIRROR_PASSWORD",
})


# Read by the `taiji` command or the Python client (taiji.config) acting as a client of a Taiji
# elsewhere (a pipeline job rendering its configuration), never by a server: not settings.
CLIENT_VARIABLES = frozenset({"TAIJI_URL", "TAIJI_CONFIG_KEY"})

# Threads of a `taiji web` worker process that serve requests (live streams get threads of their
# own: taiji/platform/live.py). Here, so that `taiji web` reads it without importing the web stack.
API_THREADS = 4


class ConfigError(ValueError):
    """A TAIJI_* setting has a value Taiji cannot use; the message names it."""


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _int(name: str, default: str, minimum: int = 0) -> int:
    return integer(minimum)(name, _env(name, default))


def _float(name: str, default: str, minimum: float = 0) -> float:
    return number(minimum)(name, _env(name, default))


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    return choice(*choices)(name, _env(name, default))


def _secret_key(data_dir: Path) -> str:
    explicit = os.environ.get("TAIJI_SECRET_KEY")
    if explicit:
        return explicit
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: filemodes.py
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def broker_options(broker_url: str, data_dir: Path) -> dict:
    """Transport options; the filesystem broker needs its folders spelled out (PROTOCOLS.md)."""
    if not broker_url.startswith("filesystem"):
        return {}
    root = data_dir / "broker"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folders = {
        "data_folder_in": root / "queue",
        "data_folder_out": root / "queue",
        "processed_folder": root / "processed",
        "control_folder": root / "control",
    }
    for folder in folders.values():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    options = {key: str(value) for key, value in folders.items()}
    options["store_processed"] = False
    return options


def extra_modules(overrides: dict | None = None) -> tuple[str, ...]:
    """TAIJI_EXTRA_MODULES (or the EXTRA_MODULES override): more modules to enable."""
    overrides = overrides or {}
    if "EXTRA_MODULES" in overrides:
        return tuple(overrides["EXTRA_MODULES"])
    return csv("TAIJI_EXTRA_MODULES", _env("TAIJI_EXTRA_MODULES", ""))


def load(overrides: dict | None = None, settings: Iterable[Setting] = ()) -> dict:
    """Build the Flask config mapping from the environment, then apply ``overrides``.

    ``settings``: the enabled modules' own declarations, read from the environment beside the kernel's.
    """
    overrides = overrides or {}
    data_dir = Path(overrides.get("DATA_DIR") or _env("TAIJI_DATA_DIR", "./instance")).resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: filemodes.py
    host = _env("TAIJI_HOST", "127.0.0.1")
    port = _int("TAIJI_PORT", "8000", minimum=1)
    base_url = _env("TAIJI_BASE_URL", f"http://{host}:{port}").rstrip("/")
    broker_url = _env("TAIJI_BROKER_URL", "filesystem://")
    secure = _choice("TAIJI_SECURE_COOKIES", "auto", ("auto", "true", "false", "yes", "no", "1", "0"))
    secure_cookies = base_url.startswith("https://") if secure == "auto" else secure in ("1", "true", "yes")
    config = {
        "DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": _env("TAIJI_DATABASE_URL", f"sqlite:///{data_dir / 'taiji.db'}"),
        # Pinged before use when idle for a second or more: db.ping_when_idle, set up in create_app.
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "BROKER_URL": broker_url,
        "REDIS_URL": _env("TAIJI_REDIS_URL", ""),
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(data_dir),
        "PREVIOUS_SECRET_KEYS": tuple(
            k.strip() for k in _env("TAIJI_PREVIOUS_SECRET_KEYS", "").split(",") if k.strip()),
        "HOST": host,
        "PORT": port,
        "WEB_WORKERS": _int("TAIJI_WEB_WORKERS", "2", minimum=1),
        "BASE_URL": base_url,
        "ADMIN_EMAIL": _env("TAIJI_ADMIN_EMAIL", "admin@example.com"),
        "ADMIN_PASSWORD": os.environ.get("TAIJI_ADMIN_PASSWORD") or None,
        "LOG_LEVEL": _choice("TAIJI_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
        "DEFAULT_LOCALE": _env("TAIJI_DEFAULT_LOCALE", "en"),
        "EXTRA_MODULES": tuple(p.strip() for p in _env("TAIJI_EXTRA_MODULES", "").split(",") if p.strip()),
        # Flask's name: werkzeug enforces it on every body read (taiji/platform/limits.py).
        "MAX_CONTENT_LENGTH": _int("TAIJI_MAX_BODY_BYTES", "2097152", minimum=1024),
        "METRICS_DIR": _env("TAIJI_METRICS_DIR", str(data_dir / "metrics")),
        # Live updates (taiji/platform/live.py).
        "LIVE_MAX_STREAMS": _int("TAIJI_LIVE_MAX_STREAMS", "500", minimum=1),
        "LIVE_MAX_STREAMS_PER_USER": _int("TAIJI_LIVE_MAX_STREAMS_PER_USER", "20", minimum=1),
        "LIVE_HEARTBEAT_SECONDS": _float("TAIJI_LIVE_HEARTBEAT_SECONDS", "15", minimum=0.1),
        "LIVE_POLL_SECONDS": _float("TAIJI_LIVE_POLL_SECONDS", "1", minimum=0.05),
        "LIVE_SEND_TIMEOUT_SECONDS": _float("TAIJI_LIVE_SEND_TIMEOUT_SECONDS", "30", minimum=1),
        # A notice lost on the way (Redis restarted) delays a stream at most this long.
        "LIVE_RECHECK_SECONDS": 15.0,
        "AUTH_CACHE_SECONDS": _float("TAIJI_AUTH_CACHE_SECONDS", "60", minimum=0),
        "READ_CACHE_SECONDS": _float("TAIJI_READ_CACHE_SECONDS", "60", minimum=0),
        "TX_ALLOWED_HOSTS": tuple(p.strip() for p in _env("TAIJI_TX_ALLOWED_HOSTS", "").split(",")
                                  if p.strip()),
        "SMTP_URL": _env("TAIJI_SMTP_URL", ""),
        "MAIL_FROM": _env("TAIJI_MAIL_FROM", f"Taiji <noreply@{urlsplit(base_url).hostname or 'localhost'}>"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_NAME": "taiji_session",
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 12,
        "WTF_CSRF_TIME_LIMIT": None,
        # Celery eager mode is only ever switched on by tests that ask for it.
        "CELERY_ALWAYS_EAGER": False,
        # flask-smorest
        "API_TITLE": "Taiji",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_REDOC_PATH": "/docs",
        "OPENAPI_REDOC_URL": "/static/vendor/redoc/redoc.standalone.js",
        "API_SPEC_OPTIONS": {
            "info": {"description": "Taiji REST API. Authenticate with `Authorization: Bearer <token>`. "
                                    "Errors are problem+json; their `detail` and field `errors` are in the "
                                    "language of `Accept-Language` when Taiji has it (en, zh-CN), else "
                                    "English."},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
            "security": [{"bearerAuth": []}],
        },
        # Flask-Babel
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": {"en": "English", "zh_Hans": "简体中文"},
        # Without Redis, the processes of one install count together in a SQLite file (ratelimit.py).
        "RATELIMIT_STORAGE_URI": (_env("TAIJI_REDIS_URL", "")
                                  or f"taiji-sqlite://{data_dir / 'ratelimits.db'}"),
        "RATELIMIT_HEADERS_ENABLED": True,
    }
    for setting in settings:
        config[setting.config_key] = setting.read()
    config.update(overrides)
    return config


def share_metrics() -> Path:
    """Point prometheus_client at the install's metrics folder, so /metrics sums every process.

    Must run before ``taiji.platform.observability`` is imported: the client picks its storage
    when the metrics are created. Metric files of processes that no longer run are removed;
    those of live ones stay, so a worker restarted beside a running web server keeps its counts.
    """
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        data_dir = Path(_env("TAIJI_DATA_DIR", "./instance")).resolve()
        folder = _env("TAIJI_METRICS_DIR", str(data_dir / "metrics"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    path = Path(folder)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        # prometheus_client names its files <kind>_<pid>.db.
        pid = stale.stem.rpartition("_")[2]
        if not pid.isdigit() or not _process_alive(int(pid)):
            stale.unlink(missing_ok=True)
    return path


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    return True
