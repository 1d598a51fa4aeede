"""`console.db`'s inserts and updates, on PostgreSQL and SQLite alike."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, models, transaction
from django.db.models import Model, Value
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.db.compiled import EncodedJson, bound_values, db_value, inserted_columns
from console.db.inserts import insert_if_absent, insert_row, insert_together
from console.db.one_statement import Gate, _unsized, insert_after, insert_with_dependents
from console.db.prepared import PreparedUpdate
from console.models import IdempotencyRecord, Organization
from messaging.models import DeliveryStatus, Direction
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from provisioning.models import ProviderEvent
from tests.messaging.factories import MessageFactory
from tests.messaging.webhooks.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory
from tests.provisioning.factories import ProviderEventFactory, SetupFactory

pytestmark = pytest.mark.django_db


def test_insert_if_absent_stores_the_row_in_one_statement_and_returns_it() -> None:
    setup = SetupFactory()

    with CaptureQueriesContext(connection) as ctx:
        event = insert_if_absent(
            ProviderEvent, setup=setup, event_key="receive:h-1", event_type="receive", payload={}
        )

    assert len(ctx.captured_queries) == 1
    assert event is not None
    assert isinstance(event.pk, int)
    assert ProviderEvent.objects.get(pk=event.pk).event_key == "receive:h-1"
    assert event.received_at is not None  # auto_now_add ran
    assert event._state.adding is False


def test_insert_if_absent_answers_none_for_a_conflict_and_the_transaction_goes_on() -> None:
    setup = SetupFactory()
    fields = {"setup": setup, "event_key": "receive:h-1", "event_type": "receive", "payload": {}}

    with transaction.atomic():
        first = insert_if_absent(ProviderEvent, **fields)
        with CaptureQueriesContext(connection) as ctx:
            again = insert_if_absent(ProviderEvent, **{**fields, "payload": {"n": 2}})
        # No savepoint was needed: the transaction is still usable.
        assert ProviderEvent.objects.count() == 1

    assert first is not None and again is None
    assert len(ctx.captured_queries) == 1
    assert ProviderEvent.objects.get().payload == {}


def test_insert_if_absent_returns_a_uuid_key_as_a_uuid() -> None:
    made = insert_if_absent(Organization, name="Riverside", slug="riverside")

    assert made is not None
    assert isinstance(made.pk, uuid.UUID)
    assert Organization.objects.get(pk=made.pk).slug == "riverside"
    assert insert_if_absent(Organization, name="Other", slug="riverside") is None


def test_insert_if_absent_stores_each_calls_own_values_with_the_compiled_statement() -> None:
    setup = SetupFactory()

    first = insert_if_absent(
        ProviderEvent, setup=setup, event_key="receive:a", event_type="receive", payload={"n": 1}
    )
    second = insert_if_absent(
        ProviderEvent,
        setup=setup,
        event_key="receive:b",
        event_type="status",
        payload={"n": 2},
    )

    assert first is not None and second is not None
    stored = ProviderEvent.objects.get(pk=second.pk)
    assert (stored.event_key, stored.event_type, stored.payload) == (
        "receive:b",
        "status",
        {"n": 2},
    )
    # auto_now_add ran again for the second row: its own time, not the compiled one.
    assert stored.received_at > first.received_at
    assert ProviderEvent.objects.get(pk=first.pk).payload == {"n": 1}


def test_insert_if_absent_answers_the_times_it_stored_when_it_compiles(monkeypatch) -> None:
    import console.db.compiled

    monkeypatch.setattr(console.db.compiled, "_COMPILED_INSERTS", {})
    setup = SetupFactory()

    event = insert_if_absent(
        ProviderEvent, setup=setup, event_key="receive:a", event_type="receive", payload={}
    )

    assert event is not None
    assert ProviderEvent.objects.get(pk=event.pk).received_at == event.received_at


def test_insert_if_absent_takes_an_expression_value_without_keeping_its_statement() -> None:
    from django.db.models import Value
    from django.db.models.functions import Lower

    made = insert_if_absent(Organization, name=Lower(Value("RIVERSIDE")), slug="riverside")
    plain = insert_if_absent(Organization, name="Lakeside", slug="lakeside")

    assert made is not None and plain is not None
    assert Organization.objects.get(slug="riverside").name == "riverside"
    assert Organization.objects.get(slug="lakeside").name == "Lakeside"


def test_insert_row_stores_the_row_in_one_statement_and_returns_it() -> None:
    with CaptureQueriesContext(connection) as ctx:
        made = insert_row(Organization, name="Riverside", slug="riverside")

    assert len(ctx.captured_queries) == 1
    assert isinstance(made.pk, uuid.UUID)
    assert made._state.adding is False
    assert Organization.objects.get(pk=made.pk).name == "Riverside"


def test_insert_row_raises_on_a_conflict_as_create_does() -> None:
    insert_row(Organization, name="Riverside", slug="riverside")

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(Organization, name="Other", slug="riverside")


def _event(subscription: Any, **fields: Any) -> WebhookEvent:
    return WebhookEvent(
        id=fields.pop("id", f"evt_{uuid.uuid4().hex}"),
        organization_id=subscription.organization_id,
        identity_id=subscription.identity_id,
        event_type="imessage.received",
        payload=fields.pop("payload", {}),
        created_at=timezone.now(),
        **fields,
    )


def _deliveries(event: WebhookEvent, subscription: Any, count: int) -> list[WebhookDelivery]:
    return [
        WebhookDelivery(
            organization_id=subscription.organization_id,
            event=event,
            subscription=subscription,
            url=subscription.url,
            request_payload=f'{{"n": {n}}}',
        )
        for n in range(count)
    ]


def test_insert_together_stores_every_batch_in_as_few_statements_as_the_database_allows():
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription, payload={"a": 1})
    deliveries = _deliveries(event, subscription, 3)

    with CaptureQueriesContext(connection) as ctx:
        insert_together([event], deliveries)

    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 2)
    stored = WebhookDelivery.objects.filter(event_id=event.id).order_by("request_payload")
    assert [d.request_payload for d in stored] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert WebhookEvent.objects.get(pk=event.pk).payload == {"a": 1}
    assert all(d._state.adding is False for d in [event, *deliveries])
    assert all(d.created_at is not None for d in deliveries)  # auto_now_add ran


def test_insert_together_stores_each_calls_own_single_rows():
    subscription = WebhookSubscriptionFactory()

    def event_with_delivery(n: int) -> tuple[WebhookEvent, WebhookDelivery]:
        event = WebhookEvent(
            id=f"evt_{uuid.uuid4().hex}",
            organization_id=subscription.organization_id,
            identity_id=subscription.identity_id,
            event_type="imessage.received",
            payload={"n": n},
            created_at=timezone.now(),
        )
        delivery = WebhookDelivery(
            organization_id=subscription.organization_id,
            event=event,
            subscription=subscription,
            url=subscription.url,
            request_payload=f'{{"n": {n}}}',
        )
        return event, delivery

    made = [event_with_delivery(n) for n in range(3)]
    for event, delivery in made:
        insert_together([event], [delivery])

    for n, (event, delivery) in enumerate(made):
        assert WebhookEvent.objects.get(pk=event.pk).payload == {"n": n}
        stored = WebhookDelivery.objects.get(pk=delivery.pk)
        assert (stored.event_id, stored.request_payload) == (event.id, f'{{"n": {n}}}')


def test_insert_together_refuses_rows_without_their_keys():
    organization = Organization.objects.create(name="Acme", slug="acme-keys")
    row = Organization(name="No key", slug="no-key")
    row.pk = None

    with pytest.raises(ValueError, match="keys set"):
        insert_together([organization, row])


def test_insert_together_leaves_the_transaction_to_roll_back_on_a_conflict():
    subscription = WebhookSubscriptionFactory()
    event = WebhookEvent(
        id="evt_dup",
        organization_id=subscription.organization_id,
        identity_id=subscription.identity_id,
        event_type="imessage.received",
        payload={},
        created_at=timezone.now(),
    )
    insert_together([event])
    again = WebhookEvent(
        **{f.attname: getattr(event, f.attname) for f in WebhookEvent._meta.concrete_fields}
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_together([again])

    assert WebhookEvent.objects.filter(pk="evt_dup").count() == 1


def test_insert_with_dependents_stores_the_row_and_its_dependents_in_one_statement() -> None:
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription, payload={"a": 1})
    deliveries = _deliveries(event, subscription, 3)

    with CaptureQueriesContext(connection) as ctx:
        stored = insert_with_dependents(event, lambda row: [deliveries])

    assert stored is event
    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 2)
    assert WebhookEvent.objects.get(pk=event.pk).payload == {"a": 1}
    rows = WebhookDelivery.objects.filter(event_id=event.id).order_by("request_payload")
    assert [d.request_payload for d in rows] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
    assert all(row._state.adding is False for row in [event, *deliveries])


def test_insert_with_dependents_stores_nothing_when_the_row_is_there_already() -> None:
    subscription = WebhookSubscriptionFactory()
    insert_together([_event(subscription, id="evt_taken")])
    again = _event(subscription, id="evt_taken", payload={"again": True})

    stored = insert_with_dependents(again, lambda row: [_deliveries(row, subscription, 2)])

    assert stored is None
    assert WebhookEvent.objects.get(pk="evt_taken").payload == {}
    assert not WebhookDelivery.objects.filter(event_id="evt_taken").exists()
    assert WebhookEvent.objects.count() == 1  # the transaction goes on


_RENAME_ORGANIZATION = PreparedUpdate(
    Organization,
    lambda *, organization_id, name: (
        Organization.objects.filter(pk=organization_id),
        {"name": name},
    ),
    organization_id=uuid.UUID,
    name=str,
)


def test_insert_with_dependents_runs_the_leading_updates_in_the_same_statement() -> None:
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription)
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="Moved")

    with CaptureQueriesContext(connection) as ctx:
        stored = insert_with_dependents(
            event, lambda row: [_deliveries(row, subscription, 1)], leading=[rename]
        )

    assert stored is event
    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 3)
    assert Organization.objects.get(pk=subscription.organization_id).name == "Moved"
    assert WebhookDelivery.objects.filter(event_id=event.id).count() == 1


def test_insert_with_dependents_runs_the_leading_updates_when_the_row_is_there_already() -> None:
    subscription = WebhookSubscriptionFactory()
    insert_together([_event(subscription, id="evt_taken")])
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="Moved")

    stored = insert_with_dependents(
        _event(subscription, id="evt_taken"), lambda row: [], leading=[rename]
    )

    assert stored is None
    assert Organization.objects.get(pk=subscription.organization_id).name == "Moved"


def _record(setup: Any, key: str = "receive:h-1") -> ProviderEvent:
    return ProviderEvent(setup=setup, event_key=key, event_type="receive", payload={})


def test_a_gate_that_goes_in_stores_itself_and_everything_else_in_one_statement() -> None:
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription)
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="Gated")
    gate = Gate(_record(SetupFactory()))

    with CaptureQueriesContext(connection) as ctx:
        stored = insert_with_dependents(
            event, lambda row: [_deliveries(row, subscription, 2)], leading=[rename], gate=gate
        )

    assert stored is event
    assert gate.stored is True
    assert ProviderEvent.objects.get(pk=gate.row.pk).event_key == "receive:h-1"
    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 4)
    assert Organization.objects.get(pk=subscription.organization_id).name == "Gated"
    assert WebhookDelivery.objects.filter(event_id=event.id).count() == 2


def test_a_gate_that_is_there_already_keeps_everything_else_from_being_written() -> None:
    subscription = WebhookSubscriptionFactory()
    setup = SetupFactory()
    first = insert_if_absent(
        ProviderEvent, setup=setup, event_key="receive:h-1", event_type="receive", payload={}
    )
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="Gated")
    gate = Gate(_record(setup))
    event = _event(subscription)

    stored = insert_with_dependents(
        event, lambda row: [_deliveries(row, subscription, 2)], leading=[rename], gate=gate
    )

    assert stored is None
    assert gate.stored is False
    assert gate.row.pk is None
    assert list(ProviderEvent.objects.values_list("pk", flat=True)) == [first.pk]
    assert Organization.objects.get(pk=subscription.organization_id).name != "Gated"
    assert not WebhookEvent.objects.filter(pk=event.pk).exists()
    assert not WebhookDelivery.objects.exists()


def test_a_gate_that_goes_in_leaves_a_row_that_is_there_already_as_it_was() -> None:
    subscription = WebhookSubscriptionFactory()
    insert_together([_event(subscription, id="evt_taken")])
    gate = Gate(_record(SetupFactory()))

    stored = insert_with_dependents(
        _event(subscription, id="evt_taken", payload={"again": True}),
        lambda row: [_deliveries(row, subscription, 1)],
        gate=gate,
    )

    assert stored is None
    assert gate.stored is True
    assert WebhookEvent.objects.get(pk="evt_taken").payload == {}
    assert not WebhookDelivery.objects.exists()


def test_a_guarded_update_writes_only_when_its_guard_answers_a_row() -> None:
    organization = Organization.objects.create(name="Before", slug="before-guard")
    if connection.vendor != "postgresql":
        pytest.skip("guards are WITH clauses of PostgreSQL statements")
    rename = _RENAME_ORGANIZATION.bound(organization_id=organization.pk, name="After")
    sql, params = rename.statement(connection.alias, guard="g")

    with connection.cursor() as cursor:
        cursor.execute(f"WITH g AS (SELECT 1 WHERE false), u AS ({sql}) SELECT 1", params)
        assert Organization.objects.get(pk=organization.pk).name == "Before"
        cursor.execute(f"WITH g AS (SELECT 1), u AS ({sql}) SELECT 1", params)

    assert Organization.objects.get(pk=organization.pk).name == "After"


def test_insert_after_runs_the_leading_updates_and_the_insert_in_one_statement() -> None:
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription)
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="After")

    with CaptureQueriesContext(connection) as ctx:
        stored = insert_after(event, leading=[rename])

    assert stored is event and stored._state.adding is False
    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 2)
    assert WebhookEvent.objects.filter(pk=event.pk).exists()
    assert Organization.objects.get(pk=subscription.organization_id).name == "After"


def test_insert_after_raises_on_a_conflict_as_create_does() -> None:
    subscription = WebhookSubscriptionFactory()
    insert_together([_event(subscription, id="evt_taken")])
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="After")

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_after(_event(subscription, id="evt_taken"), leading=[rename])

    assert Organization.objects.get(pk=subscription.organization_id).name != "After"


def test_insert_after_inserts_its_dependents_in_the_same_statement() -> None:
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription)
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="After")

    def record(stored: WebhookEvent) -> list[list[IdempotencyRecord]]:
        return [[_idempotency_record(subscription.organization_id, key=stored.pk)]]

    with CaptureQueriesContext(connection) as ctx:
        insert_after(event, leading=[rename], dependents=record)

    assert len(ctx.captured_queries) == (1 if connection.vendor == "postgresql" else 3)
    assert IdempotencyRecord.objects.get(key=event.pk).response_body == {"ok": True}
    assert WebhookEvent.objects.filter(pk=event.pk).exists()


def test_insert_after_undoes_everything_when_a_dependent_conflicts() -> None:
    subscription = WebhookSubscriptionFactory()
    insert_together([_idempotency_record(subscription.organization_id, key="taken")])
    event = _event(subscription)
    rename = _RENAME_ORGANIZATION.bound(organization_id=subscription.organization_id, name="After")

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_after(
            event,
            leading=[rename],
            dependents=lambda stored: [
                [_idempotency_record(subscription.organization_id, key="taken")]
            ],
        )

    assert not WebhookEvent.objects.filter(pk=event.pk).exists()
    assert Organization.objects.get(pk=subscription.organization_id).name != "After"


def test_rows_whose_key_the_database_makes_go_in_together() -> None:
    organization = Organization.objects.create(name="Keys", slug="keys-made")

    insert_together(
        [
            _idempotency_record(organization.pk, key="a"),
            _idempotency_record(organization.pk, key="b"),
        ]
    )

    stored = IdempotencyRecord.objects.filter(organization=organization).order_by("key")
    assert [(r.key, r.pk is not None) for r in stored] == [("a", True), ("b", True)]


def test_rows_of_one_batch_either_all_carry_their_keys_or_none() -> None:
    organization = Organization.objects.create(name="Mixed", slug="keys-mixed")
    keyed = _idempotency_record(organization.pk, key="a")
    keyed.pk = 10_000

    with pytest.raises(ValueError, match="keys set"):
        insert_together([_idempotency_record(organization.pk, key="b"), keyed])


def _idempotency_record(organization_id: Any, *, key: str) -> IdempotencyRecord:
    return IdempotencyRecord(
        organization_id=organization_id,
        scope="s",
        operation="op",
        key=key,
        request_fingerprint="f",
        response_status=201,
        response_body={"ok": True},
    )


def test_insert_with_dependents_builds_the_dependents_from_the_final_values() -> None:
    subscription = WebhookSubscriptionFactory()
    delivery = _deliveries(_event(subscription), subscription, 1)[0]
    delivery.event.save()
    seen: list[Any] = []

    def copies(row: WebhookDelivery) -> list[list[Model]]:
        seen.append(row.created_at)  # auto_now_add has run by now
        return []

    stored = insert_with_dependents(delivery, copies)

    assert stored is not None
    assert seen == [WebhookDelivery.objects.get(pk=delivery.pk).created_at]


def test_insert_with_dependents_refuses_an_over_long_dependent_value_instead_of_cutting_it() -> (
    None
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce varchar lengths")
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription)
    long_type = _event(subscription, id="x" * 300)

    with pytest.raises(DataError), transaction.atomic():
        insert_with_dependents(event, lambda row: [[long_type]])

    assert not WebhookEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    ("declared", "cast"),
    [
        ("varchar(64)", "varchar"),
        ("varchar(64)[]", "varchar[]"),
        ("char(2)", "bpchar"),
        ("text", "text"),
        ("jsonb", "jsonb"),
        ("timestamp with time zone", "timestamp with time zone"),
    ],
)
def test_guarded_values_are_cast_to_their_column_type_without_a_length(declared, cast) -> None:
    assert _unsized(declared) == cast


def test_insert_with_dependents_refuses_a_dependent_value_it_cannot_bind() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("elsewhere the dependents go through insert_together, which compiles them")
    subscription = WebhookSubscriptionFactory()
    event = _event(subscription)
    delivery = _deliveries(event, subscription, 1)[0]
    delivery.url = Value("https://example.test/")

    with pytest.raises(ValueError, match="plain values"):
        insert_with_dependents(_event(subscription), lambda row: [[delivery]])


_A_MOMENT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
_NAIVE = datetime(2026, 12, 4, 9, 30)


@pytest.mark.parametrize(
    "field",
    [
        models.CharField(max_length=10, null=True),
        models.TextField(null=True),
        models.URLField(null=True),
        models.BooleanField(null=True),
        models.IntegerField(null=True),
        models.BigIntegerField(null=True),
        models.SmallIntegerField(null=True),
        models.PositiveIntegerField(null=True),
        models.PositiveSmallIntegerField(null=True),
        models.DateTimeField(null=True),
        models.UUIDField(null=True),
        models.JSONField(null=True),
    ],
    ids=lambda field: type(field).__name__,
)
@pytest.mark.parametrize(
    "value",
    [None, "text", "", True, False, 0, 7, uuid.UUID(int=5), _A_MOMENT, _NAIVE, {"a": 1}],
    ids=["None", "text", "empty", "True", "False", "0", "7", "uuid", "datetime", "naive", "dict"],
)
def test_db_value_answers_what_get_db_prep_save_answers(field, value) -> None:
    try:
        expected = field.get_db_prep_save(value, connection)
    except (TypeError, ValueError, ValidationError):
        return  # a value the field refuses is refused the same way (no shortcut taken)
    assert _same(db_value(field, value, connection), expected)


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_db_value_of_a_naive_datetime_gets_the_current_zone_as_django_gives_it() -> None:
    field = models.DateTimeField(null=True)

    assert db_value(field, _NAIVE, connection) == field.get_db_prep_save(_NAIVE, connection)


def _same(left: Any, right: Any) -> bool:
    # JSON adapters compare by what they carry.
    return type(left) is type(right) and getattr(left, "obj", left) == getattr(right, "obj", right)


def test_db_value_of_a_foreign_key_answers_what_get_db_prep_save_answers() -> None:
    field = WebhookDelivery._meta.get_field("subscription")
    for value in (None, uuid.UUID(int=9), str(uuid.UUID(int=9)), uuid.UUID(int=9).hex):
        assert _same(db_value(field, value, connection), field.get_db_prep_save(value, connection))


def test_db_value_of_a_key_to_a_text_column_answers_what_get_db_prep_save_answers() -> None:
    field = WebhookDelivery._meta.get_field("event")
    for value in ("evt_1", uuid.UUID(int=9)):
        assert _same(db_value(field, value, connection), field.get_db_prep_save(value, connection))


def _built_rows() -> list[Model]:
    """Unsaved rows of the models the hot paths insert, their keys set as the hot paths
    set them (an event's payload from its own text)."""
    message = MessageFactory.build(id=uuid.uuid4(), media=[{"url": "https://x.test/a.jpg"}])
    delivery = WebhookDeliveryFactory.build(id=uuid.uuid4(), event_id="evt_bound")
    event = WebhookEvent(
        id="evt_bound",
        organization_id=uuid.uuid4(),
        identity_id=uuid.uuid4(),
        event_type="imessage.received",
        payload=EncodedJson({"id": "evt_bound"}, '{"id":"evt_bound"}'),
        created_at=_A_MOMENT,
    )
    provider_event = ProviderEventFactory.build(setup_id=uuid.uuid4())
    return [message, delivery, event, provider_event]


@pytest.mark.parametrize("row", range(4), ids=["message", "delivery", "event", "provider_event"])
def test_bound_values_answer_what_pre_save_and_get_db_prep_save_answer(row: int) -> None:
    obj = _built_rows()[row]
    twin = copy.copy(obj)  # each side runs pre_save (auto_now) on its own instance
    columns = inserted_columns([obj])

    with time_machine.travel(_A_MOMENT, tick=False):
        expected = [f.get_db_prep_save(f.pre_save(twin, True), connection) for f in columns]
        bound = bound_values(obj, columns, connection)

    assert bound is not None
    assert [_bound_type(value) for value in bound] == [_bound_type(value) for value in expected]
    assert [_bound_form(value) for value in bound] == [_bound_form(value) for value in expected]


def _bound_type(value: Any) -> type:
    """A bound value's type, a text choice's as the text it binds as."""
    return str if isinstance(value, str) else type(value)


def test_a_text_choice_is_bound_as_the_plain_text_it_stands_for() -> None:
    message = MessageFactory.build(
        id=uuid.uuid4(), direction=Direction.INBOUND, status=DeliveryStatus.RECEIVED
    )
    columns = inserted_columns([message])

    values = bound_values(message, columns, connection)

    assert values is not None
    bound = dict(zip((f.attname for f in columns), values, strict=True))
    assert type(bound["direction"]) is str and bound["direction"] == "inbound"
    assert type(bound["status"]) is str and bound["status"] == "received"


def _bound_form(value: Any) -> Any:
    """What a bound value stands for: a JSON adapter's object (read back from its text
    when it carries text)."""
    carried = getattr(value, "obj", value)
    return json.loads(carried) if carried is not value and isinstance(carried, str) else carried


def test_bound_values_refuse_an_expression_for_the_caller_to_compile() -> None:
    obj = Organization(name="Acme", slug=Value("acme"))
    columns = inserted_columns([obj])

    assert bound_values(obj, columns, connection) is None


def test_an_encoded_json_object_is_stored_from_its_own_text() -> None:
    field = WebhookEvent._meta.get_field("payload")
    value = EncodedJson({"b": [1, 2], "a": "é"}, '{"b":[1,2],"a":"é"}')

    prepared = db_value(field, value, connection)

    if connection.vendor == "postgresql":
        assert prepared.obj == value.text and prepared.dumps(prepared.obj) == value.text
    else:
        assert json.loads(prepared) == {"b": [1, 2], "a": "é"}


def test_an_encoded_json_payload_reads_back_as_its_object() -> None:
    subscription = WebhookSubscriptionFactory()
    envelope = {"id": "evt_encoded", "data": {"text": "Can I come in at 3?"}}
    event = WebhookEvent(
        id="evt_encoded",
        organization_id=subscription.organization_id,
        identity_id=subscription.identity_id,
        event_type="imessage.received",
        payload=EncodedJson(envelope, json.dumps(envelope, separators=(",", ":"))),
        created_at=_A_MOMENT,
    )

    insert_together([event])

    assert WebhookEvent.objects.get(pk="evt_encoded").payload == envelope


def test_a_guarded_update_of_every_row_gets_the_guard_as_its_where() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("guards are WITH clauses of PostgreSQL statements")
    rename_all = PreparedUpdate(
        Organization, lambda *, name: (Organization.objects.all(), {"name": name}), name=str
    )

    sql, _ = rename_all.bound(name="Everyone").statement(connection.alias, guard="g")

    assert " WHERE EXISTS (SELECT 1 FROM g) RETURNING " in sql
