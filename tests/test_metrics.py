"""Metrics are exported through django-prometheus' /metrics view."""

from __future__ import annotations

import pytest

from graceful_django.core.sequence import Report, StepOutcome
from graceful_django.state import get_state
from graceful_django.testing import draining


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_in_flight_and_ready_are_exported(client):
    ticket = get_state().coordinator.requests.open("GET /x")
    try:
        text = scrape(client)
    finally:
        get_state().coordinator.requests.close(ticket)
    # The scrape itself is in flight too (tracked by the middleware).
    assert 'graceful_django_in_flight{kind="request"} 2.0' in text
    assert "graceful_django_ready 1.0" in text


@pytest.mark.django_db
def test_readiness_gauge_and_refusals_follow_a_drain(client):
    refused_before = get_state().metrics.refused._value.get()
    with draining():
        assert client.get("/ping").status_code == 503
        assert get_state().metrics.ready._value.get() == 0
    assert get_state().metrics.refused._value.get() == refused_before + 1
    assert "graceful_django_ready 1.0" in scrape(client)


def test_a_report_is_recorded_by_step():
    report = Report(timeout=30, outcomes=[StepOutcome("close websockets", 0.2, forced=["ws /a"])])
    get_state().metrics.record(report)
    forced = get_state().metrics.forced.labels("close websockets")._value.get()
    assert forced >= 1
