"""The one Spark session a run uses: local mode, Delta Lake, the jar cache.

dbt-spark's `session` method calls `SparkSession.builder.getOrCreate()`, so
when the extractor has built the session, dbt runs in the same JVM with the
same configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

from extract.jars import jar_paths
from extract.settings import Settings

LAYERS = ("bronze", "silver", "gold")


def spark_conf(settings: Settings) -> dict[str, str]:
    jars = [str(p) for p in jar_paths(settings.jar_cache)]
    home = settings.home
    java_options = " ".join(
        [
            "-Duser.timezone=UTC",
            f"-Dlog4j2.configurationFile={Path(__file__).with_name('log4j2.properties').as_uri()}",
            f"-Dderby.system.home={home}",
            f"-Dderby.stream.error.file={settings.logs / 'derby.log'}",
        ]
    )
    return {
        "spark.master": settings.spark_master,
        "spark.app.name": "retailnova",
        # extraClassPath puts the drivers on the JVM's own class path, where
        # java.sql.DriverManager and Delta's extension classes are found;
        # spark.jars ships them to executors on a cluster.
        "spark.driver.extraClassPath": os.pathsep.join(jars),
        "spark.jars": ",".join(jars),
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.driver.extraJavaOptions": java_options,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(settings.lake),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true"
        ),
        "spark.sql.session.timeZone": "UTC",
        # Two cores: a handful of shuffle partitions beats the default 200.
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
    }


def get_spark(settings: Settings) -> SparkSession:
    settings.ensure_dirs()
    # Bind to loopback: the embedded default talks to nothing but itself.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    return spark


def ensure_schema(spark: SparkSession, settings: Settings, layer: str) -> None:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}")
    location = (settings.lake / layer).as_uri()
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer} LOCATION '{location}'")
