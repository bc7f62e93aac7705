"""UpstreamClient over TLS against a real nginx (Debian's package): certificate verification,
SNI, keep-alive over TLS, and an SSE file served chunked (sub_filter drops Content-Length) and
gzip-compressed."""

import os
import shutil
import socket
import subprocess
import time

import pytest
import trustme

from aigw.upstream import UpstreamClient, UpstreamConnectError, sse_events

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install -y nginx)")

EVENT_COUNT = 300


def sse_file() -> bytes:
    parts = [b": stream start\r\n\r\n"]
    for i in range(EVENT_COUNT):
        parts.append(b"event: delta\r\nid: %d\r\ndata: {\"i\":%d,\"t\":\"\xe2\x82\xac\xf0\x9f\x98\x80 PLACEHOLDER\"}\r\n\r\n" % (i, i))
    parts.append(b"data: [DONE]\r\n\r\n")
    return b"".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """nginx on a free port with a trustme certificate; yields (base URL, CA file)."""
    tmp = tmp_path_factory.mktemp("nginx")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    (tmp / "www").mkdir()
    (tmp / "www" / "events.txt").write_bytes(sse_file())
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_timeout 30s;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.pem;
        root {tmp}/www;
        location = /events {{
            default_type text/event-stream;
            try_files /events.txt =404;
            sub_filter_types text/event-stream;
            sub_filter PLACEHOLDER ok;
            sub_filter_once off;
            gzip on;
            gzip_types text/event-stream;
            gzip_min_length 0;
        }}
        location = /sni {{
            return 200 "sni=$ssl_server_name";
        }}
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"nginx did not start: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.05)
    try:
        yield f"https://localhost:{port}", str(tmp / "ca.pem")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_tls_with_verification_and_sni(nginx):
    base, ca = nginx
    async with UpstreamClient(ca_file=ca) as client:
        resp = await client.request("GET", base + "/sni")
        assert (resp.status, await resp.read()) == (200, b"sni=localhost")
        resp = await client.request("GET", base + "/sni")
        await resp.read()
        assert [v[0] for v in client.stats().values()] == [1]  # keep-alive over TLS


async def test_untrusted_certificate_is_refused(nginx):
    base, _ = nginx
    async with UpstreamClient() as client:
        with pytest.raises(UpstreamConnectError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await client.request("GET", base + "/sni")


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip"])
async def test_chunked_sse_file_over_tls_decodes_to_every_event(nginx, accept_encoding):
    base, ca = nginx
    async with UpstreamClient(ca_file=ca) as client:
        resp = await client.request("GET", base + "/events", {"Accept-Encoding": accept_encoding})
        assert resp.status == 200
        assert resp.get("transfer-encoding") == b"chunked"
        assert resp.get("content-encoding") == (b"gzip" if accept_encoding == "gzip" else None)
        events = [e async for batch in sse_events(resp) for e in batch]
        assert len(events) == EVENT_COUNT + 1
        assert events[7] == ("delta", '{"i":7,"t":"€😀 ok"}'.encode(), "7")
        assert events[-1] == (None, b"[DONE]", str(EVENT_COUNT - 1))
