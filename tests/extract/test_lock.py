"""One run at a time per home, and a killed run's lock is free again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from extract.lock import RunLockedError, home_lock
from extract.metadata import MetadataStore

HOLDER = """
import sys, time
from pathlib import Path
from extract.lock import home_lock
with home_lock(Path(sys.argv[1]), "run") as lock:
    lock.write("20260101T000000Z-abc123")
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the home's lock, as a running `retailnova run` does."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "locked"
    yield process
    process.kill()
    process.wait()


def test_a_second_run_is_refused_naming_the_active_one(tmp_path, holder):
    expected = r"run 20260101T000000Z-abc123 \(run, pid \d+"
    with pytest.raises(RunLockedError, match=expected), home_lock(tmp_path, "run"):
        pass


def test_the_cli_refuses_at_once_with_exit_code_1(tmp_path, holder):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "extract.cli", "run"],
        capture_output=True,
        text=True,
        env={**os.environ, "RETAILNOVA_HOME": str(tmp_path)},
        timeout=60,
    )

    assert result.returncode == 1
    assert "20260101T000000Z-abc123" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15  # refused before any JVM starts


def test_the_lock_of_a_killed_run_is_free_again(tmp_path, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()

    with home_lock(tmp_path, "run") as lock:
        lock.write("next-run")
        assert "next-run" in (tmp_path / "run.lock").read_text()
    assert (tmp_path / "run.lock").read_text() == ""


DYING_RUN = """
import sys, time
from pathlib import Path
from extract.lock import home_lock
from extract.metadata import MetadataStore
home = Path(sys.argv[1])
store = MetadataStore(f"sqlite:///{home / 'metadata.db'}")
with home_lock(home, "run") as lock, store.run("run") as run:
    lock.write(run.run_id)
    store.start_execution(run.run_id, "bronze", "customers")
    print(run.run_id, flush=True)
    time.sleep(120)
"""


def test_the_next_holder_finds_and_closes_the_run_a_kill_left_running(tmp_path):
    dying = subprocess.Popen(
        [sys.executable, "-c", DYING_RUN, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    run_id = dying.stdout.readline().strip()
    os.kill(dying.pid, signal.SIGKILL)
    dying.wait()
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")

    with home_lock(tmp_path, "run") as lock:
        assert (lock.dead_run_id, lock.dead_pid) == (run_id, dying.pid)
        assert store.close_dead_run(run_id, "ended without finishing")
        assert not store.close_dead_run(run_id, "again"), "a closed run stays as it was"

    [run] = store.recent_runs()
    assert (run["run_id"], run["status"]) == (run_id, "FAILED")
    assert run["error_message"] == "ended without finishing"
    [step] = store.executions(run_id)
    assert (step["status"], step["message"]) == ("FAILED", "ended without finishing")
    store.dispose()
    with home_lock(tmp_path, "run") as lock:
        assert lock.dead_run_id is None, "a holder that finished leaves nothing behind"


def test_a_finished_run_is_never_closed_as_dead(tmp_path):
    store = MetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")
    with store.run("run") as run:
        pass

    assert not store.close_dead_run(run.run_id, "ended without finishing")
    assert store.recent_runs()[0]["status"] == "SUCCESS"
    store.dispose()
