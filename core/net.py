"""The one door for HTTP: every request Quant Doctor makes to a server goes through here.

A server's answer is outside input, whoever runs the server (the Hub or a mirror behind HF_ENDPOINT, an
engine on this machine, an OpenAI-compatible server given as a comparison reference). So the rules
live in one place and no caller can forget one:

- **Addresses.** Only http:// and https:// URLs, without user:password in them. `loopback_only`
  requests go to 127.0.0.1 or ::1 only (`localhost` is 127.0.0.1; no name is resolved), and never
  through a proxy; anything else is refused before a socket is opened.
- **Redirects.** Followed only within the same origin (scheme, host and port), at most
  `max_redirects` times; a redirect to another origin is a `NetRedirectError`, so a header that
  carries a token never leaves the server it was meant for. A caller that must see a redirect's own
  answer (the Hub's "this file lives on the CDN" reply) asks with `follow_redirects=False` and makes
  its next request itself, under the same rules.
- **Sizes.** Every answer has a cap (`max_bytes`): a declared Content-Length over it is refused
  before a byte of the body is read, and the bytes on the wire and the decoded bytes are both counted
  as they arrive. gzip and deflate are decoded here, incrementally, with zlib's `max_length`, so a
  small compressed answer that decodes to gigabytes stops at the cap, never past it in memory; an
  encoding that was not asked for (br, zstd, ...) is refused.
- **Time.** `timeout` bounds connecting and each read, and the whole exchange up to the last header
  (a server that trickles its headers a byte at a time cannot hold a request longer); `deadline`, when
  given, bounds the whole exchange, body included. Both are enforced by shutting the socket down from a
  timer: the socket is taken from httpcore's connection trace, the `trace` request extension that
  httpx documents ("Request Extensions").
- **Errors.** Every failure is a typed `core.errors.NetError` with a plain message that names the
  server (scheme, host and port), never a header, a query or a token.

The HTTP itself is `httpx2` (the client `huggingface_hub` ships with): proxies and the system's
certificate store for servers off this machine, and HTTP/1.1 framing. Connections are not kept alive
between requests, so each request owns its socket and the timer cuts only that one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, urljoin, urlsplit

import httpx2

from core.errors import (
    NetAddressError,
    NetAnswerError,
    NetError,
    NetRedirectError,
    NetRefusedError,
    NetTimeoutError,
    NetTooLargeError,
    NetUnreachableError,
)
from core.textnum import Quantity, whole_or_none

__all__ = [
    "MAX_REDIRECTS",
    "Reply",
    "Stream",
    "handed_over",
    "header_int",
    "is_local_host",
    "is_loopback_url",
    "join",
    "located",
    "loopback_host",
    "origin",
    "origin_text",
    "quote_segment",
    "request",
    "same_origin",
    "split_url",
    "stream",
]

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_USERINFO = re.compile(r"//[^/?#]*@")
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only (str.isdigit() accepts '²' and '٣')

Origin = tuple[str, str, int]


# --- addresses ------------------------------------------------------------------------------------------


def split_url(url: str) -> SplitResult:
    """The parts of a URL (the standard library's `urlsplit`): the one URL parser, for callers that read a
    path out of an address the person gave (a model page, an engine's address) without asking it."""
    return urlsplit(url.strip())


def origin(url: str) -> Origin:
    """(scheme, host, port) of an http(s) URL, with the scheme's default port; NetAddressError otherwise."""
    shown = _USERINFO.sub("//…@", url.strip())[:200]  # a message never repeats a password
    try:
        parts = urlsplit(url.strip())
        has_userinfo = parts.username is not None or parts.password is not None
        port = parts.port
    except ValueError as exc:
        raise NetAddressError(f"'{shown}' is not a valid address.") from exc
    if has_userinfo:
        raise NetAddressError(
            "An address with a user name or password in it is not used: it would be sent in the clear and shown.",
            "Give the address without the user:password@ part.",
        )
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise NetAddressError(f"'{shown}' is not an http:// or https:// address.")
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def origin_text(url: str) -> str:
    """The origin of `url` as people write it (scheme://host:port): safe in a message, no path or query."""
    try:
        scheme, host, port = origin(url)
    except NetAddressError:
        return "that address"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if port == _DEFAULT_PORTS[scheme] else f":{port}")


def same_origin(a: str, b: str) -> bool:
    try:
        return origin(a) == origin(b)
    except NetAddressError:
        return False


def loopback_host(host: str) -> str:
    """127.0.0.1 or ::1 for a loopback host ('localhost', 127.x.y.z, ::1); NetAddressError for any other."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback:
        raise NetAddressError(
            f"Quant Doctor only connects to this machine here, not to '{host[:100]}'.",
            "Give an address on this machine, e.g. http://127.0.0.1:8080.",
        )
    return "::1" if ip.version == 6 else "127.0.0.1"


def is_loopback_url(url: str) -> bool:
    try:
        loopback_host(origin(url)[1])
    except NetAddressError:
        return False
    return True


_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")


def _ip_of(h: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host written as one stands for, in every spelling the system's resolver takes as one:
    the dotted quad and IPv6, and the old inet_aton forms that getaddrinfo also connects to (`127.1`,
    `2130706433`, `0x7f000001`, `0177.0.0.1`, `0` for 0.0.0.0)."""
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])
    except ValueError:
        pass
    if not _LEGACY_IPV4.fullmatch(h):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(h))
    except OSError:
        return None


def is_local_host(host: str) -> bool:
    """Whether `host` names this machine or its own network (loopback, private, link-local, shared or
    reserved ranges, 'localhost'): an address a server elsewhere has no business sending us to. Names are not
    looked up; a name's trailing dot (`localhost.`) and the old ways of writing an IPv4 address (`127.1`,
    `2130706433`) are read as the resolver reads them."""
    h = host.strip().strip("[]").lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return True
    ip = _ip_of(h)
    if ip is None:
        return False
    return not ip.is_global or ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast


def quote_segment(text: str, safe: str = "") -> str:
    """`text` percent-quoted for a URL path (`safe="/"` keeps a file's folders)."""
    return quote(text, safe=safe)


def join(base: str, location: str) -> str:
    """A Location header resolved against the address that sent it."""
    return urljoin(base, location.strip())


def header_int(value: str | None, limit: int = 1 << 62) -> int | None:
    """A size or count from a header: ASCII digits only, at most `limit`; None for anything else."""
    if value is None or not _DIGITS.fullmatch(value.strip()):  # no sign, no spaces inside: a header's own shape
        return None
    return whole_or_none(value, Quantity("a header's number", "", 0, limit))


# --- the clients ----------------------------------------------------------------------------------------

_clients: dict[bool, httpx2.Client] = {}
_clients_lock = threading.Lock()


def _client(loopback: bool) -> httpx2.Client:
    """One client for this machine (no proxy, ever) and one for the rest (proxies and certificates from
    the environment, as any program there expects). Redirects are ours to follow; no keep-alive."""
    with _clients_lock:
        client = _clients.get(loopback)
        if client is None:
            client = httpx2.Client(
                follow_redirects=False,
                trust_env=not loopback,
                limits=httpx2.Limits(max_connections=None, max_keepalive_connections=0),
            )
            _clients[loopback] = client
        return client


class _Watch:
    """Shuts the request's socket down when its time is up: a blocked read returns at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream: Any = None
        self._timer: threading.Timer | None = None
        self.fired = False

    def trace(self, event: str, info: dict[str, Any]) -> None:
        found = info.get("return_value") if event.endswith(".complete") else None
        if found is None or not hasattr(found, "get_extra_info"):
            return  # not a network stream (connect_tcp / start_tls return one)
        with self._lock:
            self._stream = found
            fired = self.fired
        if fired:
            self._cut()

    def arm(self, seconds: float | None) -> None:
        self.cancel()
        if seconds is None:
            return
        if seconds <= 0:
            self._fire()
            return
        timer = threading.Timer(seconds, self._fire)
        timer.daemon = True
        with self._lock:
            self._timer = timer
        timer.start()

    def cancel(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
        self._cut()

    def _cut(self) -> None:
        with self._lock:
            stream = self._stream
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# --- decoding with a cap --------------------------------------------------------------------------------


class _Decoder:
    """Content-Encoding undone chunk by chunk, never more than `room + 1` bytes out of one step."""

    def __init__(self, encoding: str, where: str, decode: bool = True) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if codings and not decode:  # identity was asked for (a Range, a file whose bytes are checked)
            codings = [f"{c}, where identity was asked for" for c in codings]
        self.raw_deflate_tried = False
        self.deflate = codings == ["deflate"]
        if not codings:
            self.z: Any = None
        elif codings == ["gzip"] or codings == ["x-gzip"]:
            self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif codings == ["deflate"]:
            self.z = zlib.decompressobj()
        else:
            raise NetAnswerError(
                f"The server at {where} answered in an encoding Quant Doctor did not ask for "
                f"({', '.join(codings)[:60]})."
            )
        self.started = False

    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        if self.z is None:
            yield data
            return
        while data:
            try:
                out = self.z.decompress(data, max(1, room + 1))
            except zlib.error:
                if not self.deflate or self.started or self.raw_deflate_tried:
                    raise
                # "deflate" is meant to be zlib-wrapped, but some servers send a raw stream (httpx does the same)
                self.raw_deflate_tried = True
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self.started = True
            if out:
                room -= len(out)
                yield out
            data = self.z.unconsumed_tail
            if room < 0:
                return

    def flush(self) -> bytes:
        return b"" if self.z is None else bytes(self.z.flush())


# --- requests -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A whole answer: the last URL asked (after same-origin redirects), status, headers and body."""

    url: str
    status: int
    headers: Mapping[str, str]  # case-insensitive (httpx's Headers)
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Stream:
    """An answer whose body is read as it arrives: `chunks()` (decoded, capped) or `lines()`."""

    def __init__(self, response: httpx2.Response, url: str, where: str, max_bytes: int, decode: bool,
                 watch: _Watch, deadline: float | None) -> None:  # fmt: skip
        self._response = response
        self.url = url
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self._where = where
        self._max = max_bytes
        self._watch = watch
        self._deadline = deadline
        self._encoding = response.headers.get("Content-Encoding", "")
        self._decode = decode
        self.raw_bytes = 0
        self.bytes = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def _too_large(self) -> NetTooLargeError:
        return NetTooLargeError(
            f"The answer of {self._where} is larger than {_size_words(self._max)}; it was not read further."
        )

    def chunks(self) -> Iterator[bytes]:
        """The body, decoded, as it arrives; NetAnswerError past `max_bytes` (on the wire or decoded)."""
        declared = header_int(self.headers.get("Content-Length"))
        if declared is not None and declared > self._max:
            raise NetTooLargeError(
                f"The answer of {self._where} says it is {declared:,} bytes, more than the {_size_words(self._max)} "
                "allowed; it was not read."
            )
        decoder = _Decoder(self._encoding, self._where, self._decode)
        with _errors(self._where, self._watch):
            for raw in self._response.iter_raw():  # as it arrives: a cut loses nothing received
                self.raw_bytes += len(raw)
                if self.raw_bytes > self._max:
                    raise self._too_large()
                try:
                    for out in decoder.feed(raw, self._max - self.bytes):
                        self.bytes += len(out)
                        if self.bytes > self._max:
                            raise self._too_large()
                        yield out
                except zlib.error as exc:
                    raise NetAnswerError(f"The answer of {self._where} is not the compressed data it says.") from exc
            try:
                tail = decoder.flush()
            except zlib.error as exc:
                raise NetAnswerError(f"The answer of {self._where} is not the compressed data it says.") from exc
            self.bytes += len(tail)
            if self.bytes > self._max:
                raise self._too_large()
            if tail:
                yield tail

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def lines(self, max_line: int = 1 << 20) -> Iterator[bytes]:
        """The body split at b"\\n" (each line without it); a line longer than `max_line` is refused."""
        pending = b""
        for chunk in self.chunks():
            pending += chunk
            *whole, pending = pending.split(b"\n")
            yield from whole
            if len(pending) > max_line:
                raise NetAnswerError(f"The answer of {self._where} has a line longer than {_size_words(max_line)}.")
        if pending:
            yield pending


@contextmanager
def stream(
    method: str,
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    deadline: float | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
    content: bytes | None = None,
    loopback_only: bool = False,
    follow_redirects: bool = True,
    max_redirects: int = MAX_REDIRECTS,
    decode: bool = True,
) -> Iterator[Stream]:
    """Open a request and hand its answer over to be read (see the module docstring for every rule).

    `decode=False` asks for the bytes as they are (Accept-Encoding: identity, a Range request) and refuses
    any encoding. Raises NetAddressError, NetUnreachableError, NetTimeoutError, NetRedirectError or
    NetAnswerError; an HTTP error status is not an error here (the caller reads `status`).
    """
    where = origin_text(url)
    host = origin(url)[1]
    if loopback_only:  # the literal address: 'localhost' is not looked up (a hosts file could send it elsewhere)
        url = str(httpx2.URL(url).copy_with(host=loopback_host(host)))
    sent = {k: v for k, v in (headers or {}).items()}
    if not any(k.lower() == "accept-encoding" for k in sent):
        sent["Accept-Encoding"] = "gzip, deflate" if decode else "identity"
    watch = _Watch()
    client = _client(loopback_only or is_loopback_url(url))  # this machine: never through a proxy
    limits = httpx2.Timeout(timeout)
    current, hops = url, 0
    query: Any = list(params.items()) if isinstance(params, Mapping) else params  # httpx's own QueryParamTypes
    start = time.monotonic()
    watch.arm(min(timeout, deadline) if deadline is not None else timeout)
    try:
        while True:
            with _errors(where, watch):
                req = client.build_request(method, current, headers=sent, params=query, content=content,
                                           timeout=limits, extensions={"trace": watch.trace})  # fmt: skip
                response = client.send(req, stream=True)
            try:
                location = response.headers.get("Location")
                if follow_redirects and response.status_code in _REDIRECTS and location:
                    target = _redirect_target(current, location, where)
                    hops += 1
                    if hops > max_redirects:
                        raise NetRedirectError(f"The server at {where} redirected more than {max_redirects} times.")
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, content = "GET", None
                    current, query = target, None  # the Location holds the whole address, query included
                    continue
                watch.arm(None if deadline is None else deadline - (time.monotonic() - start))
                yield Stream(response, current, where, max_bytes, decode, watch, deadline)
                return
            finally:
                response.close()
    finally:
        watch.cancel()


def handed_over(asked: str, location: str) -> str:
    """The address a server hands a file over to (the Hub's or a release's file host), checked before anyone
    asks it: http(s) without user:password, no step down from https to http, and not this machine or its
    network when the server that handed it over is elsewhere. NetRedirectError (or NetAddressError) if not."""
    target = join(asked, location)
    scheme, host, _ = origin(target)
    asked_scheme, asked_host, _ = origin(asked)
    if asked_scheme == "https" and scheme != "https":
        raise NetRedirectError(
            f"{origin_text(asked)} handed the file over to an unencrypted address ({origin_text(target)})."
        )
    if not is_local_host(asked_host) and is_local_host(host):
        raise NetRedirectError(
            f"{origin_text(asked)} handed the file over to an address on this machine or its network "
            f"({origin_text(target)})."
        )
    return target


def located(url: str, *, timeout: float, headers: Mapping[str, str] | None = None,
            max_redirects: int = MAX_REDIRECTS) -> str:  # fmt: skip
    """Where a download at `url` is really served: HEAD requests, each redirect checked by `handed_over`, to
    the first answer that is not a redirect (a file host that does not answer HEAD ends it too).

    This is not following a redirect with the caller's credentials: `headers` may hold only what any server
    may see (no Authorization, no Cookie), and the download is then a request of its own to that address.
    """
    sent = {k: v for k, v in (headers or {}).items() if k.lower() not in ("authorization", "cookie")}
    current = url
    for _ in range(max_redirects + 1):
        reply = request("HEAD", current, headers=sent, max_bytes=0, timeout=timeout, deadline=2 * timeout,
                        follow_redirects=False, decode=False)  # fmt: skip
        location = reply.headers.get("Location")
        if reply.status not in _REDIRECTS or not location:
            return current
        current = handed_over(current, location)
    raise NetRedirectError(f"{origin_text(url)} redirected more than {max_redirects} times.")


def request(method: str, url: str, **kw: Any) -> Reply:
    """`stream` read whole (within `max_bytes`): the answer as a Reply."""
    with stream(method, url, **kw) as answer:
        body = answer.read() if method != "HEAD" else b""
        return Reply(answer.url, answer.status, answer.headers, body)


def _redirect_target(current: str, location: str, where: str) -> str:
    target = join(current, location)
    try:
        same = origin(target) == origin(current)
    except NetAddressError:
        same = False
    if not same:
        raise NetRedirectError(
            f"The server at {where} redirected to another address ({origin_text(target)}), "
            "which Quant Doctor does not follow."
        )
    return target


def _size_words(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):g} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):g} KiB"
    return f"{n} bytes"


def _in_chain(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` caused `exc` (httpx wraps httpcore's error, which wraps the socket's)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def _errors(where: str, watch: _Watch) -> Iterator[None]:
    """httpx's exceptions as core.errors' network errors (a cut by the timer is a timeout)."""
    try:
        yield
    except NetError:
        raise
    except httpx2.TimeoutException as exc:
        raise NetTimeoutError(f"The server at {where} did not answer in time.") from exc
    except (httpx2.TransportError, OSError) as exc:
        if watch.fired:
            raise NetTimeoutError(f"The server at {where} did not answer in time.") from exc
        if _in_chain(exc, ConnectionRefusedError):
            raise NetRefusedError(f"Nothing is listening at {where}.") from exc
        if _in_chain(exc, ssl.SSLCertVerificationError):
            raise NetUnreachableError(
                f"The certificate of {where} could not be verified, so nothing was sent to it.",
                "If a company proxy inspects your traffic, install its certificate in the system's store.",
            ) from exc
        if isinstance(exc, httpx2.ProtocolError):
            raise NetUnreachableError(
                f"The server at {where} closed the connection or did not answer in HTTP ({type(exc).__name__})."
            ) from exc
        raise NetUnreachableError(f"Could not reach the server at {where} ({type(exc).__name__}).") from exc
    except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
        raise NetAddressError(f"'{where}' is not an address Quant Doctor can ask.") from exc
    except (httpx2.DecodingError, httpx2.StreamError) as exc:
        raise NetAnswerError(f"The answer of {where} could not be read ({type(exc).__name__}).") from exc
