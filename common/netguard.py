"""Outgoing HTTP that cannot be aimed at our own network (webhooks, the http.fetch job type).

A URL a user gives us must not reach loopback, private, link-local or cloud-metadata addresses
(SSRF). check_url resolves the host and refuses it unless every address is public. fetch then
connects to the address it checked, never resolving again, so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot move the request, and it checks every
redirect the same way before following it.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError

ALLOWED_SCHEMES = frozenset({"http", "https"})
# Names of cloud metadata services; most resolve to 169.254.169.254, which is refused anyway,
# but inside some networks they resolve to other internal addresses.
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
# Not private in the ipaddress sense, but not reachable from the internet either.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024


class UnsafeURL(ValueError):
    """The URL is not http(s), or its host is (or resolves to) an address we must not contact."""


class ResponseTooLarge(ValueError):
    """The response body is larger than the caller's max_bytes."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`) and what to ask for there."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    netloc: str  # the Host header: host and port as the URL wrote them, without credentials
    path: str  # path and query


@dataclass(frozen=True)
class FetchResult:
    status: int
    headers: urllib3.HTTPHeaderDict  # case-insensitive
    body: bytes
    url: str  # the URL that answered, after redirects


def check_url_without_dns(url: str) -> tuple[str, int]:
    """Refuse what is unsafe on its face: scheme, missing host, metadata names, IP literals.

    Returns the host and port. Cheap enough for params validation; check_url does the rest.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UnsafeURL(f"Only http and https URLs are allowed, not {parts.scheme or 'no scheme'!r}.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("The URL has no host.")
    if host in METADATA_HOSTS:
        raise UnsafeURL(f"{host!r} is a cloud metadata service.")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise UnsafeURL(f"The URL's port is invalid: {exc}.") from None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return host, port
    _check_address(literal, host=host)
    return host, port


def check_url(url: str) -> Target:
    """Resolve the URL's host and return where to connect; raise UnsafeURL unless every address is public.

    Every address must pass, not just the first: the connection must not depend on which
    answer a resolver happens to put first. An unresolvable host raises ConnectionError.
    """
    host, port = check_url_without_dns(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"Cannot resolve {host!r}: {exc}.") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        _check_address(address, host=host)
    parts = urlsplit(url)
    path = parts.path or "/"
    return Target(
        url=url,
        scheme=parts.scheme.lower(),
        host=host,
        port=port,
        address=str(addresses[0]),
        netloc=parts.netloc.rpartition("@")[2],
        path=f"{path}?{parts.query}" if parts.query else path,
    )


def validate_outbound_url(value: str) -> None:
    """A Django/DRF field validator: check_url_without_dns as a ValidationError (a 400 at submit)."""
    try:
        check_url_without_dns(value)
    except UnsafeURL as exc:
        raise ValidationError(str(exc), code="unsafe_url") from None


def _check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, host: str) -> None:
    reason = _refusal(address)
    if reason is not None:
        shown = host if host == str(address) else f"{host} ({address})"
        raise UnsafeURL(f"{shown} is {reason}; only public addresses are allowed.")


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address must not be contacted, or None if it may be."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address can carry an IPv4 one that the network delivers to (::ffff:10.0.0.1,
        # 2002:a00:1::, 64:ff9b::a00:1); ipaddress calls some of those global.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _refusal(embedded)
    if address.is_loopback:
        return None if settings.OUTBOUND_ALLOW_LOOPBACK else "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address (this includes cloud metadata services)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if address in _SHARED_ADDRESS_SPACE:
        return "a carrier-grade NAT address"
    if not address.is_global:
        return "not a public address"
    return None


def fetch(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    max_bytes: int = 10 * 1024 * 1024,
    max_redirects: int = 3,
) -> FetchResult:
    """Send one request to a checked URL and read the response, following redirects by hand.

    `timeout` bounds the whole exchange, redirects and body included, so a server sending
    one byte at a time cannot hold a worker. Raises UnsafeURL before any connection to a
    refused address, ResponseTooLarge past `max_bytes`, TimeoutError and ConnectionError
    for network failures. A redirect beyond `max_redirects` is returned as the response.
    """
    deadline = time.monotonic() + timeout
    redirects = 0
    while True:
        result = _request(
            check_url(url),
            method=method,
            body=body,
            headers=headers or {},
            deadline=deadline,
            max_bytes=max_bytes,
        )
        location = result.headers.get("Location")
        if result.status not in _REDIRECT_STATUSES or not location or redirects == max_redirects:
            return result
        redirects += 1
        url = urljoin(url, location)
        if result.status == 303 or (result.status in {301, 302} and method == "POST"):
            # What browsers do, and RFC 9110 allows: the next request is a GET without a body.
            method, body = "GET", None


def _request(
    target: Target, *, method: str, body: bytes | None, headers: dict, deadline: float, max_bytes: int
) -> FetchResult:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"{target.url} did not answer in time.")
    options = {"timeout": urllib3.Timeout(connect=remaining, read=remaining), "retries": False, "maxsize": 1}
    # The first address is used; check_url has checked them all.
    if target.scheme == "https":
        # Connect to the checked address, but present and verify the URL's host name (SNI, certificate).
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
    with pool:
        try:
            response = pool.urlopen(
                method,
                target.path,
                body=body,
                headers={**headers, "Host": target.netloc},
                redirect=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                content = _read_capped(response, url=target.url, deadline=deadline, max_bytes=max_bytes)
            finally:
                response.close()  # the pool is thrown away; an unread body must not be drained
        except (
            urllib3.exceptions.NewConnectionError
        ) as exc:  # a TimeoutError subclass in urllib3, but not one
            raise ConnectionError(f"Cannot connect to {target.url}: {exc}") from None
        except urllib3.exceptions.TimeoutError as exc:
            raise TimeoutError(f"{target.url} did not answer in time: {exc}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectionError(f"Request to {target.url} failed: {exc}") from None
    return FetchResult(status=response.status, headers=response.headers, body=content, url=target.url)


def _read_capped(response: urllib3.BaseHTTPResponse, *, url: str, deadline: float, max_bytes: int) -> bytes:
    """Read the body in chunks and stop as soon as it passes max_bytes or the deadline."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"{url} answered with {declared} bytes; the limit is {max_bytes}.")
    chunks, size = [], 0
    for chunk in response.stream(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(f"{url} answered with more than {max_bytes} bytes.")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not finish its response in time.")
        chunks.append(chunk)
    return b"".join(chunks)
