"""The server's side of the API: its sockets answer without Nagle's delay."""

from __future__ import annotations

import socket

from components.api_server import answer_without_delay


def test_connections_accepted_after_the_server_starts_answer_without_delay() -> None:
    with socket.socket() as listening:  # as Streamlit binds it: protocol 0, so asyncio leaves Nagle on
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        assert answer_without_delay() >= 1
        with socket.create_connection(listening.getsockname()):
            accepted, _ = listening.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
