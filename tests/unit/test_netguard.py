import select
import socket
import ssl
import subprocess
from unittest import mock

import pytest

from common import netguard
from tests.local_server import LocalServer

REAL_GETADDRINFO = socket.getaddrinfo

UNSAFE_URLS = [
    "http://10.0.0.1/",
    "http://10.255.255.255:8080/x",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://127.0.0.1/",
    "http://127.1.2.3:6379/",
    "http://localhost/",
    "http://[::1]/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:a9fe:a9fe::]/",  # 6to4 carrying 169.254.169.254
    "http://[64:ff9b::a00:1]/",  # NAT64 carrying 10.0.0.1
    "http://0.0.0.0/",
    "http://[::]/",
    "http://0/",  # 0.0.0.0, as getaddrinfo reads it
    "http://2130706433/",  # 127.0.0.1 as a number
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "ftp://example.com/",
    "example.com/no-scheme",
    "http:///no-host",
    "http://example.com:99999/",
]


@pytest.fixture
def no_loopback(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = False


@pytest.fixture
def loopback(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = True


def resolving(names: dict[str, list[str]]):
    """Patch getaddrinfo so each name resolves to its addresses; other hosts resolve as usual."""
    calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        calls.append(host)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in names[host]
        ]

    getaddrinfo.calls = calls
    return mock.patch("socket.getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_it_refuses_urls_that_are_not_public_http(no_loopback, url):
    with pytest.raises(netguard.UnsafeURL):
        netguard.check_url(url)


def test_it_explains_the_refusal():
    with pytest.raises(netguard.UnsafeURL, match=r"169\.254\.169\.254 is a link-local address"):
        netguard.check_url("http://169.254.169.254/latest/meta-data/")


def test_it_refuses_a_name_if_any_of_its_addresses_is_private(no_loopback):
    with resolving({"mixed.test": ["93.184.216.34", "10.1.2.3"]}), pytest.raises(netguard.UnsafeURL):
        netguard.check_url("https://mixed.test/")


def test_it_refuses_a_name_that_resolves_to_an_ipv4_mapped_private_address(no_loopback):
    with resolving({"sneaky.test": ["::ffff:192.168.0.10"]}), pytest.raises(netguard.UnsafeURL):
        netguard.check_url("https://sneaky.test/")


def test_it_accepts_a_public_name_and_keeps_the_address_it_checked(no_loopback):
    with resolving({"public.test": ["93.184.216.34"]}):
        target = netguard.check_url("https://user:pw@public.test:8443/a/b?c=d")
    assert (target.address, target.port, target.netloc, target.path) == (
        "93.184.216.34",
        8443,
        "public.test:8443",
        "/a/b?c=d",
    )


def test_loopback_is_allowed_only_with_the_setting(settings):
    settings.OUTBOUND_ALLOW_LOOPBACK = True
    assert netguard.check_url("http://127.0.0.1:8000/").address == "127.0.0.1"
    with pytest.raises(netguard.UnsafeURL):
        netguard.check_url("http://10.0.0.1/")


def test_it_lets_params_validation_refuse_without_dns():
    with mock.patch("socket.getaddrinfo") as getaddrinfo:
        netguard.check_url_without_dns("https://example.com/")
        with pytest.raises(netguard.UnsafeURL):
            netguard.check_url_without_dns("http://192.168.0.1/")
    getaddrinfo.assert_not_called()


def test_a_refused_local_listener_sees_no_connection(no_loopback):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        for url in [
            f"http://127.0.0.1:{port}/",
            f"http://localhost:{port}/",
            f"http://[::ffff:127.0.0.1]:{port}/",
        ]:
            with pytest.raises(netguard.UnsafeURL):
                netguard.fetch(url, method="POST", body=b"secret")
        readable, _, _ = select.select([listener], [], [], 0.3)
        assert readable == []


def test_it_connects_to_the_checked_address_without_resolving_again(loopback):
    with (
        LocalServer((200, {"Content-Type": "text/plain"}, b"hello")) as server,
        resolving({"rebind.test": ["127.0.0.1"]}) as getaddrinfo,
    ):
        result = netguard.fetch(server.url("/page", host="rebind.test"))
    assert (result.status, result.body, result.headers["content-type"]) == (200, b"hello", "text/plain")
    assert getaddrinfo.calls == ["rebind.test"]
    assert server.received[0].headers["Host"] == f"rebind.test:{server.port}"


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.1/admin",
        "http://[fd00::1]/",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_an_unsafe_address_is_refused_at_the_hop(loopback, location):
    with LocalServer((302, {"Location": location}, b"")) as server, pytest.raises(netguard.UnsafeURL):
        netguard.fetch(server.url("/start"))
    assert len(server.received) == 1


def test_it_follows_safe_redirects_and_turns_a_post_into_a_get_on_303(loopback):
    target = LocalServer((200, {}, b"landed"))
    start = LocalServer((303, {"Location": target.url("/done")}, b""))
    with target, start:
        result = netguard.fetch(start.url("/submit"), method="POST", body=b"payload")
    assert (result.status, result.body, result.url) == (200, b"landed", target.url("/done"))
    assert (start.received[0].method, start.received[0].body) == ("POST", b"payload")
    assert (target.received[0].method, target.received[0].body) == ("GET", b"")


def test_it_returns_the_redirect_once_max_redirects_is_reached(loopback):
    with LocalServer((302, {"Location": "/again"}, b"")) as server:
        result = netguard.fetch(server.url("/"), max_redirects=2)
    assert result.status == 302
    assert len(server.received) == 3


@pytest.mark.parametrize("length", ["declared", "undeclared"])
def test_it_stops_reading_past_max_bytes(loopback, length):
    headers = {} if length == "declared" else {"Content-Length": None}
    with LocalServer((200, headers, b"x" * 200_000)) as server:
        with pytest.raises(netguard.ResponseTooLarge):
            netguard.fetch(server.url(), max_bytes=100_000)
        assert netguard.fetch(server.url(), max_bytes=200_000).body == b"x" * 200_000


def test_a_silent_server_is_a_timeout(loopback):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(TimeoutError):
            netguard.fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=0.3)


def test_a_closed_port_is_a_connection_error(loopback):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError):
        netguard.fetch(f"http://127.0.0.1:{port}/")


def test_https_verifies_the_url_host_name_while_connecting_to_the_checked_address(loopback, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=secure.test", "-addext", "subjectAltName=DNS:secure.test"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with (
        LocalServer((200, {}, b"secure"), tls=tls) as server,
        resolving({"secure.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}),
        mock.patch("certifi.where", return_value=str(cert)),
    ):
        assert netguard.fetch(server.url(host="secure.test")).body == b"secure"
        with pytest.raises(ConnectionError, match=r"doesn't match 'secure\.test'"):
            netguard.fetch(server.url(host="other.test"))
