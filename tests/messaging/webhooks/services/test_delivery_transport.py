"""What a webhook POST looks like on the wire, and how broken answers are recorded."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from console.http import USER_AGENT
from console.services import Actor
from messaging.webhooks import safety, transport
from messaging.webhooks.models import DeliveryStatus
from messaging.webhooks.subscriptions import subscription_create
from tests.messaging.webhooks.conftest import Receiver
from tests.messaging.webhooks.services.test_delivery_attempt import emit


def target_of(url: str) -> safety.Target:
    return safety.Target(url=url, request_url=url, host_header=url.split("/")[2], sni_hostname=None)


def subscribe(identity, url: str) -> None:  # type: ignore[no-untyped-def]
    subscription_create(
        identity=identity, url=url, event_types=["imessage.received"], actor=Actor.system()
    )


def test_a_post_names_bluewire_and_refuses_compressed_answers(
    identity, receiver, django_capture_on_commit_callbacks
):
    subscribe(identity, receiver.url)
    emit(identity, django_capture_on_commit_callbacks)

    [request] = receiver.requests
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept-Encoding"] == "identity"
    assert request.headers["Host"] == receiver.url.split("/")[2]


def test_posts_to_one_receiver_share_a_kept_alive_connection(receiver: Receiver) -> None:
    target = target_of(receiver.url)

    for _ in range(3):
        assert transport.http_post(target, b"{}", {}).succeeded

    assert len({r.client_port for r in receiver.requests}) == 1


def test_posts_to_paths_of_one_receiver_share_a_kept_alive_connection(
    receiver: Receiver,
) -> None:
    base = receiver.url.rsplit("/", 1)[0]

    for path in ("/one", "/two", "/one"):
        assert transport.http_post(target_of(base + path), b"{}", {}).succeeded

    assert [r.path for r in receiver.requests] == ["/one", "/two", "/one"]
    assert len({r.client_port for r in receiver.requests}) == 1


def test_a_path_with_non_ascii_characters_and_params_arrives_percent_encoded(
    receiver: Receiver,
) -> None:
    base = receiver.url.rsplit("/", 1)[0]

    result = transport.http_post(target_of(base + "/hooks/é;v=1?x=a b"), b"{}", {})

    assert result.succeeded
    assert receiver.requests[0].path == "/hooks/%C3%A9;v=1?x=a%20b"


def test_a_url_that_cannot_be_parsed_is_a_final_failure() -> None:
    url = "http://127.0.0.1:abc/hook"

    result = transport.http_post(target_of(url), b"{}", {})

    assert result.status_code is None
    assert result.transient is False
    assert result.error == safety.REASON_INVALID


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A server that answers any request with bytes that are not HTTP, then hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"this is not http\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    listener.close()
    transport.pooled_client_close()


def test_an_answer_that_is_not_http_is_a_transient_failure(garbage_server: str) -> None:
    result = transport.http_post(target_of(garbage_server), b"{}", {})

    assert result.status_code is None
    assert result.transient is True
    assert result.error == "RemoteProtocolError"


def test_a_delivery_to_a_receiver_that_is_not_http_waits_for_its_retry(
    identity, garbage_server, django_capture_on_commit_callbacks
):
    subscribe(identity, garbage_server)
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.error_detail == "RemoteProtocolError"
