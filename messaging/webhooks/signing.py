"""Webhook signatures that both the `inkbox` SDK and Standard Webhooks verifiers accept.

One stored secret, `whsec_<base64 of 32 random bytes>`, serves both schemes (contract §5.5):
the inkbox HMAC key is the text after `whsec_` as UTF-8; the Standard Webhooks key is that
text base64-decoded. Both sign `<id>.<timestamp>.<body>` with the same id and timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _signed_bytes(request_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{request_id}.{timestamp}.".encode() + body


def signature_headers(
    *, secret: str, request_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The signature headers of one request; `body` must be the exact bytes sent."""
    text = secret.removeprefix(SECRET_PREFIX)
    signed = _signed_bytes(request_id, timestamp, body)
    inkbox = hmac.new(text.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    standard = base64.b64encode(
        hmac.new(base64.b64decode(text), signed, hashlib.sha256).digest()
    ).decode("ascii")
    return {
        "X-Inkbox-Request-ID": request_id,
        "X-Inkbox-Timestamp": str(timestamp),
        "X-Inkbox-Signature": f"sha256={inkbox}",
        "webhook-id": request_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{standard}",
    }
