"""One real pipeline run for every app test: a sample source at scale 0.05,
`extract.pipeline.run` (extract + dbt build of Silver and Gold), and the home
it left behind. Package-scoped, so the AppTest and browser tests share it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from app.timing import ENTRYPOINT  # noqa: F401 - the page tests import it from here
from extract.metadata import MetadataStore
from extract.pipeline import run
from extract.source.generate import init_source
from extract.spark import LAYERS
from tests.conftest import make_settings

AS_OF = datetime(2026, 6, 30, 18, 0, 0)
SCALE = 0.05
SEED = 606
PEPPER = "0a6f3e9c1d2b4a5e8f7c6d5b4a3928171e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b"
# page file (relative to the entrypoint) -> its URL path in a browser
PAGES = {
    "views/overview.py": "",
    "views/kpis.py": "kpis",
    "views/customers.py": "customers",
    "views/data_quality.py": "data_quality",
    "views/pipeline_monitor.py": "pipeline_monitor",
}


@dataclass
class PipelineHome:
    home: Path
    run_id: str  # the run that built Gold
    seconds: float

    @property
    def gold(self) -> Path:
        return self.home / "lake" / "gold"

    @property
    def metadata_url(self) -> str:
        return f"sqlite:///{self.home / 'metadata.db'}"


@pytest.fixture(scope="package")
def pipeline_home(request, tmp_path_factory) -> PipelineHome:
    reused = os.environ.get("RETAILNOVA_TEST_APP_HOME")
    if reused:
        # Iterating on the app: read a home that an earlier `retailnova run` left.
        return PipelineHome(Path(reused), _last_run_id(Path(reused)), 0.0)
    spark = request.getfixturevalue("spark")
    for layer in LAYERS:  # what the `catalog` fixture does, for the package
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    home = tmp_path_factory.mktemp("app") / "home"
    settings = make_settings(home, RETAILNOVA_PII_PEPPER=PEPPER)
    settings.ensure_dirs()
    engine = create_engine(settings.source_url)
    init_source(engine, scale=SCALE, seed=SEED, as_of=AS_OF)
    engine.dispose()
    started = time.monotonic()
    summary = run(settings)
    seconds = time.monotonic() - started
    print(f"\n[app] pipeline run: {seconds:.1f}s, ok={summary.ok}, failed={summary.failed}")
    if not summary.ok:
        pytest.fail(f"the pipeline run the app tests read failed: {summary.failed}")
    return PipelineHome(home, summary.run_id, seconds)


def _last_run_id(home: Path) -> str:
    store = MetadataStore(f"sqlite:///{home / 'metadata.db'}")
    try:
        done = [r for r in store.recent_runs(100) if r["status"] == "SUCCESS"]
        return next(r["run_id"] for r in done if r["command"].startswith("run"))
    finally:
        store.dispose()


@pytest.fixture
def app_env(monkeypatch):
    """Point the app at a home; nothing else from the caller's environment."""

    def point(home: Path) -> None:
        for name in ("RETAILNOVA_METADATA_URL", "RETAILNOVA_SOURCE_URL", "RETAILNOVA_ENV"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("RETAILNOVA_HOME", str(home))

    return point
