"""Nodes a run may leave as an earlier run built them: nothing they read changed.

A day's run rebuilds and re-tests every node, and at Spark's per-query floor
(about 0.3 s a test, one to two seconds a model, at any scale) a node whose
inputs did not change costs as much as one whose did: on a simulated day the
stores, the two seeds and everything built only from them (`dim_store`,
`dim_date`, 29 tests) cost a scale-10 run 12 s to reproduce what the lake
already holds.

A run leaves a node alone when rebuilding it could not change anything:

- it ended clean (a model, seed or snapshot built, a test passed) in an
  earlier run with the same project code (checks.fingerprint: the SQL, the
  YAML, the seeds), so a test that failed or warned runs again;
- every Bronze table it reads directly has the Delta version it read then
  (the extractor commits only when it lands a row; an erasure rewrites
  Bronze);
- every model, seed or snapshot it reads is left alone too, so a node
  downstream of a rebuilt one is rebuilt;
- its compiled SQL does not read the clock (`current_date()`: a customer's
  age moves every day without a new row; a freshness rule fails when no row
  arrives).

A test with a parent that runs runs (dbt's `buildable` indirect selection on
the exclusion): a relationships test from the facts to `dim_store` still runs
when only the facts changed. A test that must run although all its parents
are left alone (it failed last time) has them rebuilt: a deterministic model
rebuilt from unchanged inputs holds the same rows.

The record (`builds.json` beside the production artifacts) is per node: the
Bronze versions it was built from, in the run that last built it clean.
Nothing is left alone on a full refresh, a `--layer` run, or after anything
wrote the lake outside a run: `retailnova dbt` with a command that builds, an
erasure and a pepper rotation forget the record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from extract.settings import Settings
from extract.transform import NodeResult, state_dir

RECORD = "builds.json"

# What a node ends with when it ran clean.
_CLEAN = {"model": "success", "seed": "success", "snapshot": "success", "test": "pass"}
_BUILT = ("model", "seed", "snapshot")

# Spark SQL's clock functions.
_CLOCK = re.compile(
    r"\b(current_date|current_timestamp|now|localtimestamp|unix_timestamp|curdate)\b",
    re.IGNORECASE,
)


def reads_clock(node: NodeResult) -> bool:
    """True when the node's result can move with the clock alone; SQL it did
    not report counts as reading it (a seed has none: it is its CSV)."""
    if node.resource_type == "seed":
        return False
    return node.compiled_code is None or bool(_CLOCK.search(node.compiled_code))


@dataclass
class Plan:
    """What a run leaves alone, and the Bronze versions it reads."""

    versions: dict[str, int | None]  # per dbt source id
    # Models, seeds and snapshots left alone, name: relation (`gold.dim_store`).
    relations: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # `retailnova.stores`: its tests
    tests: int = 0

    @property
    def models(self) -> list[str]:
        return sorted(self.relations)

    @property
    def exclude(self) -> list[str]:
        """dbt --exclude selectors, for `--indirect-selection buildable`: a
        test is left out only when every parent is."""
        return [*self.models, *(f"source:{s}" for s in self.sources)]

    def describe(self) -> str:
        names = ", ".join([*self.models, *self.sources])
        return (
            f"left as their last clean build left them (nothing they read changed): "
            f"{len(self.models)} models, seeds and snapshots, {self.tests} tests ({names})"
        )


def _path(settings: Settings):
    return state_dir(settings) / RECORD


def _load(settings: Settings) -> dict | None:
    path = _path(settings)
    return json.loads(path.read_text()) if path.is_file() else None


def forget(settings: Settings) -> None:
    """Every node runs in the next run: the lake was written outside a run."""
    _path(settings).unlink(missing_ok=True)


def bronze_versions(spark, sources: dict[str, dict]) -> dict[str, int | None]:
    """Per dbt source id, the Delta version of its table; None when there is
    no such table."""
    found: dict[str, int | None] = {}
    for uid, source in sources.items():
        relation = source["relation"]
        if spark.catalog.tableExists(relation):
            history = spark.sql(f"describe history {relation} limit 1").collect()
            found[uid] = int(history[0]["version"])
        else:
            found[uid] = None
    return found


def plan(spark, settings: Settings, *, code: str, rebuild_all: bool) -> Plan:
    """What this run may leave alone: nothing when rebuild_all, before the
    first record, or when the project's code changed since it."""
    record = _load(settings)
    if rebuild_all or not record or record["fingerprint"] != code:
        return Plan(versions={})
    graph, built = record["graph"], record["nodes"]
    kinds, parents, sources = graph["kinds"], graph["parents"], graph["sources"]
    result = Plan(versions=bronze_versions(spark, sources))

    def unchanged(uid: str) -> bool:
        entry = built.get(uid)
        return entry is not None and all(
            result.versions.get(source) == version for source, version in entry.items()
        )

    def built_parents(uid: str) -> list[str]:
        return [p for p in parents.get(uid, ()) if kinds.get(p) in _BUILT]

    def source_parents(uid: str) -> list[str]:
        return [p for p in parents.get(uid, ()) if p in sources]

    left: set[str] = set()
    decided: dict[str, bool] = {}

    def stays(uid: str) -> bool:
        # The graph is a DAG; memoised, so each node is decided once.
        if uid not in decided:
            decided[uid] = unchanged(uid) and all(stays(p) for p in built_parents(uid))
            if decided[uid]:
                left.add(uid)
        return decided[uid]

    for uid, kind in kinds.items():
        if kind in _BUILT:
            stays(uid)
    tests = [uid for uid, kind in kinds.items() if kind == "test"]
    # A source is excluded for its own tests; one without any is not named.
    quiet = {p for uid in tests for p in source_parents(uid) if result.versions.get(p) is not None}

    def all_left(uid: str) -> bool:
        return all(p in left for p in built_parents(uid)) and all(
            p in quiet for p in source_parents(uid)
        )

    for uid in tests:
        if all_left(uid) and not unchanged(uid):
            # It must run (it failed, warned, or its source changed), and dbt
            # runs a test only with a parent: rebuild what it reads, which
            # gives the same rows from the same inputs.
            left.difference_update(built_parents(uid))
            quiet.difference_update(source_parents(uid))
    result.relations = {graph["names"][uid]: graph["relations"][uid] for uid in left}
    result.sources = sorted(sources[uid]["selector"] for uid in quiet)
    result.tests = sum(1 for uid in tests if all_left(uid))
    return result


def record(
    settings: Settings,
    spark,
    nodes: list[NodeResult],
    *,
    code: str,
    versions: dict[str, int | None],
) -> None:
    """After a build: each node that ran clean is recorded with the Bronze
    versions it read, each that did not is forgotten, and a node this run
    left alone keeps its record."""
    manifest = settings.home / "dbt" / "target" / "manifest.json"
    graph = _graph(json.loads(manifest.read_text()))
    if set(graph["sources"]) - set(versions):
        # The first run: nothing was planned, and dbt does not write Bronze.
        versions = {**bronze_versions(spark, graph["sources"]), **versions}
    previous = _load(settings)
    built = previous["nodes"] if previous and previous["fingerprint"] == code else {}
    for node in nodes:
        kind = node.resource_type
        if kind not in _CLEAN:
            continue
        if node.status == _CLEAN[kind] and not reads_clock(node):
            built[node.unique_id] = {
                p: versions[p] for p in graph["parents"].get(node.unique_id, ()) if p in versions
            }
        else:
            built.pop(node.unique_id, None)
    built = {uid: entry for uid, entry in built.items() if uid in graph["kinds"]}
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(
        json.dumps(
            {
                "fingerprint": code,
                "graph": graph,
                "nodes": built,
            }
        )
    )
    partial.replace(path)


def _graph(manifest: dict) -> dict:
    nodes = manifest["nodes"]
    kinds = {
        uid: node["resource_type"] for uid, node in nodes.items() if node["resource_type"] in _CLEAN
    }
    return {
        "kinds": kinds,
        "names": {uid: nodes[uid]["name"] for uid in kinds},
        "relations": {
            uid: f"{nodes[uid]['schema']}.{nodes[uid]['alias']}"
            for uid, kind in kinds.items()
            if kind in _BUILT
        },
        "parents": {uid: manifest["parent_map"].get(uid, []) for uid in kinds},
        "sources": {
            uid: {
                "selector": f"{s['source_name']}.{s['name']}",
                "relation": f"{s['schema']}.{s['identifier']}",
            }
            for uid, s in manifest["sources"].items()
        },
    }
