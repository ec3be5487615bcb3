"""Runs: wires settings, the metadata store, the source and Spark together."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy import create_engine

from extract.extractor import Extractor, TableResult, check_source
from extract.jdbc import jdbc_source
from extract.metadata import MetadataStore
from extract.settings import Settings
from extract.source import schema


def extract(
    settings: Settings,
    tables: Sequence[str] = (),
    progress: Callable[[str], None] = lambda msg: None,
    run_id: str | None = None,
) -> list[TableResult]:
    from extract.spark import get_spark

    names = list(tables) or list(schema.TABLE_NAMES)
    for name in names:
        schema.table_by_name(name)
    settings.ensure_dirs()
    source_engine = create_engine(settings.source_url)
    # Before the JVM starts: a wrong URL should cost a second, not twenty.
    check_source(source_engine, jdbc_source(source_engine.url), names)
    store = MetadataStore(settings.metadata_url)
    started = time.monotonic()
    try:
        with store.run("extract", run_id) as run:
            progress(f"run {run.run_id}: extracting {', '.join(names)}")
            extractor = Extractor(settings, get_spark(settings), store, source_engine, progress)
            results = extractor.run(run.run_id, names)
            failed = [r.table for r in results if r.status != "SUCCESS"]
            total = sum(r.rows_written for r in results)
            progress(
                f"TOTAL {total:,} rows extracted into bronze from {len(results) - len(failed)}"
                f"/{len(results)} tables in {time.monotonic() - started:.1f}s"
            )
            if failed:
                run.fail(f"extraction failed for {', '.join(failed)}")
    finally:
        store.dispose()
        source_engine.dispose()
    return results
