"""`retailnova status`: does each configured service answer?"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sqlalchemy import create_engine, text

from extract.jdbc import describe, redact
from extract.settings import Settings


@dataclass
class Check:
    service: str
    target: str
    ok: bool
    detail: str


def _database(service: str, url) -> Check:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return Check(service, describe(url), True, "answers")
    except Exception as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return Check(service, describe(url), False, redact(first, url))
    finally:
        engine.dispose()


def _thrift(host: str, port: int) -> Check:
    try:
        with socket.create_connection((host, port), timeout=2):
            return Check("thrift server", f"{host}:{port}", True, "accepts connections")
    except OSError as exc:
        return Check("thrift server", f"{host}:{port}", False, exc.strerror or str(exc))


def _lake(settings: Settings) -> Check:
    if settings.lake_on_s3:
        # Reached by Spark's S3A connector with the JVM's credentials, not from here.
        return Check("lake", settings.lake_uri, True, "object storage: checked by each run")
    lake = settings.lake
    if not lake.is_dir():
        return Check("lake", str(lake), True, "empty: created by the first `retailnova run`")
    if not os.access(lake, os.W_OK):
        return Check("lake", str(lake), False, "not writable")
    tables = {
        layer: sum(1 for p in (lake / layer).glob("*/_delta_log") if p.is_dir())
        for layer in ("bronze", "silver", "gold")
    }
    summary = ", ".join(f"{layer} {n}" for layer, n in tables.items())
    return Check("lake", str(lake), True, f"Delta tables: {summary}")


def checks(settings: Settings) -> list[Check]:
    result = [
        _database("source", settings.source_url),
        _database("metadata store", settings.metadata_url),
        _lake(settings),
    ]
    thrift = _thrift(settings.thrift_host, settings.thrift_port)
    if settings.target != "thrift" and not thrift.ok:
        thrift.detail += " (not needed: RETAILNOVA_TARGET is local)"
    result.append(thrift)
    return result
