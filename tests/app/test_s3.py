"""The app over a lake on S3-compatible storage, with the same settings as the
pipeline (RETAILNOVA_LAKE_URL, RETAILNOVA_S3_ENDPOINT, the AWS_* credentials):
the Gold tables of the package's pipeline run are copied to moto's S3 server
on 127.0.0.1, and the pages show the same numbers as over the local lake."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.app.test_browser import free_port
from tests.app.test_pages import captions, cards, open_page, rendered

BUCKET = "retailnova-app-lake"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "app-test", "AWS_SECRET_ACCESS_KEY": "app-test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    pytest.importorskip("moto.server", reason="moto is a dev dependency")
    import boto3

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "moto did not start"
                time.sleep(0.3)
        yield endpoint, client
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def s3_lake(pipeline_home, s3_endpoint) -> str:
    """The run's Gold tables, file by file, under s3://BUCKET/lake/gold."""
    _, client = s3_endpoint
    for path in pipeline_home.gold.rglob("*"):
        if path.is_file() and not path.name.endswith(".crc"):
            key = f"lake/gold/{path.relative_to(pipeline_home.gold)}"
            client.upload_file(str(path), BUCKET, key)
    return f"s3a://{BUCKET}/lake"


@pytest.fixture
def on_s3(pipeline_home, s3_endpoint, app_env, monkeypatch):
    def point(lake_url: str, endpoint: str | None = None) -> None:
        app_env(pipeline_home.home)  # the metadata store and dbt's manifest stay local
        monkeypatch.setenv("RETAILNOVA_LAKE_URL", lake_url)
        monkeypatch.setenv("RETAILNOVA_S3_ENDPOINT", endpoint or s3_endpoint[0])
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)

    return point


def timeless(shown: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The cards without ages ("5 min ago"): the clock moves between two renders."""
    return {label: card for label, card in shown.items() if not str(card[0]).endswith(" ago")}


PAGES = ("views/overview.py", "views/kpis.py", "views/customers.py", "views/pipeline_monitor.py")


@pytest.mark.parametrize("page", PAGES)
def test_pages_over_s3_show_what_the_local_lake_shows(page, pipeline_home, s3_lake, on_s3, app_env):
    app_env(pipeline_home.home)
    local = open_page(page)
    rendered(local)
    on_s3(s3_lake)

    remote = open_page(page)

    rendered(remote)
    assert timeless(cards(remote)) == timeless(cards(local))
    assert len(remote.get("vega_lite_chart")) == len(local.get("vega_lite_chart")) >= 1
    based_on = [c for c in captions(remote).splitlines() if c.startswith("Based on")]
    assert based_on == [c for c in captions(local).splitlines() if c.startswith("Based on")]


def test_kpis_store_filter_over_s3(pipeline_home, s3_lake, on_s3, app_env):
    app_env(pipeline_home.home)
    local = open_page("views/kpis.py")
    local.multiselect(key="kpis_channel").set_value(["Online"]).run()
    on_s3(s3_lake)

    remote = open_page("views/kpis.py")
    remote.multiselect(key="kpis_channel").set_value(["Online"]).run()

    rendered(remote)
    assert "Sales of channel Online (gold.fact_sales)" in captions(remote)
    assert cards(remote) == cards(local)


def test_an_empty_prefix_says_what_to_run(s3_lake, on_s3):
    on_s3(f"s3a://{BUCKET}/nothing-here")

    at = open_page("views/overview.py")

    rendered(at)
    assert f"s3://{BUCKET}/nothing-here/gold" in at.info[0].value
    assert "retailnova run" in at.code[0].value


def test_an_endpoint_that_does_not_answer_is_a_message(on_s3):
    on_s3(f"s3a://{BUCKET}/lake", endpoint=f"http://127.0.0.1:{free_port()}")

    at = open_page("views/kpis.py")

    assert not at.exception, [e.value for e in at.exception]
    assert "The lake does not answer" in at.error[0].value
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in at.error[0].value
