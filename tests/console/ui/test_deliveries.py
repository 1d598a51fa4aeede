"""console.ui.deliveries: the webhook delivery list, its filters and CSV export, one
delivery in full, and the operator's retry."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry
from console.ui.deliveries import BODY_SHOWN_CHARS, pretty_body
from console.ui.export import EXPORT_ACTION
from messaging.webhooks import delivery as webhook_delivery
from messaging.webhooks.models import WebhookDelivery
from tests.console.ui.conftest import htmx
from tests.messaging.webhooks.factories import WebhookDeliveryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    monkeypatch.setattr(webhook_delivery, "deliveries_publish", lambda ids, **kw: sent.append(ids))
    return sent


def _csv(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def _delivered(identity: AgentIdentity, **fields: Any) -> WebhookDelivery:
    return WebhookDeliveryFactory(subscription__identity=identity, **fields)


# --- List ----------------------------------------------------------------------------------


def test_deliveries_show_status_attempts_and_last_error(
    operator_client: Client, identity: AgentIdentity
) -> None:
    _delivered(identity, status="failed", attempt_count=4, error_detail="connection refused")
    body = operator_client.get(reverse("console:deliveries")).content.decode()
    assert "connection refused" in body
    assert ">4<" in body
    assert "Retry" in body


def test_each_listed_delivery_links_to_its_detail_page(
    operator_client: Client, identity: AgentIdentity
) -> None:
    delivery = _delivered(identity)
    body = operator_client.get(reverse("console:deliveries")).content.decode()
    assert reverse("console:delivery", args=[delivery.id]) in body


def test_the_list_filters_by_identity(
    operator_client: Client, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    mine = _delivered(identity)
    theirs = _delivered(other_identity)
    body = operator_client.get(
        reverse("console:deliveries"), {"identity": other_identity.handle}
    ).content.decode()
    assert f"delivery-{theirs.id}" in body
    assert f"delivery-{mine.id}" not in body


def test_the_list_filters_by_event_type(operator_client: Client, identity: AgentIdentity) -> None:
    received = _delivered(identity)
    sent = _delivered(identity, event__event_type="imessage.sent")
    body = operator_client.get(
        reverse("console:deliveries"), {"event_type": "imessage.sent"}
    ).content.decode()
    assert f"delivery-{sent.id}" in body
    assert f"delivery-{received.id}" not in body


def test_the_list_filters_by_status(operator_client: Client, identity: AgentIdentity) -> None:
    failed = _delivered(identity, status="failed")
    succeeded = _delivered(identity, status="succeeded")
    body = operator_client.get(
        reverse("console:deliveries"), {"status": "failed"}, **htmx()
    ).content.decode()
    assert f"delivery-{failed.id}" in body
    assert f"delivery-{succeeded.id}" not in body


def test_the_list_hides_other_organisations_deliveries(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    foreign = _delivered(outsider_identity)
    body = operator_client.get(reverse("console:deliveries")).content.decode()
    assert f"delivery-{foreign.id}" not in body
    assert outsider_identity.handle not in body


def test_deliveries_list_costs_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    for _ in range(55):
        _delivered(identity)
    with django_assert_max_num_queries(8):
        response = operator_client.get(reverse("console:deliveries"))
    assert response.content.decode().count('<tr id="delivery-') == 50


# --- Export --------------------------------------------------------------------------------


def test_the_export_holds_the_filtered_rows(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    failed = _delivered(identity, status="failed", response_status=500, duration_ms=321)
    _delivered(identity, status="succeeded")
    response = auditor_client.get(reverse("console:deliveries-export"), {"status": "failed"})
    assert response.status_code == 200
    header, *rows = _csv(response)
    assert [row[header.index("delivery id")] for row in rows] == [str(failed.id)]
    assert rows[0][header.index("latency ms")] == "321"
    assert rows[0][header.index("identity")] == "nurse-bot"


def test_the_export_is_audited_with_its_filters(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    _delivered(identity, status="failed")
    _csv(auditor_client.get(reverse("console:deliveries-export"), {"status": "failed"}))
    entry = AuditEntry.objects.get(action=EXPORT_ACTION)
    assert entry.object_id == "deliveries"
    assert entry.after == {"filters": {"status": "failed"}, "rows": 1, "truncated": False}


def test_the_export_leaves_out_other_organisations(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    _delivered(identity)
    foreign = _delivered(outsider_identity)
    rows = _csv(operator_client.get(reverse("console:deliveries-export")))
    assert len(rows) == 2
    assert str(foreign.id) not in {cell for row in rows for cell in row}


# --- Detail --------------------------------------------------------------------------------


def test_the_detail_shows_the_request_body_as_pretty_json(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    delivery = _delivered(identity, request_payload='{"event_type":"imessage.received","n":1}')
    body = auditor_client.get(reverse("console:delivery", args=[delivery.id])).content.decode()
    assert "&quot;event_type&quot;: &quot;imessage.received&quot;,\n  &quot;n&quot;: 1" in body


def test_the_detail_shows_the_answer_latency_attempts_and_next_attempt(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    delivery = _delivered(
        identity,
        status="pending",
        response_status=503,
        response_body="upstream busy",
        duration_ms=1234,
        attempt_count=3,
    )
    body = auditor_client.get(reverse("console:delivery", args=[delivery.id])).content.decode()
    assert "HTTP 503" in body
    assert "upstream busy" in body
    assert "1234 ms" in body
    assert "<dt>Attempts</dt><dd>3</dd>" in body
    assert f'datetime="{delivery.next_attempt_at.isoformat()}"' in body
    assert delivery.url in body
    assert "@nurse-bot" in body


def test_an_auditor_sees_no_retry_on_the_detail(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    delivery = _delivered(identity, status="failed")
    body = auditor_client.get(reverse("console:delivery", args=[delivery.id])).content.decode()
    assert "Retry now" not in body


def test_another_organisations_delivery_detail_is_not_found(
    operator_client: Client, outsider_identity: AgentIdentity
) -> None:
    delivery = _delivered(outsider_identity)
    response = operator_client.get(reverse("console:delivery", args=[delivery.id]))
    assert response.status_code == 404


def test_a_long_body_is_cut_for_display() -> None:
    shown = pretty_body("x" * (BODY_SHOWN_CHARS + 10))
    assert shown.startswith("x" * BODY_SHOWN_CHARS)
    assert shown.endswith("(10 more characters)")


def test_a_body_that_is_not_json_is_shown_as_it_came() -> None:
    assert pretty_body("not {json") == "not {json"


def test_the_detail_costs_a_fixed_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    delivery = _delivered(identity)
    with django_assert_max_num_queries(6):
        response = operator_client.get(reverse("console:delivery", args=[delivery.id]))
    assert response.status_code == 200


# --- Retry ---------------------------------------------------------------------------------


def test_retrying_a_failed_delivery_queues_it_again(
    operator_client: Client, identity: AgentIdentity, published: list[Any]
) -> None:
    delivery = _delivered(identity, status="failed")
    response = operator_client.post(reverse("console:delivery-retry", args=[delivery.id]), **htmx())
    assert response.status_code == 200
    assert "Retry queued" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert AuditEntry.objects.filter(action="webhook_delivery.retry").exists()


def test_retrying_from_the_detail_swaps_its_summary(
    operator_client: Client, identity: AgentIdentity, published: list[Any]
) -> None:
    delivery = _delivered(identity, status="failed")
    response = operator_client.post(
        reverse("console:delivery-retry", args=[delivery.id]), {"from": "detail"}, **htmx()
    )
    body = response.content.decode()
    assert 'id="delivery-summary"' in body
    assert "Retry queued" in body
    assert "status-pending" in body


def test_retrying_from_the_detail_without_javascript_returns_to_it(
    operator_client: Client, identity: AgentIdentity, published: list[Any]
) -> None:
    delivery = _delivered(identity, status="failed")
    response = operator_client.post(
        reverse("console:delivery-retry", args=[delivery.id]), {"from": "detail"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("console:delivery", args=[delivery.id])


def test_an_auditor_cannot_retry(auditor_client: Client, identity: AgentIdentity) -> None:
    delivery = _delivered(identity, status="failed")
    response = auditor_client.post(reverse("console:delivery-retry", args=[delivery.id]))
    assert response.status_code == 403
