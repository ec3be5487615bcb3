"""The whole-history checks' scope: the rules on a real metadata store, and
real pipeline runs in which the checks read only what landed since they last
passed, still catch what landed since, and do not forget a failure."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from extract import checks, transform
from extract.metadata import MetadataStore
from extract.pipeline import run
from extract.source import schema
from extract.source.generate import init_source, simulate
from extract.spark import LAYERS
from extract.transform import PROJECT_DIR, NodeResult
from tests.conftest import make_settings, update_versions

NOW = datetime(2026, 12, 3, 12, 0)
CODE = "a" * 64
# Each scoped check and the column its scope filters on: Silver's landing, or
# the time a row was written for the row-by-row tests of merged tables.
SCOPED = {
    "assert_bronze_versions_are_unique": "extracted_at",
    "assert_every_bronze_key_is_cleaned_or_quarantined": "extracted_at",
    "assert_no_pii_in_silver": "extracted_at",
    "assert_fact_sales_matches_revenue_bearing_lines": "extracted_at",
    "no_pii_values_fact_sales_loaded_at": "loaded_at",
    "relationships_fact_sales_customer_key__customer_key__ref_dim_customer_": "loaded_at",
    "relationships_fact_sales_product_key__product_key__ref_dim_product_": "loaded_at",
    "relationships_fact_sales_store_key__store_key__ref_dim_store_": "loaded_at",
    "relationships_fact_sales_date_key__date_key__ref_dim_date_": "loaded_at",
    "column_checks_fact_sales": "loaded_at",
    # The rules table's row-by-row rules on fact_sales (extract/dq.py).
    "fact_sales_line_unique": "loaded_at",
    "fact_sales_net_amount_not_null": "loaded_at",
    # Silver's merged lines and orders, by the landing a merge wrote them from.
    "column_checks_int_order_lines_cleaned": "extracted_at",
    "column_checks_int_orders_cleaned": "extracted_at",
    "relationships_int_order_lines_cleaned_order_id__order_id__ref_int_orders_enriched_": (
        "extracted_at"
    ),
    "order_lines_product_not_null": "extracted_at",
    "order_lines_quantity_range": "extracted_at",
    "assert_no_raw_pii_in_silver": "extracted_at",
    # Not a check: the snapshot compares only the customers landed since.
    "snap_customers": "extracted_at",
}


def node(
    name: str,
    status: str = "pass",
    tags: tuple[str, ...] = (checks.TAG,),
    kind: str = "test",
    **fields,
) -> NodeResult:
    return NodeResult(
        f"{kind}.retailnova.{name}", kind, name, None, kind, status, 1.0, tags=tags, **fields
    )


@pytest.fixture
def store(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield store
    store.dispose()


def scopes(store: MetadataStore, **options) -> dict[str, int]:
    settings = {"code": CODE, "full_refresh": False, "full_check_days": 7, "now": NOW}
    return checks.scopes(store, **{**settings, **options})


def test_a_check_that_passed_is_scoped_to_what_landed_after_the_run_read_bronze(store):
    assert scopes(store) == {}  # never passed: the whole history
    nodes = [node("audit"), node("untagged", tags=()), node("failed", status="fail")]
    moved = checks.record(store, nodes, used={}, through=111, code=CODE, run_id="r1", now=NOW)
    assert moved == ["audit"]
    assert scopes(store, now=NOW + timedelta(days=1)) == {"audit": 111}


def test_the_scoped_snapshot_moves_on_when_it_succeeded(store):
    for status in ("error", "skipped"):
        moved = checks.record(
            store,
            [node("snap", status, kind="snapshot")],
            used={}, through=111, code=CODE, run_id="r1", now=NOW,
        )  # fmt: skip
        assert moved == []
    checks.record(
        store,
        [node("snap", "success", kind="snapshot")],
        used={}, through=222, code=CODE, run_id="r2", now=NOW,
    )  # fmt: skip
    assert scopes(store) == {"snap": 222}


def test_a_test_of_written_rows_is_scoped_to_the_newest_write_it_passed_over(store):
    facts = {"scope_column": "loaded_at", "tested": "model.retailnova.fact_sales"}
    # No newest write known (its table was not built): the scope stays.
    nodes = [node("audit"), node("pii", **facts), node("unbuilt", **facts)]
    moved = checks.record(
        store, nodes, used={}, through=111, code=CODE, run_id="r1", now=NOW, written={"pii": 222}
    )
    assert moved == ["audit", "pii"]
    assert scopes(store) == {"audit": 111, "pii": 222}


def test_a_failing_check_keeps_its_scope_until_it_passes(store):
    checks.record(store, [node("audit")], used={}, through=111, code=CODE, run_id="r1", now=NOW)
    used = scopes(store)
    failed = [node("audit", status="fail")]
    moved = checks.record(store, failed, used=used, through=222, code=CODE, run_id="r2", now=NOW)
    assert moved == []
    assert scopes(store) == {"audit": 111}
    checks.record(store, [node("audit")], used=used, through=333, code=CODE, run_id="r3", now=NOW)
    assert scopes(store) == {"audit": 333}


@pytest.mark.parametrize(
    "options",
    [
        {"full_refresh": True},
        {"code": "b" * 64},  # the project's code changed since the check passed
        {"now": NOW + timedelta(days=7)},  # the periodic full check is due
        {"full_check_days": 0},
    ],
)
def test_the_whole_history_is_checked_again_when(store, options):
    checks.record(store, [node("audit")], used={}, through=111, code=CODE, run_id="r1", now=NOW)
    assert scopes(store) == {"audit": 111}
    assert scopes(store, **options) == {}


def test_a_scoped_pass_does_not_postpone_the_periodic_full_check(store):
    checks.record(store, [node("audit")], used={}, through=1, code=CODE, run_id="r1", now=NOW)
    later = NOW + timedelta(days=6)
    used = scopes(store, now=later)
    checks.record(store, [node("audit")], used=used, through=2, code=CODE, run_id="r2", now=later)
    assert scopes(store, now=NOW + timedelta(days=7)) == {}


def test_an_erasure_since_the_check_passed_means_the_whole_history(store):
    checks.record(store, [node("audit")], used={}, through=111, code=CODE, run_id="r1", now=NOW)
    store.start_erasure(42, "dpo")
    assert scopes(store) == {}


def copy_project(destination: Path) -> Path:
    for name in ("dbt_project.yml", "models", "macros", "tests/staging"):
        source = PROJECT_DIR / name
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            target.write_bytes(source.read_bytes())
        else:
            for path in source.rglob("*"):
                if path.is_file():
                    copy = target / path.relative_to(source)
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    copy.write_bytes(path.read_bytes())
    return destination


def test_the_fingerprint_follows_the_dbt_code_and_nothing_else(tmp_path):
    project = copy_project(tmp_path / "project")
    before = checks.fingerprint(project)
    (project / "tests" / "staging" / "notes.py").write_text("# not dbt code\n")
    assert checks.fingerprint(project) == before
    model = project / "models" / "intermediate" / "int_stores_cleaned.sql"
    model.write_text(model.read_text() + "\n")
    assert checks.fingerprint(project) != before


def compiled_node(settings, name: str) -> str:
    # By name through the manifest: dbt files a long generic test name under a
    # hash, and keeps no compiled file of a snapshot.
    manifest = json.loads((settings.home / "dbt" / "target" / "manifest.json").read_text())
    (code,) = (
        node["compiled_code"]
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("test", "snapshot") and node["name"] == name
    )
    return code


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """A full run, a day later a scoped run, then a Bronze version landed twice."""
    spark = request.getfixturevalue("spark")
    for layer in LAYERS:
        spark.sql(f"DROP DATABASE IF EXISTS {layer} CASCADE")
    settings = make_settings(tmp_path_factory.mktemp("checks") / "home")
    settings.ensure_dirs()
    engine = sa.create_engine(settings.source_url)
    init_source(engine, scale=0.01, seed=31)
    store = MetadataStore(settings.metadata_url)
    first = run(settings)
    assert not first.failed, first.failed
    after_first = store.check_scopes()
    newest_fact = spark.sql("select unix_micros(max(loaded_at)) from gold.fact_sales")
    written_first = newest_fact.collect()[0][0]
    # A customer version committed late: older than the newest version the
    # snapshot holds, inside the extractor's lag window, so it lands with the
    # next run, and the snapshot, fed by landing, must still compare it.
    customers = schema.customers
    with engine.begin() as conn:
        stamp = conn.execute(sa.select(sa.func.max(customers.c.last_modified))).scalar_one()
        stamp -= timedelta(seconds=60)
    # The simulated day first: which customers it changes depends on the
    # date, and one it moved later would rightly supersede the late version.
    simulate(engine, days=1)
    with engine.begin() as conn:
        late = conn.execute(
            sa.select(sa.func.min(customers.c.customer_id)).where(customers.c.last_modified < stamp)
        ).scalar_one()
        update_versions(conn, customers, {late: {"city": "late town"}}, stamp)
        # A simulated day at this scale may change no order or line: one of
        # each gets a new version, so the checks scoped on what Silver merged
        # have a merge to move past.
        lines = schema.sales_order_lines
        for table, where in ((schema.sales_orders, sa.true()), (lines, lines.c.quantity > 0)):
            key = table.c[schema.primary_key(table)]
            first_key = conn.execute(sa.select(sa.func.min(key)).where(where)).scalar_one()
            newest = conn.execute(sa.select(sa.func.max(table.c.last_modified))).scalar_one()
            update_versions(conn, table, {first_key: {}}, newest + timedelta(seconds=1))
    second = run(settings)
    assert not second.failed, second.failed
    # As text: collecting a timestamp would shift it into the local time zone.
    late_versions = spark.sql(
        "select city, date_format(dbt_valid_from, 'yyyy-MM-dd HH:mm:ss') as valid_from, "
        "date_format(dbt_valid_to, 'yyyy-MM-dd HH:mm:ss') as valid_to "
        f"from silver.snap_customers where customer_id = {late} order by dbt_valid_from"
    ).collect()
    compiled = {name: compiled_node(settings, name) for name in SCOPED}
    after_second = store.check_scopes()
    # The extractor's promise broken on purpose: a version lands a second time.
    line = spark.sql(
        "select * from bronze.sales_order_lines where order_line_id is not null "
        "order by _extracted_at desc limit 1"
    )
    landed = "current_timestamp() as _extracted_at"
    again = line.selectExpr(*[landed if c == "_extracted_at" else c for c in line.columns])
    again.write.insertInto("bronze.sales_order_lines")
    third = run(settings, layer="silver")
    after_third = store.check_scopes()
    # A fact written after the fact_sales checks passed, with an email in a
    # key column: their scope must take it in. And a copy of an old fact,
    # of which only the copy was written since.
    oldest = spark.sql("select min(order_line_id) from gold.fact_sales").collect()[0][0]
    fact = spark.table("gold.fact_sales").where(f"order_line_id = {oldest}")
    changed = {
        "order_line_id": "-order_line_id as order_line_id",
        "customer_key": "'leak@example.gr' as customer_key",
        "loaded_at": "current_timestamp() as loaded_at",
    }
    leak = fact.selectExpr(*[changed.get(c, c) for c in fact.columns])
    copy = fact.selectExpr(*[changed[c] if c == "loaded_at" else c for c in fact.columns])
    leak.unionByName(copy).write.insertInto("gold.fact_sales")
    fourth = run(settings, layer="gold")
    after_fourth = store.check_scopes()
    yield {
        "first": first,
        "second": second,
        "third": third,
        "fourth": fourth,
        "compiled": compiled,
        "scopes": [after_first, after_second, after_third, after_fourth],
        "written_first": written_first,
        "late_versions": late_versions,
        "late_stamp": stamp,
        "landed": checks.landed_through(spark),
        "settings": settings,
    }
    store.dispose()


def test_every_whole_history_check_is_scoped_once_it_has_passed(runs):
    first, second, *_ = runs["scopes"]
    assert set(first) == set(SCOPED)
    assert set(second) == set(SCOPED)
    for name in SCOPED:
        assert second[name]["checked_through_micros"] > first[name]["checked_through_micros"]
        assert second[name]["full_checked_at"] == first[name]["full_checked_at"]
        bound = first[name]["checked_through_micros"]
        # The previous run's landing, inlined so Delta can skip files by it.
        column = SCOPED[name]
        assert re.search(rf"{column} > timestamp_micros\({bound}\)", runs["compiled"][name])


def test_the_runs_parse_the_project_once_whatever_their_scopes(runs):
    # Scopes and run ids reach dbt outside its vars (macro run_var), so the
    # scoped runs reuse the first run's parse; a ref only the scoped form of a
    # check makes needs its depends_on hint for that.
    logs = sorted(runs["settings"].logs.glob("dbt.log*"))
    text = "".join(path.read_text() for path in logs)
    assert text.count("Unable to do partial parsing") == 1
    assert "saved manifest not found" in text


def test_a_test_of_written_facts_is_scoped_past_the_facts_its_run_wrote(runs):
    # The full run wrote every fact after it read Bronze: scoped on that
    # landing, the next run's tests of written facts would read them all again.
    first = runs["scopes"][0]
    landing = first["assert_no_pii_in_silver"]["checked_through_micros"]
    for name, column in SCOPED.items():
        if column == "loaded_at":
            assert first[name]["checked_through_micros"] == runs["written_first"] > landing


def test_the_scoped_snapshot_still_compares_a_version_that_landed_late(runs):
    *earlier, current = runs["late_versions"]
    stamp = runs["late_stamp"].strftime("%Y-%m-%d %H:%M:%S")
    assert earlier, "the customer had a version before the late one"
    assert (current.city, current.valid_from, current.valid_to) == ("late town", stamp, None)
    assert earlier[-1].valid_to == stamp


def test_a_scoped_run_passes_its_checks_on_clean_data(runs):
    statuses = {n.name: n.status for n in runs["second"].nodes}
    for name in SCOPED:
        assert statuses[name] == ("success" if name == "snap_customers" else "pass"), name


def test_a_scoped_check_catches_what_landed_since_and_does_not_forget_it(runs):
    check = "assert_bronze_versions_are_unique"
    assert check in runs["third"].failed
    _, before, after, _ = runs["scopes"]
    assert after[check] == before[check]
    # dbt build skips what depends on the staging models behind the failing
    # test; a skipped check keeps its scope as well.
    audit = "assert_every_bronze_key_is_cleaned_or_quarantined"
    assert {n.name: n.status for n in runs["third"].nodes}[audit] == "skipped"
    assert after[audit] == before[audit]
    # The next run reads the duplicate again: it landed after the scope.
    assert before[check]["checked_through_micros"] < runs["landed"]


def passes_scoped(runs, check: str, scope: int) -> bool:
    """One check run by hand with the given scope, as a pipeline run passes it."""
    scoped = json.dumps({"check_scopes": {check: scope}})
    args = ["test", "--select", check, "--vars", scoped]
    return transform.passthrough(runs["settings"], args, run_id=f"by-hand-{check}")


def customer_landed_last(spark) -> tuple[int, int]:
    """The cleaned customer (with an address) whose newest version landed
    last, and that landing in epoch microseconds."""
    return tuple(
        spark.sql(
            "select staged.customer_id, unix_micros(max(staged.extracted_at)) as landed "
            "from silver.stg_retailnova__customers as staged "
            "left semi join silver.int_customers_cleaned as cleaned "
            "on staged.customer_id = cleaned.customer_id and cleaned.address is not null "
            "group by staged.customer_id order by landed desc limit 1"
        ).collect()[0]
    )


def test_the_scoped_raw_pii_scan_reads_the_silver_rows_written_since_its_scope(runs, spark):
    # The runs' failing Bronze check skips it, so by hand: an '@' (not an
    # email: only this scan looks for a bare one) in a merged Silver row.
    check = "assert_no_raw_pii_in_silver"
    clock = "select unix_micros(current_timestamp())"
    before = spark.sql(clock).collect()[0][0]
    order = spark.sql("select * from silver.int_orders_cleaned order by order_id limit 1")
    marked = {
        "order_id": "-order_id as order_id",
        "payment_method": "'card@desk' as payment_method",
        "extracted_at": "current_timestamp() as extracted_at",
    }
    order.selectExpr(*[marked.get(c, c) for c in order.columns]).write.insertInto(
        "silver.int_orders_cleaned"
    )
    written = spark.sql("select unix_micros(max(extracted_at)) from silver.int_orders_cleaned")
    written = written.collect()[0][0]
    try:
        assert before < written
        assert not passes_scoped(runs, check, before)  # the row written since is read
        assert passes_scoped(runs, check, written)  # and none but those of the tables read whole
        assert not passes_scoped(runs, check, written - 1)
    finally:
        spark.sql("delete from silver.int_orders_cleaned where order_id < 0")


@pytest.mark.parametrize("relation", ["silver.int_customers_cleaned", "silver.snap_customers"])
def test_the_scoped_pii_scans_read_the_rows_of_the_customers_landed_since(runs, spark, relation):
    # Both hold per customer rows derived from its landed versions (meta
    # landed_key): a leak by hand in the rows of the customer landed last is
    # read by a scope before its landing, and left to the scan that read
    # those rows before by a scope at it.
    customer, landed = customer_landed_last(spark)
    leak = "leak@example.gr "
    spark.sql(
        f"update {relation} set address = concat('{leak}', address) where customer_id = {customer}"
    )
    try:
        for check in ("assert_no_pii_in_silver", "assert_no_raw_pii_in_silver"):
            assert not passes_scoped(runs, check, landed - 1), check
            assert passes_scoped(runs, check, landed), check
    finally:
        spark.sql(
            f"update {relation} set address = substring(address, {len(leak) + 1}) "
            f"where customer_id = {customer}"
        )


def test_the_scoped_audit_reads_the_customers_landed_since(runs, spark):
    # The cleaned customers are rebuilt each run, a row per customer from its
    # own Bronze rows: the nothing-lost audit scoped before the landing of
    # the customer landed last finds its cleaned row gone, one scoped at it
    # does not look (the audit that passed before it did).
    audit = "assert_every_bronze_key_is_cleaned_or_quarantined"
    customer, landed = customer_landed_last(spark)
    cleaned = spark.table("silver.int_customers_cleaned").where(f"customer_id = {customer}")
    kept = cleaned.localCheckpoint()
    assert kept.count() == 1
    spark.sql(f"delete from silver.int_customers_cleaned where customer_id = {customer}")
    try:
        assert not passes_scoped(runs, audit, landed - 1)
        assert passes_scoped(runs, audit, landed)
    finally:
        kept.write.insertInto("silver.int_customers_cleaned")


def test_a_scoped_generic_test_reads_the_facts_written_since_it_passed(runs):
    statuses = {n.name: n.status for n in runs["fourth"].nodes}
    leak = "no_pii_values_fact_sales_loaded_at"
    dangling = "relationships_fact_sales_customer_key__customer_key__ref_dim_customer_"
    assert statuses[leak] == statuses[dangling] == "fail"
    # The Gold checks that passed moved on; the failing ones will look again.
    _, second, _, fourth = runs["scopes"]
    assert fourth[leak] == second[leak] and fourth[dangling] == second[dangling]
    store = "relationships_fact_sales_store_key__store_key__ref_dim_store_"
    assert statuses[store] == "pass" and fourth[store] != second[store]


# A rule counts the duplicated keys, the grouped checks their rows.
@pytest.mark.parametrize(
    ("name", "failures"), [("column_checks_fact_sales", 2), ("fact_sales_line_unique", 1)]
)
def test_a_scoped_unique_test_reads_every_row_of_a_key_written_since(runs, name, failures):
    # The old fact was loaded before the scope, its copy after: a scan of
    # the facts written since alone would see the key once.
    node = next(n for n in runs["fourth"].nodes if n.name == name)
    assert (node.status, node.failures) == ("fail", failures)
    _, second, _, fourth = runs["scopes"]
    assert fourth[name] == second[name]
