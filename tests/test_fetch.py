"""Links are requests made on the user's behalf: internal addresses are refused in every spelling,
after every redirect, before any connection; the timeout is one deadline for the whole fetch;
credentials in a link are never kept; a feed says what it left out; identity is never taken from
what an upload claims. Real HTTP servers on 127.0.0.1 and 127.0.0.2; no other address is contacted."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import qa
from qa.addresses import REFUSED, AddressPolicy, is_public
from qa.collection import MAX_FEED_ARTICLES, MAX_FEED_LINKS, content_key
from qa.convert import from_html
from qa.fetch import fetch, public_url
from tests.test_collection import EN_PAGE, FR_PAGE, send_page

ARTICLE = "<p>" + "Le groupe Hinode Motors investira 3 milliards de yens dans une usine de batteries à Nagoya. " * 4 + "</p>"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Pages, a redirect to wherever the test says, a JSON 'credentials' page and feeds; every
    request is recorded, so a test can tell that a refused address was never contacted."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Authorization", "")))  # type: ignore[attr-defined]
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/go?"):
            self.send_response(302)
            self.send_header("Location", self.path.split("?", 1)[1])
            self.end_headers()
            return
        pages = {
            "/fr.html": ("text/html; charset=utf-8", FR_PAGE),
            "/en.html": ("text/html; charset=utf-8", EN_PAGE),
            "/creds": ("application/json", '{"AccessKeyId": "AKIA", "SecretAccessKey": "s3cr3t"}'),
            "/inline.rss": ("application/rss+xml", rss(f"<item><title>Entry {{n}}</title><link>{base}/e{{n}}</link><description><![CDATA[{ARTICLE}<p>Article n°{{n}}.</p>]]></description></item>", 300)),
            "/links.rss": ("application/rss+xml", rss(f"<item><title>Page {{n}}</title><link>{base}/p{{n}}.html</link></item>", 60)),
        }
        if self.path.startswith("/p") and self.path.endswith(".html"):
            pages[self.path] = ("text/html", f"<html><body><article><h1>Page {self.path}</h1>{ARTICLE}<p>{self.path}</p></article></body></html>")
        if self.path not in pages:
            self.send_error(404)
            return
        send_page(self, *pages[self.path])


def rss(item: str, n: int) -> str:
    items = "".join(item.replace("{n}", str(i)) for i in range(n))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Le Fil</title>{items}</channel></rss>'


def serve(address: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer((address, 0), Recorder)
    server.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{address}:{server.server_address[1]}"


@pytest.fixture(scope="module")
def site() -> Iterator[http.server.ThreadingHTTPServer]:
    server, _ = serve("127.0.0.1")
    yield server
    server.shutdown()


def settings_for(tmp_path: Path, allow: str = "") -> qa.Settings:
    (tmp_path / "seeds").mkdir(parents=True, exist_ok=True)
    return qa.Settings.from_env(env={}, seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", fetch_timeout_s=5.0, allow_private_urls=allow)


def stored_files(settings: qa.Settings) -> list[Path]:
    return [p for p in Path(settings.seeds_dir).rglob("*") if p.is_file()]


# --- internal addresses


LOOPBACK_SPELLINGS = ["127.0.0.1", "localhost", "0.0.0.0", "127.1", "2130706433", "0x7f000001", "user:pw@127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_in_every_spelling_is_refused_with_one_message_and_never_contacted(site, tmp_path: Path, host: str) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path)
    before = len(site.requests)
    url = f"http://{host}:{site.server_address[1]}/fr.html#.txt"
    with pytest.raises(qa.SourceError) as refused:
        qa.add([url], settings)
    assert str(refused.value) == f"nothing was added: {public_url(url)}: {REFUSED}"
    assert "pw" not in str(refused.value)
    assert len(site.requests) == before and stored_files(settings) == []


@pytest.mark.parametrize(
    "host",
    ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "224.0.0.1", "240.0.0.1", "[fe80::1]", "[fc00::1]", "[::]", "[64:ff9b::a9fe:a9fe]"],
)
def test_private_link_local_and_reserved_addresses_are_refused_before_any_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    def no_connection(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a connection was attempted to {args}")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    monkeypatch.setattr(socket.socket, "connect", no_connection)
    settings = settings_for(tmp_path)
    with pytest.raises(qa.SourceError, match="refused: the link leads to a loopback, private or other internal address"):
        qa.add([f"http://{host}/latest/meta-data/"], settings)
    assert stored_files(settings) == []


def test_the_switch_allows_internal_addresses_and_a_list_allows_only_its_networks(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = site.server_address[1]
    assert qa.add([f"http://localhost:{port}/fr.html"], settings_for(tmp_path / "all", "1"))[0].id
    assert qa.add([f"http://127.0.0.1:{port}/en.html"], settings_for(tmp_path / "net", "127.0.0.0/8"))[0].id
    with pytest.raises(qa.SourceError, match="refused"):
        qa.add([f"http://127.0.0.1:{port}/en.html"], settings_for(tmp_path / "other", "10.0.0.0/8"))
    with pytest.raises(qa.SourceError, match="neither 1 nor an address"):
        AddressPolicy.parse("intranet")


def test_a_redirect_from_an_allowed_address_to_a_refused_one_is_refused(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    other, other_url = serve("127.0.0.2")  # loopback too, but not in the allowed list
    try:
        settings = settings_for(tmp_path, "127.0.0.1")
        start = f"http://127.0.0.1:{site.server_address[1]}/go?{other_url}/fr.html"
        with pytest.raises(qa.SourceError, match="refused: the link leads"):
            qa.add([start], settings)
        assert other.requests == [] and stored_files(settings) == []
        # The same redirect is followed once the target is allowed too.
        assert qa.add([start], settings_for(tmp_path / "both", "127.0.0.1,127.0.0.2"))[0].id
    finally:
        other.shutdown()


def test_the_command_refuses_an_internal_link_unless_switched_on(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_collection import _qa

    (tmp_path / "seeds").mkdir()
    url = f"http://127.0.0.1:{site.server_address[1]}/fr.html"
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    refused = subprocess.run([sys.executable, "-m", "qa.cli", "add", url, "--no-index"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and refused.stderr.strip().endswith("to allow such links)") and refused.stderr.count("\n") == 1
    allowed = subprocess.run(
        [sys.executable, "-m", "qa.cli", "add", url, "--no-index", "--allow-private-urls"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert allowed.returncode == 0 and "added softbank" in allowed.stdout, allowed.stderr
    assert _qa(["list", "--json"], tmp_path).returncode == 0


def test_public_addresses_are_told_apart_from_internal_ones() -> None:
    for address in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"]:
        assert is_public(ipaddress.ip_address(address)), address
    for address in ["127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1", "fd00::1", "0.0.0.0", "255.255.255.255", "ff02::1"]:
        assert not is_public(ipaddress.ip_address(address)), address


# --- one deadline for the whole fetch


def drip_server(headers_too: bool) -> tuple[socket.socket, str]:
    """A server that answers one byte every half second: in its headers, or in a long body."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
        slow = b"X-Padding: " + b"a" * 60 + b"\r\n\r\n" if headers_too else b""
        conn.sendall(head + (b"" if headers_too else b"Content-Length: 60\r\n\r\n"))
        stop = threading.Event()
        for byte in (slow or b"<" * 60):
            if stop.wait(0.5):
                break
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
        conn.close()

    threading.Thread(target=run, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/"


@pytest.mark.parametrize("headers_too", [False, True])
def test_a_server_dripping_bytes_is_cut_off_at_the_deadline(tmp_path: Path, headers_too: bool) -> None:
    listener, url = drip_server(headers_too)
    try:
        with pytest.raises(qa.SourceError, match=r"not fetched within 1\.5 s"):
            fetch(url, 1_000_000, timeout=1.5, allow_private="1")
    finally:
        listener.close()


# --- what is kept of a link


def test_credentials_in_a_link_are_used_but_never_stored_or_shown(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, "1")
    url = f"http://editor:hunter2@127.0.0.1:{site.server_address[1]}/fr.html"
    [added] = qa.add([url], settings)
    assert site.requests[-1] == ("/fr.html", "Basic ZWRpdG9yOmh1bnRlcjI=")  # sent to the server...
    rows = qa.list_articles(settings)
    assert "hunter2" not in added.summary() and "hunter2" not in str(rows)  # ...never kept
    assert all("hunter2" not in p.read_text(encoding="utf-8", errors="replace") for p in stored_files(settings))


def test_a_fragment_does_not_turn_a_json_page_into_an_article(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, "1")
    with pytest.raises(qa.SourceError, match=r"not a web page, PDF, feed or \.txt/\.md article"):
        qa.add([f"http://127.0.0.1:{site.server_address[1]}/creds#.txt"], settings)
    assert stored_files(settings) == []


# --- feeds


def test_a_feed_of_many_entries_says_how_many_were_kept_and_why(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, "1")
    added = qa.add([f"http://127.0.0.1:{site.server_address[1]}/inline.rss"], settings)
    assert len(added) == MAX_FEED_ARTICLES == len(list(Path(settings.seeds_dir).glob("*.md")))
    assert "the feed has 300 entries and 200 were taken" in added[0].note and added[0].note in added[0].summary()


def test_a_feed_of_links_fetches_at_most_its_limit_and_says_so(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, "1")
    before = len(site.requests)
    added = qa.add([f"http://127.0.0.1:{site.server_address[1]}/links.rss"], settings)
    pages = [p for p, _ in site.requests[before:] if p.startswith("/p")]
    assert len(added) == len(pages) == MAX_FEED_LINKS
    assert "the feed has 60 entries and 50 were taken" in added[0].note


def test_a_feed_entry_linking_to_an_internal_address_is_skipped_and_named(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The feed itself is allowed (127.0.0.1); the pages it links to (also 127.0.0.1) are not.
    feed = tmp_path / "feed.rss"
    port = site.server_address[1]
    feed.write_text(rss(f"<item><title>Inline</title><description><![CDATA[{ARTICLE}]]></description></item>", 1)
                    .replace("</channel>", f"<item><title>Internal</title><link>http://127.0.0.1:{port}/p1.html</link></item></channel>"), encoding="utf-8")
    settings = settings_for(tmp_path)
    before = len(site.requests)
    added = qa.add([feed], settings)
    assert len(added) == 1 and "1 entry skipped" in added[0].note and REFUSED in added[0].note
    assert len(site.requests) == before


# --- identity is computed, never claimed


def test_an_upload_claiming_another_pages_link_and_hash_does_not_hide_it(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tmp_path, "1")
    base = f"http://127.0.0.1:{site.server_address[1]}"
    [real] = qa.add([f"{base}/fr.html"], settings)
    forged = tmp_path / "forged.md"
    forged.write_text(
        f"---\ntitle: Forged\nurl: {base}/en.html\nsha256: {content_key(from_html(EN_PAGE).text)}\n---\n\n"
        "Un texte sans rapport, écrit pour prendre la place d'une autre page dans la collection.\n",
        encoding="utf-8",
    )
    assert not qa.add([forged], settings)[0].duplicate_of
    [english] = qa.add([f"{base}/en.html"], settings)
    assert not english.duplicate_of, "the forged front matter made a real page a duplicate"
    assert qa.add([f"{base}/fr.html"], settings)[0].duplicate_of == real.id  # a link this program fetched still counts
