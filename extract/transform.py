"""dbt, in-process: `dbt build` through dbtRunner on the run's Spark session.

With the `local` target (dbt-spark's session method) every model, seed,
snapshot and test runs in the JVM the extractor already started, so a run
pays for one Spark session, not one per model.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from extract.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parent.parent

# What each --layer selects; Bronze is the extractor's, not dbt's.
LAYER_SELECTORS = {
    "silver": ["path:seeds", "path:models/staging", "path:models/intermediate", "path:snapshots"],
    "gold": ["path:models/marts"],
}


# The dbt commands that run nodes and so take --threads (`ls`, `deps`, `docs
# serve` refuse it).
_THREADED = {
    "build", "clone", "compile", "retry", "run", "seed", "show", "snapshot", "test",
    ("docs", "generate"), ("source", "freshness"),
}  # fmt: skip


# The run's own values (run_id, check_scopes) reach the project here, read by
# macro run_var when a node runs. As dbt vars, which change every run, they
# made dbt parse the whole project again every run (3.4 s at scale 10).
RUN_ENV = "RETAILNOVA_DBT_RUN"


class TransformError(Exception):
    pass


@dataclass
class NodeResult:
    unique_id: str
    resource_type: str  # model, seed, snapshot, test, unit_test
    name: str
    relation: str | None  # schema.table for nodes that write one
    materialized: str | None
    status: str  # success, error, skipped, pass, fail, warn
    seconds: float
    message: str | None = None
    rows: int | None = None
    failures: int | None = None  # failing rows of a test
    tags: tuple[str, ...] = ()
    # A test scoped on the time its model wrote a row (extract/checks.py): that
    # column (landed_column, in its meta or arguments) and the tested node.
    scope_column: str | None = None
    tested: str | None = None
    # The SQL it ran (none for a seed): extract/unchanged.py reads it for the clock.
    compiled_code: str | None = None


def dbt_args(
    settings: Settings,
    command: str | list[str],
    *,
    select: list[str] | None = None,
    full_refresh: bool = False,
    extra_vars: dict | None = None,
) -> list[str]:
    # A command may have a subcommand (`docs generate`): options follow both.
    args = [
        *([command] if isinstance(command, str) else command),
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR / "profiles"),
        "--target", settings.target,
        # Per home, so two homes never share compiled state or logs.
        "--target-path", str(settings.home / "dbt" / "target"),
        "--log-path", str(settings.logs),
    ]  # fmt: skip
    if extra_vars:
        args += ["--vars", json.dumps(extra_vars)]
    words = [command] if isinstance(command, str) else command
    if words[0] in _THREADED or tuple(words[:2]) in _THREADED:
        args += ["--threads", str(settings.dbt_threads)]
    if select:
        # Cautious: a layer's build runs only the tests whose every parent is in
        # the layer, not Gold's tests that merely read a Silver model.
        args += ["--select", *select, "--indirect-selection", "cautious"]
    if full_refresh:
        args.append("--full-refresh")
    return args


@contextmanager
def run_values(run_id: str, check_scopes: dict[str, int] | None = None) -> Iterator[None]:
    """The run's values in RUN_ENV for the dbt invocations inside (dbtRunner
    reads the environment when it starts an invocation)."""
    values: dict = {"run_id": run_id}
    if check_scopes:
        values["check_scopes"] = check_scopes
    previous = os.environ.get(RUN_ENV)
    os.environ[RUN_ENV] = json.dumps(values)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = previous


def ensure_packages(settings: Settings) -> None:
    """`dbt deps` when a package of packages.yml is not installed (all are
    local, so this needs no network)."""
    from dbt.cli.main import dbtRunner

    if (PROJECT_DIR / "dbt_packages" / "spark_expectations").exists():
        return
    deps = [
        "deps",
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR / "profiles"),
        "--log-path", str(settings.logs),
        "--quiet",
    ]  # fmt: skip
    outcome = dbtRunner().invoke(deps)
    if not outcome.success:
        raise TransformError(f"dbt deps failed: {outcome.exception}")


def passthrough(settings: Settings, args: list[str], *, run_id: str) -> bool:
    """Any dbt command, with the project's paths and the run's Spark session."""
    from dbt.cli.main import dbtRunner

    if not args:
        raise TransformError("name a dbt command, e.g. `retailnova dbt build -s fact_sales`")
    words = next((i for i, arg in enumerate(args) if arg.startswith("-")), len(args))
    command, rest = args[:words], args[words:]
    if command[0] != "deps":
        ensure_packages(settings)
    with run_values(run_id):
        outcome = dbtRunner().invoke([*dbt_args(settings, command), *rest])
    if outcome.exception is not None:
        raise TransformError(f"dbt {' '.join(command)}: {outcome.exception}")
    return bool(outcome.success)


def _progress_callback(progress: Callable[[str], None]):
    def on_event(event) -> None:
        if event.info.name != "NodeFinished":
            return
        node = event.data.node_info
        kind = node.resource_type
        status = node.node_status
        if kind in ("test", "unit_test") and status in ("pass", "success"):
            return  # tests are summarised at the end; failures are shown
        relation = node.node_relation
        target = f"{relation.schema}.{relation.alias}" if relation.alias else node.node_name
        progress(f"  {status.upper():<7} {kind:<9} {target}")

    return on_event


def build(
    settings: Settings,
    *,
    run_id: str,
    layer: str | None = None,
    full_refresh: bool = False,
    unit_tests: bool = False,
    check_scopes: dict[str, int] | None = None,
    exclude: list[str] | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> list[NodeResult]:
    """`dbt build` (seeds, snapshots, models, data tests in DAG order) for a
    layer or all; check_scopes: see extract/checks.py; exclude: the nodes
    extract/unchanged.py leaves alone (a whole build only)."""
    select = LAYER_SELECTORS[layer] if layer else None
    args = dbt_args(settings, "build", select=select, full_refresh=full_refresh)
    if not unit_tests:
        # Unit tests check SQL logic on fixed inputs, so a run over new data
        # cannot change their outcome: as dbt recommends, production leaves
        # them to CI (slim CI and `make test` run them), saving 31 nodes a run.
        args += ["--exclude-resource-type", "unit_test"]
    if exclude:
        if select:
            raise TransformError("a layer's build leaves nothing alone")
        # Buildable: a test is left out only when every parent is, so a test
        # reading a node that runs runs too.
        args += ["--exclude", *exclude, "--indirect-selection", "buildable"]
    with run_values(run_id, check_scopes):
        results = _build(settings, args, "dbt build", progress)
    if layer is None and not any(r.status in ("error", "fail") for r in results):
        save_state(settings)
    return results


# Slim CI builds an analyst's change into schemas with this prefix (ci_silver,
# ci_gold), so production tables are only ever read, through --defer.
CI_SCHEMA_PREFIX = "ci_"


def state_dir(settings: Settings) -> Path:
    """The artifacts of the last complete, successful build: what slim CI
    compares a change against and defers to."""
    return settings.home / "dbt" / "state"


def save_state(settings: Settings) -> None:
    # A copy, because every later dbt call (`retailnova dbt ...`) rewrites
    # target/manifest.json; replaced atomically so slim CI never reads half a file.
    manifest = settings.home / "dbt" / "target" / "manifest.json"
    state = state_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    partial = state / "manifest.json.partial"
    partial.write_bytes(manifest.read_bytes())
    partial.replace(state / "manifest.json")


def slim_ci(
    settings: Settings,
    *,
    run_id: str,
    state: Path | None = None,
    progress: Callable[[str], None] = lambda msg: None,
) -> list[NodeResult]:
    """`dbt build` of the modified nodes and their children only, into the ci_
    schemas, with every unmodified parent read from production (--defer)."""
    state = state or state_dir(settings)
    if not (state / "manifest.json").is_file():
        raise TransformError(
            f"no production artifacts in {state}: a complete `retailnova run` saves them"
        )
    args = dbt_args(settings, "build", extra_vars={"schema_prefix": CI_SCHEMA_PREFIX})
    args += ["--select", "state:modified+", "--defer", "--state", str(state)]
    with run_values(run_id):
        return _build(settings, args, "slim CI", progress)


def _build(
    settings: Settings, args: list[str], label: str, progress: Callable[[str], None]
) -> list[NodeResult]:
    """One `dbt build` invocation, its nodes reported as they finish."""
    from dbt.cli.main import dbtRunner

    ensure_packages(settings)
    runner = dbtRunner(callbacks=[_progress_callback(progress)])
    started = time.monotonic()
    outcome = runner.invoke([*args, "--quiet"])
    if outcome.result is None:
        raise TransformError(f"dbt build could not start: {outcome.exception}")
    results = [_node_result(r) for r in outcome.result.results]
    # extract/bench.py reads this line: dbt's wall time, parsing included.
    progress(f"{label}: {len(results)} nodes in {time.monotonic() - started:.1f}s")
    return results


def _scope_column(node) -> str | None:
    # Config meta for a test whose where-hook scopes it (relationships), the
    # argument for a test macro that reads it itself (no_pii_values).
    meta = node.config.get("meta") or {}
    test = getattr(node, "test_metadata", None)
    return meta.get("landed_column") or (test.kwargs if test else {}).get("landed_column")


def _node_result(result) -> NodeResult:
    node = result.node
    relation = None
    if node.resource_type in ("model", "seed", "snapshot"):
        relation = f"{node.schema}.{node.alias}"
    return NodeResult(
        unique_id=node.unique_id,
        resource_type=str(node.resource_type),
        name=node.name,
        relation=relation,
        materialized=node.config.get("materialized"),
        status=str(result.status),
        seconds=float(result.execution_time or 0.0),
        message=result.message,
        failures=result.failures,
        tags=tuple(node.tags),
        scope_column=_scope_column(node),
        tested=_tested(node),
        compiled_code=getattr(node, "compiled_code", None),
    )


def _tested(node) -> str | None:
    # A generic test names its model; a singular test of one model (a rule of
    # the rules table) depends on it alone.
    attached = getattr(node, "attached_node", None)
    if attached or node.resource_type != "test":
        return attached
    models = [n for n in node.depends_on.nodes if n.startswith("model.")]
    return models[0] if len(models) == 1 else None
