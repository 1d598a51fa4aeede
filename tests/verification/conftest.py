"""The console personas, shared with the console's own tests."""

from tests.console.views.conftest import (  # noqa: F401
    auditor_client,
    operator_client,
    outsider_operator_client,
)
