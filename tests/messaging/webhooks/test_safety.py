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


@pytest.mark.parametrize(
    "url",
    [
        "https://[2002:5db8:d822::1]/x",  # 6to4, even of a public IPv4 address
        "https://[2002:7f00:1::]/x",  # 6to4 of 127.0.0.1
        "https://[2002:a00:1::]/x",  # 6to4 of 10.0.0.1
        "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x",  # Teredo
        "https://[64:ff9b::a9fe:a9fe]/x",  # NAT64 of 169.254.169.254
        "https://[64:ff9b::5db8:d822]/x",  # NAT64 of a public address
        "https://[64:ff9b:1::a00:1]/x",  # local-use NAT64
    ],
)
def test_ipv6_transition_addresses_are_refused(url):
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_loopback=True)


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"],
)
@pytest.mark.parametrize("form", ["::ffff:{}", "::{}"], ids=["mapped", "compatible"])
def test_ipv4_mapped_and_compatible_forms_of_a_refused_address_are_refused(form, address):
    with pytest.raises(UnsafeUrl):
        check_url(f"https://[{form.format(address)}]/x", allow_loopback=False)


@pytest.mark.parametrize("form", ["::ffff:{}", "::{}"], ids=["mapped", "compatible"])
def test_ipv4_mapped_and_compatible_loopback_counts_as_loopback(form):
    with pytest.raises(UnsafeUrl):
        check_url(f"https://[{form.format('127.0.0.1')}]/x", allow_loopback=False)

    target = check_url(f"http://[{form.format('127.0.0.1')}]:8123/x", allow_loopback=True)

    assert target.request_url == "http://127.0.0.1:8123/x"


@pytest.mark.parametrize("form", ["::ffff:{}", "::{}"], ids=["mapped", "compatible"])
def test_ipv4_mapped_and_compatible_forms_of_a_public_address_connect_over_ipv4(form):
    target = check_url(f"https://[{form.format('93.184.216.34')}]/x", allow_loopback=False)

    assert target.request_url == "https://93.184.216.34/x"


def test_a_name_resolving_to_a_transition_address_is_refused(fake_dns):
    fake_dns["nat64.example.com"] = ["64:ff9b::a00:1"]

    with pytest.raises(UnsafeUrl):
        check_url("https://nat64.example.com/x", allow_loopback=False)
