"""Alert delivery to a real local webhook: JSON payload, failures logged never raised, secrets kept out
of logs, and a refused alert sent again next run."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from feedmon import alerts
from feedmon.config import Settings
from tests.fixtures.factories import OneDay, make_alert
from tests.fixtures.webhook import webhook_receiver

T2 = OneDay.T2


@pytest.fixture
def receiver():
    with webhook_receiver(slow_seconds=2.0) as rec:
        yield rec


@pytest.fixture
def settings(one_day: Settings) -> Settings:
    return one_day


def test_deliver_posts_json_to_the_webhook(receiver):
    assert alerts.deliver(make_alert(), f"{receiver.base_url}/hook") is True
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert req["path"] == "/hook"
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["User-Agent"].startswith("feedmon-alerts/")
    assert req["json"]["alert"]["feeds"] == ["tass-en", "bbc-world"]
    assert req["json"]["alert"]["run_link"].endswith("/runs/r1")


def test_deliver_uses_env_webhook(receiver, monkeypatch):
    monkeypatch.setenv("FEEDMON_ALERT_WEBHOOK", f"{receiver.base_url}/from-env")
    webhook = Settings.from_env().alerts.webhook  # the run's settings carry it to delivery
    assert alerts.deliver(make_alert(kind=alerts.STALE, severity="warning"), webhook) is True
    assert receiver.requests[0]["path"] == "/from-env"
    assert receiver.bodies[0]["alert"]["severity"] == "warning"


def test_failing_webhook_is_logged_never_raised_and_secret_not_logged(receiver, caplog):
    with caplog.at_level(logging.WARNING, logger="feedmon.alerts"):
        assert alerts.deliver(make_alert(), f"{receiver.base_url}/fail/T0KEN-SECRET") is False
    assert len(receiver.requests) == 1  # it was tried
    warnings = [r.getMessage() for r in caplog.records if "webhook" in r.getMessage()]
    assert warnings and "500" in warnings[0]
    assert all("T0KEN-SECRET" not in m for m in warnings)


def test_unreachable_and_slow_webhooks_do_not_block(receiver, caplog):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hooks/T0KEN-SECRET"
    with caplog.at_level(logging.WARNING, logger="feedmon.alerts"):
        assert alerts.deliver(make_alert(), dead, timeout=2) is False
    logged = [r.getMessage() for r in caplog.records if "webhook" in r.getMessage()]
    assert logged and "T0KEN-SECRET" not in logged[0] and "Connection" in logged[0]
    start = time.monotonic()
    assert alerts.deliver(make_alert(), f"{receiver.base_url}/slow", timeout=0.3) is False
    assert time.monotonic() - start < 1.5


def test_an_alert_the_webhook_refused_is_sent_again_next_run(settings, receiver):
    first = make_alert()
    failing = receiver.base_url + "/fail"
    assert alerts.deliver_once(settings, [first], T2, failing) == [first]
    # The webhook answered 500: nothing recorded, so the next run tries again ...
    assert alerts.deliver_once(settings, [first], T2 + timedelta(minutes=30), failing) == [first]
    # ... and once it got through, the same condition is not repeated.
    assert alerts.deliver_once(settings, [first], T2 + timedelta(minutes=60), receiver.base_url) == [first]
    assert alerts.deliver_once(settings, [first], T2 + timedelta(minutes=90), receiver.base_url) == []
    assert len([r for r in receiver.requests if not r["path"].startswith("/fail")]) == 1
