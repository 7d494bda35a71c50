"""The sender against real sockets on 127.0.0.1: success, no redirects, a hard deadline, nothing sent when refused."""

from __future__ import annotations

import socket
import threading
import time

from bookstore_api.webhooks.addresses import AddressPolicy
from bookstore_api.webhooks.delivery import Sender
from tests.helpers.receiver import Receiver


def test_posts_the_exact_bytes_with_the_headers():
    with Receiver(status=201) as receiver:
        outcome = Sender(AddressPolicy(allow_loopback=True)).post(receiver.url, b'{"x":1}', {"Bookstore-Event": "e"})
    assert outcome.succeeded and outcome.status_code == 201 and outcome.error is None
    (got,) = receiver.received
    assert got.body == b'{"x":1}' and got.headers["Bookstore-Event"] == "e"


def test_loopback_is_refused_unless_allowed_and_nothing_is_sent():
    with Receiver() as receiver:
        outcome = Sender(AddressPolicy()).post(receiver.url, b"{}", {})
    assert outcome.status_code is None and outcome.error.startswith("refused:")
    assert receiver.received == []


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def trickle():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            try:
                while not done.is_set():  # one header byte at a time, never finishing
                    connection.sendall(b"X")
                    time.sleep(0.05)
            except OSError:
                pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        sender = Sender(AddressPolicy(allow_loopback=True), timeout=2, deadline=0.5)
        outcome = sender.post(f"http://127.0.0.1:{port}/", b"{}", {})
    finally:
        done.set()
        thread.join(5)
        listener.close()
    assert outcome.status_code is None and outcome.error == "no answer within 0.5 s"


def test_a_closed_port_is_a_failed_attempt():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    outcome = Sender(AddressPolicy(allow_loopback=True), timeout=2).post(f"http://127.0.0.1:{port}/", b"{}", {})
    assert not outcome.succeeded and "ConnectionRefused" in outcome.error
