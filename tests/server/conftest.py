"""Server tests run over real loopback sockets, each on stock asyncio and on uvloop."""

import asyncio
import ssl

import pytest
import trustme
import uvloop


def pytest_asyncio_loop_factories(config, item):
    """Every async test in tests/server runs once per event loop."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def tls_contexts():
    """(server context, client context) from a throwaway trustme CA for 127.0.0.1."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client
