"""app.timing, the bench's page timer, over the real run's home."""

from __future__ import annotations

import pytest

from app import timing
from tests.app.conftest import PAGES


def test_every_page_is_timed_cold_and_warm(pipeline_home, app_env):
    app_env(pipeline_home.home)

    times = timing.page_times(runs=2)

    assert next(iter(times)) == timing.DEFAULT_PAGE, "its cold render is only measurable first"
    assert set(times) == set(PAGES)
    for page, t in times.items():
        assert 0 < t["warm_seconds"] <= t["warm_max_seconds"], page
        assert t["cold_seconds"] > 0, page


def test_a_page_that_fails_to_render_is_an_error_not_a_time(tmp_path, app_env, monkeypatch):
    app_env(tmp_path / "home")
    monkeypatch.setenv("RETAILNOVA_ENV", "staging")  # a broken setting: the page shows an error

    with pytest.raises(RuntimeError, match="did not render"):
        timing.render_seconds(timing.DEFAULT_PAGE)
