"""How long each page of the app takes to render, cold and warm, over the home
in the environment. `retailnova bench` runs it after its last run (issue 6's
target: every page under a second once warm, at scale 10):

    RETAILNOVA_HOME=... python -m app.timing --runs 5     # prints JSON

AppTest executes a page's script as the server does on a rerun (the caches are
this process's, as they are the server's), without the browser drawing it.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import click

APP_DIR = Path(__file__).resolve().parent
ENTRYPOINT = APP_DIR / "streamlit_app.py"
DEFAULT_PAGE = "views/overview.py"  # what the entrypoint renders first
TIMEOUT = 300  # seconds for one render: a cold one at scale 100 reads all of fact_sales


def pages() -> list[str]:
    """The default page first: every other render passes through it, so only
    first can its cold render be measured."""
    found = (p.relative_to(APP_DIR).as_posix() for p in (APP_DIR / "views").glob("*.py"))
    return sorted(found, key=lambda page: (page != DEFAULT_PAGE, page))


def render_seconds(page: str) -> float:
    """One render of `page` in a new session; only the page's own script run is timed."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=TIMEOUT)
    if page == DEFAULT_PAGE:
        started = time.perf_counter()
        at.run()
    else:
        at.run()
        at.switch_page(page)
        started = time.perf_counter()
        at.run()
    seconds = time.perf_counter() - started
    problems = [e.value for e in at.exception] + [e.value for e in at.error]
    if problems:
        raise RuntimeError(f"{page} did not render: {problems[0]}")
    return seconds


def page_times(runs: int = 5) -> dict[str, dict[str, float]]:
    """Per page: the first render (cold: its tables read from the lake) and the
    median and worst of the next `runs` (warm: read from the cache)."""
    result = {}
    for page in pages():
        cold = render_seconds(page)
        warm = [render_seconds(page) for _ in range(runs)]
        result[page] = {
            "cold_seconds": cold,
            "warm_seconds": statistics.median(warm),
            "warm_max_seconds": max(warm),
        }
    return result


@click.command()
@click.option("--runs", default=5, show_default=True, help="Warm renders per page.")
def main(runs: int) -> None:
    click.echo(json.dumps(page_times(runs)))


if __name__ == "__main__":
    main()
