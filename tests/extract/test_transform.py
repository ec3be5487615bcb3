"""How dbt is called: the project's paths, per-home state, subcommands. Slim
CI and the docs site on a real build are tested beside the pipeline they need,
in test_dq_defects.py."""

from __future__ import annotations

import pytest
from dbt.cli.main import dbtRunner

from extract.pipeline import prepare_spark, slim_ci
from extract.transform import (
    LAYER_SELECTORS,
    PROJECT_DIR,
    TransformError,
    dbt_args,
    passthrough,
)


def test_options_follow_a_subcommand(settings):
    args = dbt_args(settings, ["docs", "generate"])

    assert args[:2] == ["docs", "generate"]
    assert args[args.index("--target-path") + 1] == str(settings.home / "dbt" / "target")
    # The run's own values go in the environment (run_values), not in --vars.
    assert "--vars" not in args
    assert args[args.index("--project-dir") + 1] == str(PROJECT_DIR)


def test_a_layer_selects_cautiously(settings):
    args = dbt_args(settings, "build", select=LAYER_SELECTORS["silver"])

    assert args[args.index("--indirect-selection") + 1] == "cautious"
    assert "path:models/intermediate" in args


def test_threads_go_to_the_commands_that_run_nodes(tmp_path):
    from tests.conftest import make_settings

    thrift = make_settings(tmp_path, RETAILNOVA_TARGET="thrift")
    build = dbt_args(thrift, "build")
    assert build[build.index("--threads") + 1] == "4"
    docs = dbt_args(make_settings(tmp_path), ["docs", "generate"])
    assert docs[docs.index("--threads") + 1] == "1"
    # `dbt ls` refuses --threads.
    assert "--threads" not in dbt_args(thrift, "ls")


def test_dbt_accepts_the_arguments_it_is_given(settings):
    # `dbt ls` parses the whole project without touching Spark: every option we
    # pass must be one dbt knows, for a command with and without a subcommand.
    for command in ("ls", ["docs", "generate"]):
        args = dbt_args(settings, command, select=LAYER_SELECTORS["gold"])
        if command == "ls":
            outcome = dbtRunner().invoke([*args, "--quiet"])
            assert outcome.success, outcome.exception
        else:
            parsed = dbtRunner().invoke([*args, "--help"])
            assert parsed.exception is None


def test_each_run_id_reaches_the_models_and_dbt_parses_the_project_once(catalog, settings):
    settings.ensure_dirs()
    prepare_spark(settings, settings.resolve_pepper())
    compiled = {}
    for run_id in ("20261206T000000Z-aaaaaa", "20261207T000000Z-bbbbbb"):
        assert passthrough(
            settings, ["compile", "--select", "int_records_quarantined"], run_id=run_id
        )
        target = settings.home / "dbt" / "target" / "compiled"
        compiled[run_id] = next(target.rglob("int_records_quarantined.sql")).read_text()

    for run_id, sql in compiled.items():
        assert f"'{run_id}' as run_id" in sql
    # As a dbt var, a new run id made dbt parse the whole project again.
    log = (settings.logs / "dbt.log").read_text()
    assert log.count("Unable to do partial parsing") == 1
    assert "saved manifest not found" in log


def test_slim_ci_without_production_artifacts_says_what_to_run(settings):
    with pytest.raises(TransformError, match="complete `retailnova run` saves them"):
        slim_ci(settings)
