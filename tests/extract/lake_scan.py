"""Looking for values in every file under a directory, current or not: the
Parquet files (data, Delta checkpoints) decoded with pyarrow, every other file
(Delta's JSON commits, checksums, deletion vectors, logs) as raw bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

# Delta truncates string statistics (min/max in the log) to 32 characters.
STATS_PREFIX = 32


def needles(*values: str | None) -> set[str]:
    """Each value, and its prefix as Delta's column statistics would keep it."""
    found = set()
    for value in values:
        if value:
            found.add(value)
            if len(value) > STATS_PREFIX:
                found.add(value[:STATS_PREFIX])
    return found


def file_text(path: Path) -> str:
    if path.name.endswith(".parquet"):
        table = pq.read_table(path)
        return json.dumps(table.to_pylist(), default=str, ensure_ascii=False)
    return path.read_bytes().decode("utf-8", errors="replace")


def scan(root: Path, values: set[str], skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """{file relative to root: [values found in it]} for every file holding one."""
    hits = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(skip):
            continue
        text = file_text(path)
        found = sorted(v for v in values if v in text)
        if found:
            hits[relative] = found
    return hits


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))
