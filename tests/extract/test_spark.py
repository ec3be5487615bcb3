"""The lake's layers on local disk: who may read them; and the Spark conf
every session and the Thrift server share."""

from __future__ import annotations

import pytest

from extract.jars import fetch
from extract.spark import (
    BRONZE_MODE,
    LAYERS,
    ensure_schema,
    jvm_environment,
    lake_table,
    spark_conf,
)
from tests.conftest import make_settings

PASSWORD = "s3cret-metastore-pw"


def test_bronze_is_private_to_the_pipeline_user_silver_and_gold_are_not(catalog, settings):
    settings.ensure_dirs()
    (settings.lake / "bronze").mkdir()
    (settings.lake / "bronze").chmod(0o755)  # a lake from before, or a loose umask

    for layer in LAYERS:
        ensure_schema(catalog, settings, layer)

    assert BRONZE_MODE == 0o700
    assert (settings.lake / "bronze").stat().st_mode & 0o777 == 0o700
    for layer in ("silver", "gold"):
        assert (settings.lake / layer).stat().st_mode & 0o005 == 0o005, layer


# The Spark conf every session and the Thrift server share: the metastore, the
# lake on S3 and RETAILNOVA_SPARK_CONF, without a secret in it.


def test_the_default_metastore_is_derby_under_the_home(tmp_path):
    conf = spark_conf(make_settings(tmp_path))
    url = conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert url == f"jdbc:derby:;databaseName={tmp_path / 'metastore_db'};create=true"
    assert "spark.hadoop.javax.jdo.option.ConnectionPassword" not in conf


def test_a_postgresql_metastore_keeps_its_password_out_of_the_conf(tmp_path):
    settings = make_settings(
        tmp_path,
        RETAILNOVA_METASTORE_URL=f"postgresql://hive:{PASSWORD}@db.internal:6543/metastore",
    )
    conf = spark_conf(settings)

    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"] == (
        "jdbc:postgresql://db.internal:6543/metastore"
    )
    assert conf["spark.hadoop.javax.jdo.option.ConnectionUserName"] == "hive"
    assert conf["spark.hadoop.datanucleus.schema.autoCreateAll"] == "true"
    # Hadoop resolves the reference from the JVM's environment.
    password = conf["spark.hadoop.javax.jdo.option.ConnectionPassword"]
    assert password == "${env.RETAILNOVA_METASTORE_PASSWORD}"
    assert not any(PASSWORD in value for value in conf.values())
    assert jvm_environment(settings) == {"RETAILNOVA_METASTORE_PASSWORD": PASSWORD}


def test_spark_conf_setting_is_applied_last(tmp_path):
    settings = make_settings(
        tmp_path, RETAILNOVA_SPARK_CONF="spark.sql.shuffle.partitions=64 spark.cores.max=8"
    )
    conf = spark_conf(settings)
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.cores.max"] == "8"


@pytest.fixture
def s3_jars(tmp_path):
    """The S3A jars in the jar cache (Maven Central, once per cache)."""
    fetch(make_settings(tmp_path).jar_cache, s3=True)


def test_a_lake_on_s3(tmp_path, s3_jars):
    settings = make_settings(
        tmp_path,
        RETAILNOVA_LAKE_URL="s3a://retailnova-lake/prod",
        RETAILNOVA_S3_ENDPOINT="http://127.0.0.1:9000",
    )
    conf = spark_conf(settings)
    assert conf["spark.sql.warehouse.dir"] == "s3a://retailnova-lake/prod"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert "hadoop-aws-3.3.4.jar" in conf["spark.jars"]
    assert not any("access.key" in key or "secret" in key for key in conf)
    assert (
        lake_table(settings, "gold", "fact_sales") == "s3a://retailnova-lake/prod/gold/fact_sales"
    )

    local = make_settings(tmp_path)
    assert "hadoop-aws" not in spark_conf(local)["spark.jars"]
    stores = tmp_path / "lake" / "bronze" / "stores"
    assert lake_table(local, "bronze", "stores") == stores.as_uri()
