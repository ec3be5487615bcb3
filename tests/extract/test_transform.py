"""How dbt is called: the project's paths, per-home state, subcommands."""

from __future__ import annotations

from dbt.cli.main import dbtRunner

from extract.transform import LAYER_SELECTORS, PROJECT_DIR, dbt_args


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
