"""Settings, read once at the edge from the environment (and an optional .env).

Every value here is documented in the README's settings table; nothing else in
the package reads the environment.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv
from sqlalchemy.engine import URL, make_url


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    home: Path
    source_url: URL
    metadata_url: URL
    target: str
    env: str
    pii_pepper: str | None = field(repr=False)
    jar_cache: Path
    extract_lag_seconds: int
    retry_attempts: int
    run_sla_minutes: float
    thrift_host: str
    thrift_port: int
    spark_master: str
    spark_driver_memory: str
    # Scale-out (README "Scaling out"): a shared Hive metastore, dbt's threads,
    # extra Spark conf for every session and the Thrift server.
    metastore_url: URL | None = field(default=None, repr=False)
    dbt_threads: int = 1
    # Tables extracted at once: no gain measured on 2 cores (README "Settings").
    extract_threads: int = 1
    spark_conf_extra: tuple[tuple[str, str], ...] = ()
    # The lake on S3-compatible storage (s3a://bucket/prefix); None: under the home.
    lake_url: str | None = None
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    # `retailnova pii rotate`: the pepper to rehash with (README "PII pepper").
    pii_pepper_new: str | None = field(default=None, repr=False)
    # The whole-history checks (extract/checks.py) read all of history at
    # least this often; 0: always.
    full_check_days: float = 7.0

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def lake_on_s3(self) -> bool:
        return self.lake_url is not None

    @property
    def lake_uri(self) -> str:
        """The lake as Spark addresses it: file:///... or s3a://..."""
        return self.lake_url if self.lake_url else self.lake.as_uri()

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def ensure_dirs(self) -> None:
        for path in (self.home, self.lake, self.logs):
            path.mkdir(parents=True, exist_ok=True)

    def resolve_pepper(self) -> str:
        """The PII pepper: from the environment, or in dev one generated once
        outside git and the lake (under the user's home directory)."""
        if self.pii_pepper:
            return self.pii_pepper
        if self.env == "prod":
            raise SettingsError(
                "RETAILNOVA_PII_PEPPER is not set; a production run refuses to start without it "
                "(the pepper file generated for development does not count)"
            )
        pepper_file = dev_pepper_file()
        if not pepper_file.exists():
            pepper_file.parent.mkdir(parents=True, exist_ok=True)
            pepper_file.write_text(secrets.token_hex(32))
            pepper_file.chmod(0o600)
        return pepper_file.read_text().strip()


def dev_pepper_file() -> Path:
    """Where dev keeps its generated pepper: the user's home, outside git and the lake."""
    return Path.home() / ".config" / "retailnova" / "pii_pepper"


def _url(name: str, value: str) -> URL:
    try:
        return make_url(value)
    except Exception:
        # Never echo the value: it may hold a password.
        raise SettingsError(f"{name} is not a valid SQLAlchemy URL") from None


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None


_MEMORY = re.compile(r"^\d+[kmgt]?$", re.IGNORECASE)


def load_settings(environ: dict[str, str] | None = None, dotenv: bool = True) -> Settings:
    if environ is None:
        if dotenv:
            # An explicit environment always wins over .env.
            load_dotenv(Path.cwd() / ".env", override=False)
        environ = dict(os.environ)
    get = environ.get

    home = Path(get("RETAILNOVA_HOME", ".retailnova")).expanduser().resolve()
    env = get("RETAILNOVA_ENV", "dev")
    if env not in ("dev", "prod"):
        raise SettingsError(f"RETAILNOVA_ENV must be dev or prod, got {env!r}")
    memory = get("RETAILNOVA_SPARK_DRIVER_MEMORY", "4g")
    if not _MEMORY.match(memory):
        raise SettingsError(f"RETAILNOVA_SPARK_DRIVER_MEMORY must look like 4g, got {memory!r}")
    attempts = _positive("RETAILNOVA_RETRY_ATTEMPTS", get("RETAILNOVA_RETRY_ATTEMPTS", "4"))
    try:
        sla = float(get("RETAILNOVA_RUN_SLA_MINUTES", "60"))
    except ValueError:
        raise SettingsError("RETAILNOVA_RUN_SLA_MINUTES must be a number of minutes") from None
    try:
        full_check_days = float(get("RETAILNOVA_FULL_CHECK_DAYS", "7"))
    except ValueError:
        full_check_days = -1.0
    if not full_check_days >= 0:
        raise SettingsError("RETAILNOVA_FULL_CHECK_DAYS must be a number of days, 0 or more")
    lag = _int("RETAILNOVA_EXTRACT_LAG_SECONDS", get("RETAILNOVA_EXTRACT_LAG_SECONDS", "300"))
    if lag < 0:
        raise SettingsError("RETAILNOVA_EXTRACT_LAG_SECONDS must not be negative")

    return Settings(
        home=home,
        source_url=_url(
            "RETAILNOVA_SOURCE_URL", get("RETAILNOVA_SOURCE_URL", f"sqlite:///{home / 'source.db'}")
        ),
        metadata_url=_url(
            "RETAILNOVA_METADATA_URL",
            get("RETAILNOVA_METADATA_URL", f"sqlite:///{home / 'metadata.db'}"),
        ),
        target=get("RETAILNOVA_TARGET", "local"),
        env=env,
        pii_pepper=get("RETAILNOVA_PII_PEPPER") or None,
        jar_cache=Path(
            get("RETAILNOVA_JAR_CACHE", str(Path.home() / ".cache" / "retailnova" / "jars"))
        ).expanduser(),
        extract_lag_seconds=lag,
        retry_attempts=attempts,
        run_sla_minutes=sla,
        thrift_host=get("RETAILNOVA_THRIFT_HOST", "127.0.0.1"),
        thrift_port=_int("RETAILNOVA_THRIFT_PORT", get("RETAILNOVA_THRIFT_PORT", "10000")),
        spark_master=get("RETAILNOVA_SPARK_MASTER", "local[2]"),
        spark_driver_memory=memory,
        metastore_url=_metastore_url(get("RETAILNOVA_METASTORE_URL")),
        dbt_threads=_threads(get("RETAILNOVA_DBT_THREADS"), get("RETAILNOVA_TARGET", "local")),
        extract_threads=_positive(
            "RETAILNOVA_EXTRACT_THREADS", get("RETAILNOVA_EXTRACT_THREADS", "1")
        ),
        spark_conf_extra=_spark_conf(get("RETAILNOVA_SPARK_CONF", "")),
        lake_url=_lake_url(get("RETAILNOVA_LAKE_URL")),
        s3_endpoint=get("RETAILNOVA_S3_ENDPOINT") or None,
        s3_region=get("RETAILNOVA_S3_REGION") or "us-east-1",
        pii_pepper_new=get("RETAILNOVA_PII_PEPPER_NEW") or None,
        full_check_days=full_check_days,
    )


def _metastore_url(value: str | None) -> URL | None:
    if not value:
        return None
    url = _url("RETAILNOVA_METASTORE_URL", value)
    if url.get_backend_name() != "postgresql" or not url.host or not url.database:
        raise SettingsError(
            "RETAILNOVA_METASTORE_URL must be a PostgreSQL URL "
            "(postgresql://user:password@host:5432/database)"
        )
    return url


def _threads(value: str | None, target: str) -> int:
    # The session target shares one Spark session: one thread. A Thrift server
    # runs statements of several connections at once.
    if not value:
        return 4 if target == "thrift" else 1
    return _positive("RETAILNOVA_DBT_THREADS", value)


def _positive(name: str, value: str) -> int:
    number = _int(name, value)
    if number < 1:
        raise SettingsError(f"{name} must be at least 1")
    return number


def _lake_url(value: str | None) -> str | None:
    if not value:
        return None
    if not re.match(r"^s3a://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[\w.\-/]*)?$", value):
        raise SettingsError(
            f"RETAILNOVA_LAKE_URL must look like s3a://bucket/prefix, got {value!r} "
            "(unset, the lake is $RETAILNOVA_HOME/lake)"
        )
    return value.rstrip("/")


def _spark_conf(value: str) -> tuple[tuple[str, str], ...]:
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise SettingsError(f"RETAILNOVA_SPARK_CONF: {exc}") from None
    pairs = []
    for number, word in enumerate(words, start=1):
        key, sep, conf_value = word.partition("=")
        if not sep or not key.startswith("spark."):
            # Not echoed: a value may be a credential.
            raise SettingsError(
                f"RETAILNOVA_SPARK_CONF: item {number} is not a spark.key=value pair"
            )
        pairs.append((key, conf_value))
    return tuple(pairs)
