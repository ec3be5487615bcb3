"""How dbt is called: the project's paths, per-home state, subcommands. Slim
CI and the docs site on a real build are tested beside the pipeline they need,
in test_dq_defects.py."""

from __future__ import annotations

import pytest
from dbt.cli.main import dbtRunner

from extract.pipeline import slim_ci
from extract.transform import LAYER_SELECTORS, PROJECT_DIR, TransformError, dbt_args


def test_options_follow_a_subcommand(settings):
    args = dbt_args(settings, ["docs", "generate"], run_id="r1")

    assert args[:2] == ["docs", "generate"]
    assert args[args.index("--target-path") + 1] == str(settings.home / "dbt" / "target")
    assert '"run_id": "r1"' in args[args.index("--vars") + 1]
    assert args[args.index("--project-dir") + 1] == str(PROJECT_DIR)


def test_a_layer_selects_cautiously(settings):
    args = dbt_args(settings, "build", run_id="r1", select=LAYER_SELECTORS["silver"])

    assert args[args.index("--indirect-selection") + 1] == "cautious"
    assert "path:models/intermediate" in args


def test_threads_go_to_the_commands_that_run_nodes(tmp_path):
    from tests.conftest import make_settings

    thrift = make_settings(tmp_path, RETAILNOVA_TARGET="thrift")
    build = dbt_args(thrift, "build", run_id="r1")
    assert build[build.index("--threads") + 1] == "4"
    docs = dbt_args(make_settings(tmp_path), ["docs", "generate"], run_id="r1")
    assert docs[docs.index("--threads") + 1] == "1"
    # `dbt ls` refuses --threads.
    assert "--threads" not in dbt_args(thrift, "ls", run_id="r1")


def test_dbt_accepts_the_arguments_it_is_given(settings):
    # `dbt ls` parses the whole project without touching Spark: every option we
    # pass must be one dbt knows, for a command with and without a subcommand.
    for command in ("ls", ["docs", "generate"]):
        args = dbt_args(settings, command, run_id="r1", select=LAYER_SELECTORS["gold"])
        if command == "ls":
            outcome = dbtRunner().invoke([*args, "--quiet"])
            assert outcome.success, outcome.exception
        else:
            parsed = dbtRunner().invoke([*args, "--help"])
            assert parsed.exception is None


def test_slim_ci_without_production_artifacts_says_what_to_run(settings):
    with pytest.raises(TransformError, match="complete `retailnova run` saves them"):
        slim_ci(settings)
