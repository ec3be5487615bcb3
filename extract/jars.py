"""Spark's jars: Delta and the JDBC drivers, resolved from Maven Central.

`python -m extract.jars` (run by `make setup`) copies each artifact into the
jar cache outside git with Maven's dependency:copy; every Spark session the
project starts puts exactly these files on its class path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

# group:artifact:version, each copied without its transitive dependencies:
# Spark already ships what they need (antlr4, slf4j, jackson).
ARTIFACTS: tuple[str, ...] = (
    "io.delta:delta-spark_2.12:3.3.2",
    "io.delta:delta-storage:3.3.2",
    "org.postgresql:postgresql:42.7.8",
    "org.xerial:sqlite-jdbc:3.50.3.0",
    "com.microsoft.sqlserver:mssql-jdbc:12.8.1.jre11",
)


# The lake on S3-compatible storage (RETAILNOVA_LAKE_URL=s3a://...): Hadoop's
# S3A connector for pyspark 3.5.5's Hadoop 3.3.4 and the AWS SDK it was built
# against. Only sessions whose lake is on s3a load them (the SDK is 280 MB).
S3_ARTIFACTS: tuple[str, ...] = (
    "org.apache.hadoop:hadoop-aws:3.3.4",
    "com.amazonaws:aws-java-sdk-bundle:1.12.262",
)


class JarsMissingError(Exception):
    pass


def jar_name(coordinate: str) -> str:
    _, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"


def jar_paths(cache: Path, s3: bool = False) -> list[Path]:
    """The cached jars, or a clear error naming what is missing."""
    paths = [cache / jar_name(c) for c in ARTIFACTS + (S3_ARTIFACTS if s3 else ())]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        fix = "python -m extract.jars --s3" if s3 else "make setup"
        raise JarsMissingError(
            f"Spark jars missing from {cache}: {', '.join(missing)}; run `{fix}`"
        )
    return paths


def fetch(cache: Path, s3: bool = False) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    mvn = shutil.which("mvn")
    for coordinate in ARTIFACTS + (S3_ARTIFACTS if s3 else ()):
        if (cache / jar_name(coordinate)).is_file():
            continue
        if mvn is None:
            raise JarsMissingError("Maven (mvn) is needed to fetch Spark's jars; install maven")
        print(f"fetching {coordinate}", flush=True)
        subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                f"-Dartifact={coordinate}",
                f"-DoutputDirectory={cache}",
            ],
            check=True,
        )
    return jar_paths(cache, s3)


def main() -> None:
    from extract.settings import load_settings

    settings = load_settings()
    # --s3: also the S3A jars (fetched anyway when the lake is on s3a).
    paths = fetch(settings.jar_cache, s3="--s3" in sys.argv[1:] or settings.lake_on_s3)
    print(f"{len(paths)} jars ready in {settings.jar_cache}")


if __name__ == "__main__":
    sys.exit(main())
