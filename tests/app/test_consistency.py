"""The app while a run writes Gold (issue 8, fault 5): each render reads every
table at one Delta version and names it, so a page never mixes the rows of two
commits, however the writes interleave with the reads."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import date

import pytest
from deltalake import DeltaTable

from app import data
from tests.app.test_pages import cards, change, money, open_page, rendered

COMMITS = 8  # the writer's commits; each moves every month's revenue
STEP = 1000  # euros added per commit, far above any rounding in the cards


@pytest.fixture
def moving_home(pipeline_home, app_env, tmp_path):
    """A copy of the run's Gold and metadata that a writer may change under the app."""
    home = tmp_path / "home"
    shutil.copytree(pipeline_home.gold, home / "lake" / "gold")
    shutil.copy(pipeline_home.home / "metadata.db", home / "metadata.db")
    app_env(home)
    return home


def _latest_two(path: str, version: int):
    rows = DeltaTable(path, version=version).to_pyarrow_table().to_pylist()
    by_month = {r["month_start"]: r for r in rows}
    latest = max(by_month)
    before = date(latest.year - (latest.month == 1), (latest.month - 2) % 12 + 1, 1)
    return by_month[latest], by_month[before]


def test_every_render_during_gold_commits_shows_one_table_version(moving_home, spark):
    kpis = str(moving_home / "lake" / "gold" / "agg_monthly_kpis")
    first = DeltaTable(kpis).version()
    errors: list[BaseException] = []
    rendered(open_page("views/overview.py"))  # imports warm, so renders keep up with commits

    def writer() -> None:
        # What a run's rebuild does to the table the page reads: whole-table
        # rewrites, committed while the page renders.
        try:
            for _ in range(COMMITS):
                spark.sql(
                    f"UPDATE delta.`{kpis}` SET total_revenue = total_revenue + {STEP}"
                ).collect()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    renders: list[tuple[int, dict]] = []
    while thread.is_alive() or not renders:
        # As if each render came after the version lookup's cache expired
        # (INFO_TTL_SECONDS): every render looks the version up afresh.
        data.gold_info.clear()
        at = open_page("views/overview.py")
        rendered(at)
        shown = "\n".join(c.value for c in at.caption)
        version = int(re.search(r"gold\.agg_monthly_kpis v(\d+) ", shown).group(1))
        renders.append((version, cards(at)))
    thread.join()

    assert not errors, errors
    assert DeltaTable(kpis).version() == first + COMMITS
    seen = {version for version, _ in renders}
    assert len(seen) >= 2, f"no render overlapped the writes: versions {seen}"
    for version, shown in renders:
        now, before = _latest_two(kpis, version)
        assert shown["Revenue"] == (
            money(now["total_revenue"]),
            change(now["total_revenue"], before["total_revenue"]),
        ), f"the render naming v{version} mixed versions"
