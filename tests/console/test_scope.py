"""Scope: what an API key and a console viewer may read, as one object."""

from __future__ import annotations

import datetime as dt

import pytest

from console.errors import NotFound
from console.models import AgentIdentity
from console.scope import Scope, local_days_q, scoped_get
from messaging.models import Message
from messaging.selectors import messages_in
from tests.console.factories import AgentIdentityFactory, ApiKeyFactory, OrganizationFactory
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db


def test_an_admin_key_reads_its_organisation_blocked_rows_included() -> None:
    key = ApiKeyFactory()
    scope = Scope.for_api_key(key)
    assert scope == Scope(organization_ids=(key.organization_id,), may_see_blocked=True)


def test_an_identity_key_reads_its_identity_and_never_blocked_rows() -> None:
    identity = AgentIdentityFactory()
    key = ApiKeyFactory(organization=identity.organization, identity=identity)
    scope = Scope.for_api_key(key)
    assert scope.identity_id == identity.id
    assert scope.may_see_blocked is False


def test_a_console_viewer_reads_every_organisation_they_belong_to() -> None:
    mine, also_mine, foreign = OrganizationFactory(), OrganizationFactory(), OrganizationFactory()
    for org in (mine, also_mine, foreign):
        AgentIdentityFactory(organization=org)
    scope = Scope.for_memberships([mine.id, also_mine.id])
    visible = scope.filter(AgentIdentity.objects.all(), identity="id")
    assert {i.organization_id for i in visible} == {mine.id, also_mine.id}
    assert scope.may_see_blocked is True


def test_narrowing_keeps_only_the_identitys_rows() -> None:
    identity = AgentIdentityFactory()
    other = AgentIdentityFactory(organization=identity.organization)
    MessageFactory(conversation__identity=identity)
    MessageFactory(conversation__identity=other)
    scope = Scope.for_memberships([identity.organization_id]).narrowed_to(identity.id)
    assert [m.identity_id for m in messages_in(scope)] == [identity.id]


def test_a_scope_that_may_not_see_blocked_rows_sees_no_blocked_or_group_message() -> None:
    identity = AgentIdentityFactory()
    seen = MessageFactory(conversation__identity=identity)
    MessageFactory(conversation__identity=identity, is_blocked=True)
    MessageFactory(conversation__identity=identity, is_group=True)
    key = ApiKeyFactory(organization=identity.organization, identity=identity)
    assert list(messages_in(Scope.for_api_key(key))) == [seen]


def test_a_row_outside_the_scope_or_a_malformed_id_is_not_found() -> None:
    foreign = AgentIdentityFactory()
    scope = Scope.for_memberships([OrganizationFactory().id])
    for lookup in ({"id": foreign.id}, {"id": "not-a-uuid"}):
        with pytest.raises(NotFound):
            scoped_get(scope.filter(AgentIdentity.objects.all()), not_found="gone", **lookup)


def test_local_days_include_both_whole_days() -> None:
    identity = AgentIdentityFactory()
    day = dt.date(2026, 3, 2)
    noon = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
    inside = MessageFactory(conversation__identity=identity, created_at=noon)
    MessageFactory(conversation__identity=identity, created_at=noon + dt.timedelta(days=1))
    rows = Message.objects.filter(local_days_q(day, day))
    assert list(rows) == [inside]
