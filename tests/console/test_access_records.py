"""The access log's service and its append-only guarantee: the model and the database both
refuse to change or delete a row (PostgreSQL and SQLite triggers); identity-key reads are
tallied per key, conversation and hour."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from console.access import Viewed, Viewer, access_record, access_record_many
from console.access_tally import access_tally
from console.models import AccessLog, AccessTally, Organization
from console.services import Actor, IssuedApiKey
from tests.console.factories import AccessLogFactory

pytestmark = pytest.mark.django_db

ACTOR = Actor(type="user", id="7", label="arthur")


def _viewed(org: Organization, object_id: str = "c1", **extra: object) -> Viewed:
    return Viewed(
        organization_id=org.id, kind="conversation", object_id=object_id, number="+1415", **extra
    )


def test_a_view_is_one_row_with_who_what_and_from_where(org: Organization) -> None:
    row = access_record(viewer=Viewer(actor=ACTOR, ip="203.0.113.9"), viewed=_viewed(org))

    stored = AccessLog.objects.get(pk=row.pk)
    assert (stored.actor_label, stored.object_kind, stored.object_id) == (
        "arthur",
        "conversation",
        "c1",
    )
    assert (stored.remote_number, stored.ip, stored.count) == ("+1415", "203.0.113.9", 1)


def test_a_list_is_one_insert_of_one_row_per_item(
    org: Organization, django_assert_num_queries: object
) -> None:
    viewer = Viewer(actor=ACTOR, ip=None)
    with django_assert_num_queries(1):  # type: ignore[operator]
        access_record_many(viewer=viewer, viewed=[_viewed(org, f"m{i}") for i in range(20)])

    assert AccessLog.objects.count() == 20


def test_the_address_is_the_peer_not_a_forwarded_header(org: Organization) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="1.2.3.4")

    assert Viewer.of(request, ACTOR).ip == "198.51.100.4"


def test_a_row_cannot_be_saved_again_or_deleted_through_the_model(org: Organization) -> None:
    row = AccessLogFactory(organization=org)

    with pytest.raises(RuntimeError):
        row.save()
    with pytest.raises(RuntimeError):
        row.delete()


def test_the_database_refuses_a_queryset_update(org: Organization) -> None:
    AccessLogFactory(organization=org, actor_label="arthur")

    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLog.objects.update(actor_label="someone else")
    assert AccessLog.objects.get().actor_label == "arthur"


def test_the_database_refuses_a_queryset_delete(org: Organization) -> None:
    AccessLogFactory(organization=org)

    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLog.objects.all().delete()
    assert AccessLog.objects.count() == 1


@pytest.mark.parametrize(
    "statement",
    ["UPDATE console_accesslog SET reason = 'edited'", "DELETE FROM console_accesslog"],
)
def test_the_database_refuses_raw_sql_updates_and_deletes(
    org: Organization, statement: str
) -> None:
    AccessLogFactory(organization=org)

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AccessLog.objects.filter(reason="").count() == 1


def test_the_log_outlives_its_organisation(org: Organization) -> None:
    AccessLogFactory(organization=org)

    org.delete()

    assert AccessLog.objects.count() == 1


def test_reads_in_one_hour_add_up_in_one_tally(
    org: Organization, identity_key: IssuedApiKey
) -> None:
    conversation_id = uuid.uuid4()
    viewed = [_viewed(org, str(conversation_id), conversation_id=conversation_id)]
    at = dt.datetime(2026, 3, 1, 9, 5, tzinfo=dt.UTC)

    access_tally(key=identity_key.record, viewed=viewed, now=at)
    access_tally(key=identity_key.record, viewed=viewed, now=at + dt.timedelta(minutes=40))
    access_tally(key=identity_key.record, viewed=viewed, now=at + dt.timedelta(hours=1))

    tallies = list(AccessTally.objects.order_by("hour").values_list("hour", "count"))
    assert tallies == [
        (dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC), 2),
        (dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC), 1),
    ]
