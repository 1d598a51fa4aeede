"""The benchmark dataset `seed_load` writes: what it holds and how it is generated.

The mix: a platform setup with a router line and pool lines; one setup per organisation
with dedicated lines for some identities; conversations over pool lines (with active or
released assignments) or dedicated lines; messages skewed over conversations (a few long
threads, many short ones), inbound and outbound, ~3 % blocked inbound, media, SMS
downgrades, read and unread, delivery failures, tapbacks; provider events for inbound rows;
`last_message_at` on every conversation; the webhook history a platform in use has (an
`imessage.received` event for every inbound message that reached its agent, delivered to
an endpoint of the identity's since deleted). The generator only writes consistent rows.
"""

from __future__ import annotations

import json
import random
import secrets
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from console.api.authentication import hash_api_key
from console.crypto import encrypt
from console.models import AgentIdentity, ApiKey, Organization
from console.services import API_KEY_PREFIX
from messaging.bench_data.loader import Loader
from messaging.bench_data.webhook_history import WebhookHistory
from messaging.models import Conversation, Message, Reaction
from provisioning.models import PhoneLine, ProviderEvent, Setup
from routing.models import Assignment, ContactRule

BLOCKED_SHARE = 0.03
MEDIA_SHARE = 0.05
DOWNGRADE_SHARE = 0.08
FAILED_SHARE = 0.01
REACTION_SHARE = 0.03
UNREAD_RECENT_INBOUND = 0.6
RELEASED_ASSIGNMENT_SHARE = 0.1
DEDICATED_IDENTITY_SHARE = 0.2
HISTORY_DAYS = 90
PHRASES = [
    "Hi, can I move my appointment to Thursday?",
    "Thanks, see you then.",
    "Your prescription is ready for pickup.",
    "Reminder: fasting from midnight before the blood test.",
    "Is the clinic open on Saturday?",
    "Please reply YES to confirm.",
    "I have a question about my bill.",
    "ok",
    "The results look normal; the doctor will call you if anything changes.",
    "Can you send me the address again?",
]
REACTIONS = ["love", "like", "laugh", "emphasize", "question", "dislike"]


AREA_CODES = (212, 213, 312, 415, 617, 646, 718, 805, 917, 206)


def bench_number(n: int) -> str:
    """A distinct, valid US E.164 number per n (n < 70 million); the router validates them.

    tests/bench/loadgen.py has the same formula for the people it invents.
    """
    rest = n // 10
    exchange = 200 + (rest // 10000) % 700
    if exchange % 100 == 11 or exchange == 555:
        exchange += 1
    return f"+1{AREA_CODES[n % 10]}{exchange:03d}{rest % 10000:04d}"


class Dataset:
    """One generation run: reproducible from `rng`, with times relative to `now`."""

    def __init__(self, *, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now

    def seed(
        self,
        loader: Loader,
        n_orgs: int,
        n_ids: int,
        n_convs: int,
        n_messages: int,
        webhook_secret: str,
        pool_lines: int,
    ) -> dict[str, Any]:
        """Write the whole dataset through `loader`; returns the keys file's content."""
        rng = self.rng
        now = self.now
        run = uuid.uuid4().hex[:6]
        orgs = [
            Organization(name=f"Bench Clinic {i}", slug=f"bench-{run}-{i}") for i in range(n_orgs)
        ]
        Organization.objects.bulk_create(orgs)
        identities = [
            AgentIdentity(
                organization=orgs[i % n_orgs],
                handle=f"bench-{run}-agent-{i}",
                display_name=f"Bench Agent {i}",
                imessage_enabled=True,
            )
            for i in range(n_ids)
        ]
        AgentIdentity.objects.bulk_create(identities)

        keys: dict[str, Any] = {
            "webhook_secret": webhook_secret,
            "organizations": [],
            "identities": [],
            "setups": [],
        }
        api_keys: list[ApiKey] = []

        def issue(org: Organization, identity: AgentIdentity | None, label: str) -> str:
            raw = f"{API_KEY_PREFIX}{secrets.token_urlsafe(32)}"
            api_keys.append(
                ApiKey(
                    organization=org,
                    identity=identity,
                    label=label,
                    key_hash=hash_api_key(raw),
                    display_prefix=raw[:8],
                    last4=raw[-4:],
                    created_by="seed_load",
                )
            )
            return raw

        for org in orgs:
            keys["organizations"].append(
                {"id": str(org.id), "slug": org.slug, "admin_key": issue(org, None, "bench admin")}
            )

        # Setups: one platform setup (router + pool lines), one per organisation (dedicated).
        def setup_for(org: Organization, *, platform: bool) -> Setup:
            return Setup(
                organization=org,
                business_name=org.name,
                label="Bench platform" if platform else f"{org.name} lines",
                provider=settings.PROVIDER_NAME,
                provider_account_id=f"bench-{uuid.uuid4().hex[:10]}@bench.test",
                primary_email=f"bench-{uuid.uuid4().hex[:10]}@bench.test",
                status="active",
                is_platform=platform,
                is_default=not platform,
                credentials_encrypted=encrypt(
                    json.dumps({"key_id": f"bench_k_{run}", "secret": f"bench_s_{run}"})
                ),
                webhook_secret_encrypted=encrypt(webhook_secret),
            )

        platform = setup_for(orgs[0], platform=True)
        org_setups = [setup_for(org, platform=False) for org in orgs]
        Setup.objects.bulk_create([platform, *org_setups])
        number_seq = iter(range(9_000_000, 9_999_999))
        lines: list[PhoneLine] = []

        def line(setup: Setup, role: str, identity: AgentIdentity | None = None) -> PhoneLine:
            pl = PhoneLine(
                setup=setup,
                state="assigned",
                number=bench_number(next(number_seq)),
                role=role,
                identity=identity,
                assigned_at=now - timedelta(days=HISTORY_DAYS + 1),
            )
            lines.append(pl)
            return pl

        router = line(platform, "router")
        pool = [line(platform, "pool") for _ in range(pool_lines)]
        dedicated: dict[uuid.UUID, PhoneLine] = {}
        org_index = {org.id: i for i, org in enumerate(orgs)}
        for identity in identities[: max(1, int(n_ids * DEDICATED_IDENTITY_SHARE))]:
            setup = org_setups[org_index[identity.organization_id]]
            dedicated[identity.id] = line(setup, "dedicated", identity)
        PhoneLine.objects.bulk_create(lines)
        keys["setups"] = [
            {
                "id": str(s.id),
                "is_platform": s.is_platform,
                "organization_id": str(s.organization_id),
            }
            for s in [platform, *org_setups]
        ]
        keys["router_line"] = {"number": router.number, "setup_id": str(platform.id)}

        # Conversations: identity round-robin, remote numbers unique per conversation.
        convs: list[dict[str, Any]] = []
        assignments: list[dict[str, Any]] = []
        for c in range(n_convs):
            identity = identities[c % n_ids]
            remote = bench_number(c)
            ded = dedicated.get(identity.id)
            use_dedicated = ded is not None and rng.random() < 0.5
            conv: dict[str, Any] = {
                "id": uuid.uuid4(),
                "organization_id": identity.organization_id,
                "identity_id": identity.id,
                "remote_number": remote,
                "assignment_id": None,
                "line_id": ded.id if use_dedicated and ded else None,
                "setup_id": (
                    org_setups[org_index[identity.organization_id]].id
                    if use_dedicated
                    else platform.id
                ),
                "line_number": ded.number if use_dedicated and ded else None,
            }
            if not use_dedicated:
                pl = pool[c % len(pool)]
                released = rng.random() < RELEASED_ASSIGNMENT_SHARE
                created = now - timedelta(days=rng.uniform(1, HISTORY_DAYS))
                a = {
                    "id": uuid.uuid4(),
                    "organization_id": identity.organization_id,
                    "identity_id": identity.id,
                    "remote_number": remote,
                    "pool_line_id": pl.id,
                    "status": "released" if released else "active",
                    "created_at": created,
                    "updated_at": created,
                    "released_at": now - timedelta(hours=rng.uniform(1, 24)) if released else None,
                }
                assignments.append(a)
                conv["line_id"] = pl.id
                conv["line_number"] = pl.number
                conv["assignment_id"] = None if released else a["id"]
                conv["assignment_status"] = a["status"]
            convs.append(conv)

        # Message counts per conversation: one each, the rest skewed towards low indexes
        # (a few long threads, many short ones), like real clinic traffic.
        counts = [1] * n_convs
        for _ in range(n_messages - n_convs):
            counts[int(n_convs * rng.random() ** 2)] += 1
        order = list(range(n_convs))
        rng.shuffle(order)  # long threads spread over identities, not all on identity 0
        counts = [counts[order[i]] for i in range(n_convs)]

        # Spans: each conversation starts somewhere in the history and runs to a recent end.
        span: list[tuple[datetime, datetime]] = []
        for _ in range(n_convs):
            end = now - timedelta(minutes=rng.expovariate(1 / (60 * 24 * 3)))
            start = end - timedelta(minutes=rng.uniform(1, 60 * 24 * HISTORY_DAYS))
            span.append((start, end))
        for conv, (start, end) in zip(convs, span, strict=True):
            conv["created_at"] = start
            conv["updated_at"] = end
            conv["last_message_at"] = end

        # Contact rules: a few block rules per identity, matching the blocked senders.
        blocked_senders: dict[uuid.UUID, set[str]] = {}
        rules: list[dict[str, Any]] = []
        for conv in convs:
            if rng.random() < BLOCKED_SHARE:
                blocked_senders.setdefault(conv["identity_id"], set()).add(conv["remote_number"])
        for identity_id, numbers in blocked_senders.items():
            for num in numbers:
                rules.append(
                    {
                        "id": uuid.uuid4(),
                        "identity_id": identity_id,
                        "action": "block",
                        "match_type": "exact_number",
                        "match_target": num,
                        "direction": "inbound",
                        "status": "active",
                        "created_at": now - timedelta(days=HISTORY_DAYS),
                        "updated_at": now - timedelta(days=HISTORY_DAYS),
                    }
                )
        rule_for: dict[tuple[uuid.UUID, str], uuid.UUID] = {
            (r["identity_id"], r["match_target"]): r["id"] for r in rules
        }

        ApiKey.objects.bulk_create(api_keys)
        loader.load(Assignment, assignments)
        loader.load(
            Conversation,
            ({k: v for k, v in c.items() if k not in _CONV_EXTRA} for c in convs),
        )
        loader.load(ContactRule, rules)

        reactions: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        history = WebhookHistory(identities)
        loader.load(
            Message,
            self._messages(convs, counts, span, rule_for, reactions, events, history),
        )
        loader.load(Reaction, reactions)
        loader.load(ProviderEvent, events)
        history.load(loader)

        # Keys of identities; with the connected people the load generator may use.
        per_identity: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for conv, n in zip(convs, counts, strict=True):
            # Connected people only: active pool assignments and dedicated lines.
            if conv.get("assignment_status", "dedicated") != "released":
                lst = per_identity.setdefault(conv["identity_id"], [])
                if len(lst) < 400:
                    lst.append(
                        {
                            "conversation_id": str(conv["id"]),
                            "remote_number": conv["remote_number"],
                            "line_number": conv["line_number"],
                            "setup_id": str(conv["setup_id"]),
                            "messages": n,
                            "pool": conv.get("assignment_status") == "active",
                            "blocked": (conv["identity_id"], conv["remote_number"]) in rule_for,
                        }
                    )
        for identity in identities:
            keys["identities"].append(
                {
                    "id": str(identity.id),
                    "handle": identity.handle,
                    "organization_id": str(identity.organization_id),
                    "key": issue(identity.organization, identity, "bench agent"),
                    "conversations": per_identity.get(identity.id, []),
                }
            )
        ApiKey.objects.bulk_create(api_keys[len(orgs) :])
        return keys

    def _messages(
        self,
        convs: list[dict[str, Any]],
        counts: list[int],
        span: list[tuple[datetime, datetime]],
        rule_for: dict[tuple[uuid.UUID, str], uuid.UUID],
        reactions: list[dict[str, Any]],
        events: list[dict[str, Any]],
        history: WebhookHistory,
    ) -> Iterator[dict[str, Any]]:
        rng = self.rng
        recent = self.now - timedelta(days=2)
        for conv, n, (start, end) in zip(convs, counts, span, strict=True):
            step = (end - start) / n
            rule_id = rule_for.get((conv["identity_id"], conv["remote_number"]))
            for i in range(n):
                created = end - step * (n - 1 - i)
                # Nobody answers a blocked sender: their threads are inbound only.
                inbound = rule_id is not None or rng.random() < 0.55
                mid = uuid.uuid4()
                handle = str(uuid.uuid4()).upper()
                blocked = inbound and rule_id is not None
                media: list[dict[str, Any]] = []
                if rng.random() < MEDIA_SHARE:
                    media = [
                        {
                            "url": f"https://media.bench.test/{mid.hex}.jpg",
                            "content_type": "image/jpeg",
                            "size": rng.randint(20_000, 2_000_000),
                        }
                    ]
                sms = rng.random() < DOWNGRADE_SHARE
                row: dict[str, Any] = {
                    "id": mid,
                    "organization_id": conv["organization_id"],
                    "identity_id": conv["identity_id"],
                    "conversation_id": conv["id"],
                    "assignment_id": conv["assignment_id"],
                    "line_id": conv["line_id"],
                    "direction": "inbound" if inbound else "outbound",
                    "remote_number": conv["remote_number"],
                    "content": rng.choice(PHRASES) if not media or rng.random() < 0.5 else None,
                    "message_type": "message",
                    "service": "sms" if sms else "imessage",
                    "send_style": None,
                    "media": media,
                    "was_downgraded": (sms if not inbound else None),
                    "provider_handle": handle,
                    "created_at": created,
                    "updated_at": created,
                    "is_blocked": blocked,
                    "blocked_rule_id": rule_id if blocked else None,
                    "review_state": "",
                    "send_attempts": 0 if inbound else 1,
                }
                if inbound:
                    row["status"] = "received"
                    row["is_read"] = created < recent or rng.random() > UNREAD_RECENT_INBOUND
                    row["send_state"] = None
                    events.append(
                        {
                            "setup_id": conv["setup_id"],
                            "event_key": f"receive:{handle}",
                            "event_type": "receive",
                            "payload": {"message_handle": handle},
                            "status": "processed",
                            "error": "",
                            "received_at": created,
                            "processed_at": created,
                        }
                    )
                    if not blocked:
                        history.received(row)
                    if not blocked and rng.random() < REACTION_SHARE * 2:
                        # The agent tapbacks an inbound message now and then.
                        reactions.append(self._reaction(conv, mid, created, "outbound"))
                else:
                    failed = rng.random() < FAILED_SHARE
                    row["status"] = "error" if failed else "delivered"
                    row["is_read"] = True
                    row["send_state"] = "failed" if failed else "sent"
                    row["claimed_at"] = created
                    if failed:
                        row["error_code"] = "4001"
                        row["error_message"] = "Recipient unreachable"
                    if rng.random() < REACTION_SHARE:
                        reactions.append(self._reaction(conv, mid, created, "inbound"))
                yield row

    def _reaction(
        self, conv: dict[str, Any], message_id: uuid.UUID, created: datetime, direction: str
    ) -> dict[str, Any]:
        at = created + timedelta(seconds=self.rng.randint(5, 600))
        return {
            "id": uuid.uuid4(),
            "organization_id": conv["organization_id"],
            "identity_id": conv["identity_id"],
            "conversation_id": conv["id"],
            "message_id": message_id,
            "direction": direction,
            "reaction": self.rng.choice(REACTIONS),
            "custom_emoji": None,
            "part_index": 0,
            "remote_number": conv["remote_number"],
            "is_live": True,
            "removed_at": None,
            "created_at": at,
            "updated_at": at,
        }


_CONV_EXTRA = {"setup_id", "line_number", "assignment_status"}
