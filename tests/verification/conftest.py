"""The console personas, shared with the console's own tests."""

from tests.console.ui.conftest import (  # noqa: F401
    auditor_client,
    operator_client,
    outsider_operator_client,
)
from tests.messaging.conftest import (  # noqa: F401
    assignment,
    conversation,
    emitted,
    platform_setup,
    pool_line,
)
from tests.messaging.webhooks.conftest import receiver  # noqa: F401
