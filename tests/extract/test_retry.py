import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from extract.retry import is_transient, retrying


class Flaky:
    def __init__(self, failures: list[Exception]):
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def test_transient_errors_are_retried_with_exponential_backoff():
    action = Flaky([ConnectionError("Connection refused"), TimeoutError("timed out")])
    delays, messages = [], []

    assert retrying(action, what="extract", sleep=delays.append, on_retry=messages.append) == "done"

    assert action.calls == 3
    assert delays == [1.0, 2.0]
    assert messages[0].startswith("retry 1/3 of extract in 1s: Connection refused")


def test_retries_are_bounded():
    action = Flaky([ConnectionError("connection refused")] * 10)
    with pytest.raises(ConnectionError):
        retrying(action, what="x", attempts=3, sleep=lambda s: None)
    assert action.calls == 3


def test_data_errors_fail_at_once():
    action = Flaky([ValueError("source is missing expected column(s) brand")])
    with pytest.raises(ValueError):
        retrying(action, what="x", sleep=lambda s: None)
    assert action.calls == 1


def test_a_real_refused_connection_is_transient():
    engine = create_engine("postgresql://u:p@127.0.0.1:9/db")
    with pytest.raises(OperationalError) as caught:
        engine.connect()
    assert is_transient(caught.value)


@pytest.mark.parametrize(
    "message",
    [
        "io.delta.exceptions.ConcurrentAppendException: Files were added to partition",
        "java.net.ConnectException: Connection refused",
    ],
)
def test_delta_conflicts_and_jdbc_refusals_are_transient(message):
    assert is_transient(RuntimeError(message))
