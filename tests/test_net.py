"""core.net, the one HTTP door, against a real server on 127.0.0.1 that answers like a hostile one: a gzip
bomb and an endless answer stop at the cap (in bytes and in memory), a redirect to another origin is
refused before it is followed, a server that trickles its headers cannot hold a request past its time,
and every refusal is a typed error with a plain message."""

from __future__ import annotations

import gzip
import socket
import time
import tracemalloc
import zlib

import pytest
from hostile_http import MIB, endless, gzip_bomb, send, serve, trickled_body, trickled_headers

from core import net
from core.errors import (
    NetAddressError,
    NetAnswerError,
    NetRedirectError,
    NetRefusedError,
    NetTimeoutError,
    NetTooLargeError,
)

CAP = 64 * MIB  # the Hub's listing cap (core.hub._client.MAX_ANSWER_BYTES)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = gzip_bomb(2900)
    assert len(data) < 3_100_000  # the bomb: about 3 MB that decodes to 2.9 GB
    return data


def peak_mib(fn) -> tuple[float, object]:
    tracemalloc.start()
    try:
        result = fn()
    except Exception as exc:  # returned for the caller to check
        result = exc
    peak = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    return peak, result


def test_a_gzip_bomb_stops_at_the_cap_in_bytes_and_in_memory(bomb):
    with serve({"/bomb": send(200, bomb, Content_Encoding="gzip")}) as (url, _):
        start = time.monotonic()
        peak, result = peak_mib(lambda: net.request("GET", url + "/bomb", max_bytes=CAP, timeout=10))
        took = time.monotonic() - start
    assert isinstance(result, NetTooLargeError), result
    assert "larger than 64 MiB" in result.message
    assert peak < 2.5 * CAP / MIB, f"{peak:.0f} MiB held for a {CAP // MIB} MiB cap"  # not 2.9 GB
    print(f"gzip bomb (3 MB -> 2.9 GB): refused at the 64 MiB cap in {took:.2f} s, peak {peak:.0f} MiB")


def test_a_deflate_bomb_stops_at_a_small_cap(bomb):
    raw = zlib.compress(bytes(200 * MIB), 9)  # zlib-wrapped deflate, as RFC 9110 means it
    with serve({"/z": send(200, raw, Content_Encoding="deflate")}) as (url, _):
        peak, result = peak_mib(lambda: net.request("GET", url + "/z", max_bytes=MIB, timeout=10))
    assert isinstance(result, NetTooLargeError) and peak < 8, (result, peak)


def test_an_endless_answer_stops_at_the_cap():
    with serve({"/endless": endless}) as (url, _):
        start = time.monotonic()
        peak, result = peak_mib(lambda: net.request("GET", url + "/endless", max_bytes=4 * MIB, timeout=5))
        took = time.monotonic() - start
    assert isinstance(result, NetTooLargeError), result
    assert peak < 16 and took < 5, (peak, took)


def test_a_declared_length_over_the_cap_is_refused_before_reading():
    huge = send(200, b"", Content_Length=str(3 * 1024**3))
    with serve({"/huge": huge}) as (url, _), pytest.raises(NetTooLargeError, match="says it is 3,221,225,472 bytes"):
        net.request("GET", url + "/huge", max_bytes=CAP, timeout=5)


def test_honest_compressed_answers_are_decoded():
    text = b'{"ok": true}' * 1000
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    routes = {
        "/gz": send(200, gzip.compress(text), Content_Encoding="gzip"),
        "/zlib": send(200, zlib.compress(text), Content_Encoding="deflate"),
        "/raw": send(200, raw_deflate.compress(text) + raw_deflate.flush(), Content_Encoding="deflate"),
        "/plain": send(200, text),
    }
    with serve(routes) as (url, _):
        for path in routes:
            reply = net.request("GET", url + path, max_bytes=len(text), timeout=5)
            assert reply.status == 200 and reply.body == text, path
        with pytest.raises(NetTooLargeError):  # the cap is on what it decodes to
            net.request("GET", url + "/gz", max_bytes=len(text) - 1, timeout=5)


def test_an_encoding_not_asked_for_is_refused():
    br = send(200, b"\x0b\x02\x80hello\x03", Content_Encoding="br")
    with serve({"/br": br}) as (url, _), pytest.raises(NetAnswerError, match=r"did not ask for \(br\)"):
        net.request("GET", url + "/br", max_bytes=MIB, timeout=5)
    gz = send(200, gzip.compress(b"x"), Content_Encoding="gzip")
    with serve({"/gz": gz}) as (url, _), pytest.raises(NetAnswerError, match="where identity was asked for"):
        net.request("GET", url + "/gz", max_bytes=MIB, timeout=5, decode=False)  # a Range, a file to checksum


def test_a_redirect_to_another_origin_is_refused_and_not_followed():
    with serve({"/": send(200, b"secret-free")}) as (other, other_seen):
        routes = {
            "/away": send(302, Location=other + "/"),
            "/scheme": send(301, Location=other.replace("http://", "https://") + "/"),
            "/here": send(307, Location="/final?x=1"),
            "/final": send(200, b"landed"),
            "/loop": send(302, Location="/loop"),
        }
        with serve(routes) as (url, seen):
            for path in ("/away", "/scheme"):
                with pytest.raises(NetRedirectError) as err:
                    net.request(
                        "GET", url + path, headers={"Authorization": "Bearer sk-test"}, max_bytes=MIB, timeout=5
                    )
                assert "does not follow" in err.value.message and "sk-test" not in str(err.value.to_dict())
            assert other_seen == []  # the other origin was never asked: the token never went there
            reply = net.request("GET", url + "/here", max_bytes=MIB, timeout=5)
            assert reply.body == b"landed" and reply.url.endswith("/final?x=1")
            with pytest.raises(NetRedirectError, match="more than 5 times"):
                net.request("GET", url + "/loop", max_bytes=MIB, timeout=5)
            assert seen.count("GET /loop") == 6
            hop = net.request("GET", url + "/away", max_bytes=MIB, timeout=5, follow_redirects=False)
            assert hop.status == 302 and hop.headers["Location"] == other + "/"


def test_trickled_headers_cannot_hold_a_request_past_its_time():
    with serve({"/slow": trickled_headers, "/body": trickled_body}) as (url, _):
        start = time.monotonic()
        with pytest.raises(NetTimeoutError, match="did not answer in time"):
            net.request("GET", url + "/slow", max_bytes=MIB, timeout=1.0)
        assert time.monotonic() - start < 1.6
        start = time.monotonic()
        with pytest.raises(NetTimeoutError):  # each read is quick; the deadline bounds the whole answer
            net.request("GET", url + "/body", max_bytes=MIB, timeout=1.0, deadline=1.5)
        assert time.monotonic() - start < 2.1


def test_loopback_only_refuses_every_other_address_before_a_socket(monkeypatch):
    contacted: list[object] = []
    real = socket.socket.connect

    def spy(self, address):
        contacted.append(address[0])
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    for url in ("http://10.0.0.1:80/", "http://example.com/", "http://[2001:db8::1]:8000/", "http://0.0.0.0:1/",
                "http://127.0.0.1.nip.io/"):  # fmt: skip
        with pytest.raises(NetAddressError, match="only connects to this machine"):
            net.request("GET", url, max_bytes=MIB, timeout=1, loopback_only=True)
    assert contacted == []
    with serve({"/": send(200, b"ok")}) as (url, _):
        port = url.rsplit(":", 1)[1]
        assert (
            net.request("GET", f"http://localhost:{port}/", max_bytes=10, timeout=2, loopback_only=True).body == b"ok"
        )
    assert set(contacted) == {"127.0.0.1"}  # 'localhost' is the literal address, never looked up


HOSTILE_ADDRESSES = ["ftp://example.com/", "ftp://me:pw@example.com/", "http://me:pw@[::1:1/", "file:///etc/passwd",
                     "http://user:pw@127.0.0.1:1/", "http://", "http://127.0.0.1:99999/", "javascript:alert(1)"]  # fmt: skip


@pytest.mark.parametrize("url", HOSTILE_ADDRESSES)
def test_addresses_that_are_not_http_are_refused(url):
    with pytest.raises(NetAddressError) as err:
        net.request("GET", url, max_bytes=MIB, timeout=1)
    assert "pw" not in err.value.message


def test_nothing_listening_is_its_own_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NetRefusedError, match=r"Nothing is listening at http://127\.0\.0\.1:"):
        net.request("GET", f"http://127.0.0.1:{port}/", max_bytes=MIB, timeout=2)


def test_numbers_in_headers_are_ascii_digits_within_bounds():
    assert net.header_int("1234") == 1234 and net.header_int(" 7 ") == 7
    for bad in ("1.2.3", "٣", "²", "-5", "1e9", "9" * 400, "", None, "12 34"):
        assert net.header_int(bad) is None, bad
    assert net.header_int("86401", 86_400) is None


# --- the door's users ----------------------------------------------------------------------------------------


def test_a_remote_reference_is_not_followed_to_another_origin_and_keeps_its_key():
    from core.errors import RemoteEngineError
    from core.evaluation.remote import RemoteEngine
    from core.progress import run_job

    with serve({"/v1/models": send(200, b'{"data": [{"id": "stolen"}]}')}) as (other, other_seen):
        routes = {"/v1/models": send(302, Location=other + "/v1/models"),
                  "/v1/completions": send(307, Location=other + "/v1/completions")}  # fmt: skip
        with serve(routes) as (url, seen):
            engine = RemoteEngine(url, model="m", api_key="sk-remote-test", timeout=5)
            with pytest.raises(RemoteEngineError, match="redirected to another address") as err:
                run_job(engine.connect())
            assert "sk-remote-test" not in str(err.value.to_dict())
            with pytest.raises(RemoteEngineError, match="redirected to another address"):
                run_job(engine.count_tokens("hello"))
            assert seen and other_seen == []  # the key went to the server it was given for, and nowhere else
    with pytest.raises(RemoteEngineError, match="user name or password") as err:
        RemoteEngine("http://me:hunter2@127.0.0.1:8080")
    assert "hunter2" not in err.value.message


def test_an_engine_that_redirects_elsewhere_is_an_answer_with_a_plain_error():
    from core.engines.loopback import Loopback

    with serve({"/v1/models": send(302, Location="http://192.168.1.10:8080/v1/models")}) as (url, _):
        answer = Loopback("127.0.0.1", int(url.rsplit(":", 1)[1])).get("/v1/models")
    assert answer.error == "it redirected to another address" and answer.json() is None


def test_a_download_handed_to_another_host_is_checked_and_gets_no_credentials():
    heard: list[str | None] = []

    def blob(h):
        heard.append(h.headers.get("Authorization"))
        send(200, b"bytes")(h)

    with serve({"/blob": blob}) as (cdn, cdn_seen), serve({"/file": send(302, Location=cdn + "/blob")}) as (url, _):
        where = net.located(url + "/file", timeout=5, headers={"Authorization": "Bearer t", "User-Agent": "qd"})
        assert where == cdn + "/blob" and cdn_seen == ["HEAD /blob"] and heard == [None]
        with pytest.raises(NetRedirectError):  # the plain request still does not follow it
            net.request("GET", url + "/file", max_bytes=MIB, timeout=5)
    for asked, target, said in [
        ("https://hub.example/f", "http://cdn.example/b", "unencrypted"),
        ("https://hub.example/f", "https://169.254.169.254/latest", "this machine or its network"),
        ("https://hub.example/f", "https://[::1]:8080/x", "this machine or its network"),
        ("https://hub.example/f", "https://10.1.2.3/x", "this machine or its network"),
    ]:
        with pytest.raises(NetRedirectError, match=said):
            net.handed_over(asked, target)
    with pytest.raises(NetAddressError):
        net.handed_over("https://hub.example/f", "https://u:p@cdn.example/b")
    assert net.handed_over("https://hub.example/f", "/same/host") == "https://hub.example/same/host"


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0", "localhost.", "0.0.0.0.",
                                  "100.64.0.1", "[::ffff:127.0.0.1]"])  # fmt: skip
def test_this_machine_in_its_other_spellings_is_not_a_file_host(host):
    """The resolver connects `127.1`, `2130706433` or `0x7f000001` to 127.0.0.1 and `0` to 0.0.0.0 (inet_aton's
    old forms): a server elsewhere handing a download to any of them hands it to this machine."""
    import socket

    if host[0].isdigit() and not host.endswith("."):  # what the system itself makes of it
        assert socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)[0][4][0] in ("127.0.0.1", "0.0.0.0", "100.64.0.1")
    with pytest.raises(NetRedirectError, match="this machine or its network"):
        net.handed_over("https://hub.example/f", f"https://{host}/x")
    assert net.handed_over("https://hub.example/f", "https://cdn-lfs.example/b") == "https://cdn-lfs.example/b"
