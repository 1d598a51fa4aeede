"""Provider status callbacks: forward only, once, with the service and downgrade facts."""

from __future__ import annotations

import pytest

from messaging.services.delivery import message_deliver
from messaging.services.status import message_status_update
from tests.messaging.sends import queue_message, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_message(conversation, fake_provider):
    message = queue_message(conversation)
    message_deliver(message_id=message.id)
    message.refresh_from_db()
    return message


def test_delivered_callback_moves_the_status_and_emits_delivered(
    sent_message, emitted, platform_setup
):
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "delivered")
    )

    sent_message.refresh_from_db()
    assert sent_message.status == "delivered"
    assert emitted.types() == ["imessage.delivered"]


def test_status_never_moves_backwards(sent_message, emitted, platform_setup):
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "delivered")
    )
    message_status_update(setup=platform_setup, update=status(sent_message.provider_handle, "sent"))
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "queued")
    )

    sent_message.refresh_from_db()
    assert sent_message.status == "delivered"
    assert emitted.types() == ["imessage.delivered"]


def test_a_repeated_callback_emits_once(sent_message, emitted, platform_setup):
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "delivered")
    )
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "delivered")
    )

    assert emitted.types() == ["imessage.delivered"]


def test_an_error_callback_records_the_error_fields_and_emits_delivery_failed(
    sent_message, emitted, platform_setup
):
    message_status_update(
        setup=platform_setup,
        update=status(
            sent_message.provider_handle,
            "error",
            error_code="4001",
            error_message="Recipient unreachable",
            error_reason="carrier",
            error_detail="more",
        ),
    )

    sent_message.refresh_from_db()
    assert sent_message.status == "error"
    assert (sent_message.error_code, sent_message.error_message) == (
        "4001",
        "Recipient unreachable",
    )
    assert (sent_message.error_reason, sent_message.error_detail) == ("carrier", "more")
    assert emitted.types() == ["imessage.delivery_failed"]


def test_a_callback_reporting_sms_fallback_records_service_and_downgrade(
    sent_message, platform_setup
):
    message_status_update(
        setup=platform_setup,
        update=status(
            sent_message.provider_handle, "delivered", service="sms", was_downgraded=True
        ),
    )

    sent_message.refresh_from_db()
    assert sent_message.service == "sms"
    assert sent_message.was_downgraded is True


def test_a_late_callback_still_records_the_downgrade_without_moving_back(
    sent_message, platform_setup
):
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "delivered")
    )
    message_status_update(
        setup=platform_setup,
        update=status(sent_message.provider_handle, "sent", service="sms", was_downgraded=True),
    )

    sent_message.refresh_from_db()
    assert sent_message.status == "delivered"
    assert sent_message.was_downgraded is True


def test_a_delivered_message_never_turns_into_an_error(sent_message, emitted, platform_setup):
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "delivered")
    )
    message_status_update(
        setup=platform_setup, update=status(sent_message.provider_handle, "error")
    )

    sent_message.refresh_from_db()
    assert sent_message.status == "delivered"


def test_a_callback_for_an_unknown_handle_is_ignored(db, emitted, platform_setup):
    assert message_status_update(setup=platform_setup, update=status("nope", "delivered")) is None
    assert emitted.types() == []
