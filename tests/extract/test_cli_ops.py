"""The operations commands read the metadata store."""

from __future__ import annotations

from datetime import datetime

from click.testing import CliRunner

from extract.cli import main
from extract.metadata import MetadataStore


def invoke(home, *args):
    return CliRunner().invoke(main, list(args), env={"RETAILNOVA_HOME": str(home)})


def test_empty_store_says_what_to_run(tmp_path):
    assert "retailnova run" in invoke(tmp_path, "runs").output
    assert "no errors" in invoke(tmp_path, "errors").output
    assert "nothing has been extracted" in invoke(tmp_path, "watermarks").output


def test_runs_errors_and_watermarks_are_listed(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    try:
        with store.run("extract", "run-1") as run:
            store.set_watermark("customers", datetime(2026, 6, 30, 12, 0, 0, 5), run.run_id)
            store.record_error(run.run_id, "bronze:products", "ValueError", "bad products")
            run.fail("extraction failed for products")
    finally:
        store.dispose()

    runs = invoke(tmp_path, "runs").output.splitlines()
    assert runs[0].split() == [
        "run_id",
        "command",
        "status",
        "started_at",
        "finished_at",
        "error_message",
    ]
    assert runs[1].startswith("run-1") and "FAILED" in runs[1]
    assert "extraction failed for products" in runs[1]
    errors = invoke(tmp_path, "errors").output
    assert "bronze:products" in errors and "ValueError" in errors and "bad products" in errors
    marks = invoke(tmp_path, "watermarks").output
    assert "customers" in marks and "2026-06-30 12:00:00" in marks


def test_status_reports_each_service_and_fails_when_the_source_is_down(tmp_path):
    up = invoke(tmp_path, "status")
    assert up.exit_code == 0, up.output
    assert "ok   source" in up.output and "ok   metadata store" in up.output
    assert "lake" in up.output and "thrift server" in up.output

    down = CliRunner().invoke(
        main,
        ["status"],
        env={
            "RETAILNOVA_HOME": str(tmp_path),
            "RETAILNOVA_SOURCE_URL": "postgresql://etl:S3cretPw@127.0.0.1:9/oltp",
        },
    )
    assert down.exit_code == 1
    assert "DOWN source" in down.output and "127.0.0.1:9" in down.output
    assert "S3cretPw" not in down.output
