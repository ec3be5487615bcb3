"""One run at a time per home.

An exclusive `flock` on `$RETAILNOVA_HOME/run.lock`: the kernel releases it
when its process ends, `kill -9` included, so a lock left by a killed run is
simply free again. The file's text (pid, command, run id) names the active
run to a refused one, and, since a finished holder empties it, a text still
there when the lock is free names a run that died without finishing.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from extract.metadata import utcnow


class RunLockedError(Exception):
    pass


def _holder(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return None


def _describe(path: Path) -> str:
    holder = _holder(path)
    if holder is None:
        return "another run"
    run_id = holder.get("run_id") or "starting"
    return (
        f"run {run_id} ({holder.get('command', '?')}, pid {holder.get('pid', '?')}, "
        f"started {holder.get('started_at', '?')})"
    )


@contextmanager
def home_lock(home: Path, command: str) -> Iterator[HomeLock]:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "run.lock"
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(
                f"{_describe(path)} is active in {home}; wait for it to finish"
            ) from None
        lock = HomeLock(handle, command, dead=_holder(path))
        lock.write(run_id=None)
        try:
            yield lock
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


class HomeLock:
    def __init__(self, handle, command: str, dead: dict | None = None):
        self.handle = handle
        self.command = command
        self.started_at = utcnow().isoformat(timespec="seconds")
        # What the previous holder left: set only when it was killed or crashed.
        dead = dead or {}
        self.dead_run_id: str | None = dead.get("run_id")
        self.dead_pid: int | None = dead.get("pid")

    def write(self, run_id: str | None) -> None:
        """Record who holds the lock, for the message a refused run prints."""
        self.handle.seek(0)
        self.handle.truncate(0)
        self.handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "command": self.command,
                    "run_id": run_id,
                    "started_at": self.started_at,
                }
            )
        )
        self.handle.flush()
