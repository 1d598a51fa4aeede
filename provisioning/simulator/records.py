"""What the simulated provider keeps: accounts (the agency and its children), lines and
line requests (tickets). Messages, handsets and media are plain dicts on the simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.timestamps import iso


def now_iso() -> str:
    """Now as the provider writes it: UTC with milliseconds and `Z`."""
    return iso(datetime.now(UTC), timespec="milliseconds", tz=UTC)


@dataclass
class Account:
    key_id: str
    secret: str
    company_name: str
    primary_email: str
    is_agency: bool = False
    webhooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    global_secret: str = ""


@dataclass
class Line:
    number: str
    account_key: str
    status: str = "ONLINE"


@dataclass
class Ticket:
    id: int
    account_key: str
    status: str = "OPEN"
    phone_number: str | None = None
    desired_area_code: str | None = None
    created_at: str = field(default_factory=now_iso)

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "PHONE",
            "status": self.status,
            "desiredAreaCode": self.desired_area_code,
            "createdAt": self.created_at,
            "phoneNumber": self.phone_number,
        }
