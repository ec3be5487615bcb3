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
    jars = [str(p) for p in jar_paths(settings.jar_cache, s3=settings.lake_on_s3)]
    home = settings.home
    java_options = " ".join(
        [
            "-Duser.timezone=UTC",
            f"-Dlog4j2.configurationFile={Path(__file__).with_name('log4j2.properties').as_uri()}",
            f"-Dderby.system.home={home}",
            f"-Dderby.stream.error.file={settings.logs / 'derby.log'}",
            # Parquet's codecs allocate direct buffers, which only a GC frees;
            # uncapped, the JVM lets them grow as large as the heap (scale 100,
            # partitioned fact_sales: 9.4 GiB resident with a 4 GiB heap, 5.2
            # GiB with this cap). At the cap the JVM collects instead.
            "-XX:MaxDirectMemorySize=1g",
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
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": settings.lake_uri if settings.lake_on_s3 else str(settings.lake),
        **metastore_conf(settings),
        **s3_conf(settings),
        "spark.sql.session.timeZone": "UTC",
        # Two cores: a handful of shuffle partitions beats the default 200.
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.adaptive.enabled": "true",
        # Every table dbt rewrites is read back through a fresh Delta snapshot,
        # whose state is rebuilt in 50 tasks by default; on two cores that
        # scheduling was half the floor of a data test (18 rule tests: 53.2 s
        # with 50, 30.0 s with 2).
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # RETAILNOVA_SPARK_CONF last: a cluster's sizing and tuning win.
        **dict(settings.spark_conf_extra),
    }


def s3_conf(settings: Settings) -> dict[str, str]:
    """S3A for a lake on s3a://. Credentials are not conf: the AWS SDK's chain
    finds AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the JVM's environment, or
    a cluster's instance role."""
    if not settings.lake_on_s3:
        return {}
    conf = {"spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem"}
    if settings.s3_endpoint:
        # An S3-compatible server: bucket in the path, plain HTTP when it says so.
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": settings.s3_endpoint,
                "spark.hadoop.fs.s3a.endpoint.region": settings.s3_region,
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                    settings.s3_endpoint.startswith("https://")
                ).lower(),
            }
        )
    return conf


# The metastore password reaches the JVM in its environment, never in its
# conf (pyspark passes the conf on the command line, visible in `ps`): Hadoop
# substitutes ${env.NAME} when Hive reads the setting.
METASTORE_PASSWORD_ENV = "RETAILNOVA_METASTORE_PASSWORD"


# Hive 2.3's persistent classes (package.jdo of hive-metastore).
_METASTORE_CLASSES = [
    "MDatabase",
    "MFieldSchema",
    "MType",
    "MTable",
    "MConstraint",
    "MSerDeInfo",
    "MOrder",
    "MColumnDescriptor",
    "MStringList",
    "MStorageDescriptor",
    "MPartition",
    "MIndex",
    "MRole",
    "MRoleMap",
    "MGlobalPrivilege",
    "MDBPrivilege",
    "MTablePrivilege",
    "MPartitionPrivilege",
    "MTableColumnPrivilege",
    "MPartitionColumnPrivilege",
    "MPartitionEvent",
    "MMasterKey",
    "MDelegationToken",
    "MTableColumnStatistics",
    "MPartitionColumnStatistics",
    "MVersionTable",
    "MResourceUri",
    "MFunction",
    "MNotificationLog",
    "MNotificationNextId",
]


def metastore_conf(settings: Settings) -> dict[str, str]:
    """The Hive metastore: Derby under the home (one process at a time), or a
    PostgreSQL database that every process of the deployment shares."""
    url = settings.metastore_url
    if url is None:
        return {
            "spark.hadoop.javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={settings.home / 'metastore_db'};create=true"
            )
        }
    query = "&".join(f"{k}={v}" for k, v in sorted(url.query.items()))
    jdbc = f"jdbc:postgresql://{url.host}:{url.port or 5432}/{url.database}"
    conf = {
        "spark.hadoop.javax.jdo.option.ConnectionURL": jdbc + (f"?{query}" if query else ""),
        "spark.hadoop.javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "spark.hadoop.javax.jdo.option.ConnectionUserName": url.username or "",
        # A fresh database gets Hive's tables, all at once when the metastore
        # starts: created lazily, inside a CREATE TABLE's transaction, the
        # privileges table's foreign key waits for that very transaction.
        "spark.hadoop.datanucleus.schema.autoCreateAll": "true",
        "spark.hadoop.datanucleus.autoStartMechanism": "Classes",
        "spark.hadoop.datanucleus.autoStartClassNames": ",".join(
            f"org.apache.hadoop.hive.metastore.model.{name}" for name in _METASTORE_CLASSES
        ),
        "spark.hadoop.hive.metastore.schema.verification": "false",
    }
    if url.password:
        conf["spark.hadoop.javax.jdo.option.ConnectionPassword"] = (
            "${env." + METASTORE_PASSWORD_ENV + "}"
        )
    return conf


def jvm_environment(settings: Settings) -> dict[str, str]:
    """What a Spark JVM of this deployment needs in its environment."""
    url = settings.metastore_url
    if url is not None and url.password:
        return {METASTORE_PASSWORD_ENV: str(url.password)}
    return {}


def get_spark(settings: Settings) -> SparkSession:
    settings.ensure_dirs()
    # Bind to loopback: the embedded default talks to nothing but itself.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # pyspark starts the JVM with this process's environment.
    os.environ.update(jvm_environment(settings))
    builder = SparkSession.builder
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    return spark


def lake_table(settings: Settings, layer: str, table: str) -> str:
    """A table's folder in the lake, as Spark addresses it (file:// or s3a://)."""
    return f"{settings.lake_uri}/{layer}/{table}"


def delta_exists(spark: SparkSession, settings: Settings, layer: str, table: str) -> bool:
    if not settings.lake_on_s3:
        log = settings.lake / layer / table / "_delta_log"
        # A first write killed before its commit leaves _delta_log (and its
        # _commits folder) with no commit in it: not a table yet.
        return log.is_dir() and any(p.suffix in (".json", ".parquet") for p in log.iterdir())
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, lake_table(settings, layer, table))


BRONZE_MODE = 0o700


def ensure_schema(spark: SparkSession, settings: Settings, layer: str) -> None:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}")
    location = f"{settings.lake_uri}/{layer}"
    if layer == "bronze" and not settings.lake_on_s3:
        # Bronze holds raw PII: only the pipeline's user may enter it. Silver
        # and Gold keep the umask's modes, for readers (README "Guarantees").
        bronze = settings.lake / layer
        bronze.mkdir(parents=True, exist_ok=True)
        bronze.chmod(BRONZE_MODE)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer} LOCATION '{location}'")
