"""`console.db.prepared.PreparedQuery`: a queryset compiled once, run with new values."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Count, F, QuerySet
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.db.lookups import AnyOf
from console.db.parameters import UUIDList
from console.db.prepared import PreparedQuery, PreparedShapes, PreparedUpdate
from console.models import AgentIdentity, Organization
from tests.console.factories import AgentIdentityFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def identities_of(*, organization_id: Any, handle: str) -> QuerySet[AgentIdentity]:
    return (
        AgentIdentity.objects.filter(organization_id=organization_id, handle=handle)
        .select_related("organization")
        .annotate(organization_slug=F("organization__slug"))
        .order_by("pk")
    )


IDENTITY = PreparedQuery(AgentIdentity, identities_of, organization_id=uuid.UUID, handle=str)


def test_each_call_answers_the_rows_for_its_own_values() -> None:
    first, second = AgentIdentityFactory(handle="first"), AgentIdentityFactory(handle="second")

    found = IDENTITY.rows(organization_id=first.organization_id, handle="first")
    again = IDENTITY.rows(organization_id=second.organization_id, handle="second")

    assert [i.pk for i in found] == [first.pk]
    assert [i.pk for i in again] == [second.pk]


def test_a_value_of_another_row_matches_nothing() -> None:
    first, second = AgentIdentityFactory(handle="first"), AgentIdentityFactory(handle="second")

    assert IDENTITY.first(organization_id=second.organization_id, handle=first.handle) is None


def test_rows_come_with_their_related_objects_and_annotations_in_one_statement() -> None:
    identity = AgentIdentityFactory(handle="first")

    with CaptureQueriesContext(connection) as ctx:
        found = IDENTITY.first(organization_id=identity.organization_id, handle="first")
        assert found.organization.slug == identity.organization.slug
        assert found.organization_slug == identity.organization.slug

    assert len(ctx.captured_queries) == 1
    assert found == identity
    assert found._state.adding is False
    assert found.created_at == identity.created_at  # converters applied (SQLite dates)


def test_the_builder_runs_once_per_database() -> None:
    built: list[dict[str, Any]] = []

    def build(*, handle: str) -> QuerySet[AgentIdentity]:
        built.append({"handle": handle})
        return AgentIdentity.objects.filter(handle=handle)

    query = PreparedQuery(AgentIdentity, build, handle=str)
    AgentIdentityFactory(handle="first")

    for handle in ("first", "second", "first"):
        query.rows(handle=handle)

    assert len(built) == 1
    assert built[0]["handle"] not in ("first", "second")  # a placeholder, not a value


def test_values_querysets_answer_dicts() -> None:
    organization = OrganizationFactory(slug="clinic")
    AgentIdentityFactory.create_batch(2, organization=organization)
    query = PreparedQuery(
        Organization,
        lambda *, slug: (
            Organization.objects.filter(slug=slug)
            .annotate(identities_count=Count("identities"))
            .values("id", "identities_count")
        ),
        slug=str,
    )

    assert query.rows(slug="clinic") == [{"id": organization.id, "identities_count": 2}]


def test_a_parameter_a_lookup_rewrites_is_refused_at_compile_time() -> None:
    query = PreparedQuery(
        AgentIdentity,
        lambda *, handle: AgentIdentity.objects.filter(handle__contains=handle),
        handle=str,
    )

    with pytest.raises(ValueError, match="rewritten"):
        query.rows(handle="first")


def test_a_value_computed_from_a_placeholder_is_refused_at_compile_time() -> None:
    query = PreparedQuery(
        AgentIdentity,
        lambda *, now: AgentIdentity.objects.filter(created_at__gt=now - timedelta(days=1)),
        now=datetime,
    )

    with pytest.raises(ValueError, match="computed"):
        query.rows(now=timezone.now())


def test_datetime_parameters_compare_as_the_orm_would() -> None:
    identity = AgentIdentityFactory()
    query = PreparedQuery(
        AgentIdentity,
        lambda *, since, until: AgentIdentity.objects.filter(
            created_at__gt=since, created_at__lte=until
        ),
        since=datetime,
        until=datetime,
    )
    at = identity.created_at

    assert query.rows(since=at - timedelta(seconds=1), until=at) == [identity]
    assert query.rows(since=at, until=at + timedelta(days=1)) == []
    # Another time zone names the same instant.
    local = at.astimezone(ZoneInfo("America/New_York"))
    assert query.rows(since=local - timedelta(microseconds=1), until=local) == [identity]


def test_a_naive_datetime_is_refused() -> None:
    query = PreparedQuery(
        AgentIdentity, lambda *, at: AgentIdentity.objects.filter(created_at=at), at=datetime
    )

    with pytest.raises(ValueError, match="aware"):
        query.rows(at=datetime(2026, 1, 1))


def test_a_parameter_the_builder_never_uses_is_refused() -> None:
    query = PreparedQuery(AgentIdentity, lambda *, handle: AgentIdentity.objects.all(), handle=str)

    with pytest.raises(ValueError, match="not in the compiled query"):
        query.rows(handle="first")


def test_a_call_must_name_exactly_the_parameters() -> None:
    with pytest.raises(TypeError):
        IDENTITY.rows(handle="first")


def test_only_str_uuid_and_datetime_parameters_are_accepted() -> None:
    with pytest.raises(TypeError):
        PreparedQuery(AgentIdentity, lambda *, n: AgentIdentity.objects.filter(pk=n), n=int)


def by_handle(*, organization_id: Any) -> QuerySet[AgentIdentity]:
    return AgentIdentity.objects.filter(organization_id=organization_id).order_by("handle")


PAGE = PreparedQuery(AgentIdentity, by_handle, paged=True, organization_id=uuid.UUID)


def test_a_paged_query_answers_the_page_asked_for() -> None:
    organization = OrganizationFactory()
    for handle in ("a", "b", "c", "d"):
        AgentIdentityFactory(organization=organization, handle=handle)

    first = PAGE.rows(organization_id=organization.id, limit=2, offset=0)
    second = PAGE.rows(organization_id=organization.id, limit=2, offset=2)
    last = PAGE.rows(organization_id=organization.id, limit=3, offset=3)

    assert [i.handle for i in first] == ["a", "b"]
    assert [i.handle for i in second] == ["c", "d"]
    assert [i.handle for i in last] == ["d"]


def test_a_paged_query_needs_a_limit_and_an_unpaged_one_refuses_it() -> None:
    with pytest.raises(TypeError):
        PAGE.rows(organization_id=uuid.uuid4())
    with pytest.raises(TypeError):
        IDENTITY.rows(organization_id=uuid.uuid4(), handle="a", limit=1)


def test_a_paged_query_built_with_a_slice_is_refused() -> None:
    query = PreparedQuery(
        AgentIdentity,
        lambda *, handle: AgentIdentity.objects.filter(handle=handle)[:5],
        paged=True,
        handle=str,
    )

    with pytest.raises(TypeError, match="without a slice"):
        query.rows(handle="a", limit=1)


def test_shapes_are_made_once_each() -> None:
    made: list[str] = []

    def make(shape: str) -> PreparedQuery[AgentIdentity]:
        made.append(shape)
        return PreparedQuery(
            AgentIdentity, lambda *, handle: AgentIdentity.objects.filter(handle=handle), handle=str
        )

    shapes = PreparedShapes(make)

    assert shapes["a"] is shapes["a"]
    assert shapes["a"] is not shapes["b"]
    assert made == ["a", "b"]


def test_a_datetime_placeholder_cut_to_its_date_is_refused_at_compile_time() -> None:
    query = PreparedQuery(
        AgentIdentity,
        lambda *, at: AgentIdentity.objects.filter(created_at__date=at, updated_at__lte=at),
        at=datetime,
    )

    with pytest.raises(ValueError, match="computed"):
        query.rows(at=timezone.now())


def test_none_is_refused_as_a_value() -> None:
    with pytest.raises(ValueError, match="never None"):
        IDENTITY.rows(organization_id=uuid.uuid4(), handle=None)


def test_values_rows_take_the_names_of_the_selected_columns_in_order() -> None:
    organization = OrganizationFactory(slug="clinic", name="Clinic")
    query = PreparedQuery(
        Organization,
        lambda *, slug: Organization.objects.filter(slug=slug).values(
            "name", upper_slug=Upper("slug"), the_id=F("id")
        ),
        slug=str,
    )

    assert query.rows(slug="clinic") == [
        {"name": "Clinic", "upper_slug": "CLINIC", "the_id": organization.id}
    ]


def identities_among(*, ids: list[uuid.UUID]) -> QuerySet[AgentIdentity]:
    return AgentIdentity.objects.filter(AnyOf(F("id"), ids)).order_by("handle")


AMONG = PreparedQuery(AgentIdentity, identities_among, ids=UUIDList)


def test_a_uuid_list_parameter_takes_lists_of_any_length_in_one_statement() -> None:
    a, b, c = (AgentIdentityFactory(handle=h) for h in ("a", "b", "c"))

    with CaptureQueriesContext(connection) as queries:
        two = AMONG.rows(ids=[c.pk, a.pk])
        three = AMONG.rows(ids=[a.pk, b.pk, c.pk, uuid.uuid4()])
        none = AMONG.rows(ids=[])

    assert [i.handle for i in two] == ["a", "c"]
    assert [i.handle for i in three] == ["a", "b", "c"]
    assert none == []
    assert len(queries) == 3
    # One kept statement, the whole list bound to its one placeholder.
    assert AMONG._compile(connection.alias).sql.count("%s") == 1


def test_any_of_matches_the_same_rows_as_in() -> None:
    identities = [AgentIdentityFactory() for _ in range(4)]
    wanted = [identities[0].pk, identities[2].pk, uuid.uuid4()]

    found = set(AgentIdentity.objects.filter(AnyOf(F("id"), wanted)).values_list("pk", flat=True))

    assert found == set(AgentIdentity.objects.filter(pk__in=wanted).values_list("pk", flat=True))


def test_a_uuid_list_parameter_refuses_a_bare_string() -> None:
    with pytest.raises(ValueError, match="not a list of UUIDs"):
        AMONG.rows(ids=str(uuid.uuid4()))


def rename(
    *, organization_id: uuid.UUID, handle: str, name: str
) -> tuple[QuerySet[AgentIdentity], dict[str, Any]]:
    identities = AgentIdentity.objects.filter(organization_id=organization_id, handle=handle)
    return identities, {"display_name": name}


RENAME = PreparedUpdate(AgentIdentity, rename, organization_id=uuid.UUID, handle=str, name=str)


def test_a_prepared_update_answers_the_rows_as_stored_in_one_statement() -> None:
    first, second = AgentIdentityFactory(handle="first"), AgentIdentityFactory(handle="second")
    RENAME.rows(organization_id=first.organization_id, handle="first", name="warm-up")

    with CaptureQueriesContext(connection) as queries:
        renamed = RENAME.rows(organization_id=first.organization_id, handle="first", name="One")
        again = RENAME.rows(organization_id=second.organization_id, handle="second", name="Two")
        none = RENAME.rows(organization_id=second.organization_id, handle="first", name="X")

    assert len(queries) == 3
    assert [(i.pk, i.display_name) for i in renamed] == [(first.pk, "One")]
    assert [(i.pk, i.display_name) for i in again] == [(second.pk, "Two")]
    assert renamed[0].organization_id == first.organization_id  # every column comes back
    assert none == []
    first.refresh_from_db()
    assert first.display_name == "One"


def test_a_bound_update_runs_later_with_the_values_it_was_bound_to() -> None:
    identity = AgentIdentityFactory(handle="bound")
    bound = RENAME.bound(organization_id=identity.organization_id, handle="bound", name="Later")
    identity.refresh_from_db()
    assert identity.display_name != "Later"  # binding runs nothing

    [renamed] = bound.run()

    assert (renamed.pk, renamed.display_name) == (identity.pk, "Later")


def test_a_bound_update_refuses_missing_values_when_bound() -> None:
    with pytest.raises(TypeError, match="expected parameters"):
        RENAME.bound(organization_id=uuid.uuid4(), handle="x")


def test_a_bound_updates_statement_carries_its_values_as_parameters() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the statement serves as a clause of a PostgreSQL statement")
    identity = AgentIdentityFactory(handle="clause")
    sql, params = RENAME.bound(
        organization_id=identity.organization_id, handle="clause", name="Clause"
    ).statement("default")

    assert sql.startswith("UPDATE") and "RETURNING" in sql
    assert "Clause" in params and "Clause" not in sql
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    identity.refresh_from_db()
    assert identity.display_name == "Clause"


def test_a_prepared_update_refuses_a_value_computed_from_a_placeholder() -> None:
    def later(*, identity_id: uuid.UUID, at: datetime) -> tuple[QuerySet[AgentIdentity], Any]:
        return AgentIdentity.objects.filter(pk=identity_id), {"updated_at": at + timedelta(1)}

    prepared = PreparedUpdate(AgentIdentity, later, identity_id=uuid.UUID, at=datetime)

    with pytest.raises(ValueError, match="computed with"):
        prepared.rows(identity_id=uuid.uuid4(), at=timezone.now())


def _named(*, organization_id: Any) -> QuerySet[Organization]:
    return Organization.objects.filter(pk=organization_id, name="50% o'clock", slug__gt="a")


def test_the_builders_constants_match_as_they_did_with_quotes_and_percent_signs() -> None:
    org = OrganizationFactory(name="50% o'clock", slug="ok")
    other = OrganizationFactory(name="50% o clock", slug="no")
    named = PreparedQuery(Organization, _named, organization_id=uuid.UUID)

    assert named.rows(organization_id=org.pk) == [org]
    assert named.rows(organization_id=other.pk) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's generic plans")
def test_on_postgresql_the_builders_constants_are_literals_and_the_values_parameters() -> None:
    org = OrganizationFactory(name="50% o'clock", slug="ok")
    named = PreparedQuery(Organization, _named, organization_id=uuid.UUID)

    with CaptureQueriesContext(connection) as ctx:
        named.rows(organization_id=org.pk)

    (query,) = ctx.captured_queries
    # A generic plan then knows them, and can use a partial index whose condition names one.
    assert "'50% o''clock'" in query["sql"] and "> 'a'" in query["sql"]
    assert org.pk.hex in query["sql"]  # the call's value, rendered by the capture
