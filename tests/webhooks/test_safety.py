from __future__ import annotations

import pytest

from messaging.webhooks.safety import UnsafeUrl, check_url
from messaging.webhooks.signing import SECRET_PREFIX, secret_generate, signature_headers


def test_https_public_host_is_pinned_to_the_checked_address():
    target = check_url("https://hooks.example.com:8443/in?x=1", allow_loopback=False)

    assert target.request_url == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header == "hooks.example.com:8443"
    assert target.sni_hostname == "hooks.example.com"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://10.0.0.1/x",
        "https://172.16.5.4/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/x",
        "https://100.64.0.1/x",
        "https://0.0.0.0/x",
        "https://[fd00:ec2::254]/x",
        "https://[fe80::1]/x",
        "https://224.0.0.1/x",
        "https://metadata.google.internal/x",
        "https://private.example.com/x",
        "https://rebind.example.com/x",
    ],
)
def test_non_public_destinations_are_refused(url):
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_loopback=False)


def test_loopback_http_is_allowed_under_the_development_setting():
    target = check_url("http://localhost:8123/hook", allow_loopback=True)

    assert target.request_url == "http://127.0.0.1:8123/hook"
    assert target.sni_hostname is None


def test_private_addresses_stay_refused_under_the_development_setting():
    with pytest.raises(UnsafeUrl):
        check_url("http://10.0.0.1/hook", allow_loopback=True)


def test_an_unresolvable_host_is_a_transient_refusal():
    with pytest.raises(UnsafeUrl) as caught:
        check_url("https://unresolvable.example.com/x", allow_loopback=False)

    assert caught.value.transient is True


def test_secret_text_is_valid_base64_of_32_bytes():
    import base64

    secret = secret_generate()

    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)) == 32


def test_both_signatures_cover_id_timestamp_and_body():
    secret = secret_generate()
    a = signature_headers(secret=secret, request_id="msg_1", timestamp=1, body=b"{}")
    b = signature_headers(secret=secret, request_id="msg_2", timestamp=1, body=b"{}")
    c = signature_headers(secret=secret, request_id="msg_1", timestamp=2, body=b"{}")

    assert len({a["X-Inkbox-Signature"], b["X-Inkbox-Signature"], c["X-Inkbox-Signature"]}) == 3
    assert len({a["webhook-signature"], b["webhook-signature"], c["webhook-signature"]}) == 3
