"""The pool reads every connect runs (`routing.selectors`): on PostgreSQL, the index each
finds its rows through."""

from __future__ import annotations

import pytest
from django.db import connection

from routing.models import AssignmentStatus
from routing.selectors import _lines_of_person
from tests.routing.factories import AssignmentFactory, PoolLineFactory

pytestmark = pytest.mark.django_db


def test_the_lines_a_person_is_connected_over_are_their_active_connections():
    active = AssignmentFactory(remote_number="+14155550142")
    AssignmentFactory(remote_number="+14155550142", status=AssignmentStatus.RELEASED)
    AssignmentFactory(remote_number="+14155550143")

    rows = list(_lines_of_person(remote_number="+14155550142"))

    assert rows == [{"pool_line_id": active.pool_line_id}]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_the_lines_a_person_is_connected_over_are_found_through_their_index():
    line = PoolLineFactory()
    # Many people on the line, and statistics that know of them: the planner then weighs
    # walking the per-line index against the per-person one.
    for n in range(300):
        AssignmentFactory(pool_line=line, remote_number=f"+1415555{n:04d}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE routing_assignment")
        # Nor may it read a table this small whole.
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = _lines_of_person(remote_number="+14155550142").explain()

    assert "assignment_active_by_person" in plan
