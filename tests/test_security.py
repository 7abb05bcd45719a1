"""Issue 37: what a page of another site, a forged Host header, a crafted Gradio request or a run of
guessed passwords can do to a running server. The real server in a subprocess, real HTTP on
loopback, a real headless Chromium."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import copy_corpus
from tests.serving import start_server, stop_server

pytestmark = pytest.mark.server
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER, PASSWORD = "editor", "s3cret-pass"
# A page of another site that posts an article to the server, as a browser lets any page do
# (mode "no-cors": the page cannot read the answer, but the request is sent).
ATTACK_PAGE = """<!doctype html><title>another site</title><script>
const form = new FormData();
form.append("files", new Blob(["Article pirate\\n\\nUn article ajouté par un autre site."], {type: "text/plain"}), "pirate.txt");
fetch(TARGET + "api/articles", {method: "POST", body: form, mode: "no-cors"})
  .then(() => { window.__done = "sent"; }, (e) => { window.__done = "failed: " + e; });
</script>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server on loopback (writes need no login) that also serves the names in QA_ALLOWED_HOSTS."""
    root = tmp_path_factory.mktemp("site")
    copy_corpus(root / "seeds")
    proc, url = start_server(root, log=root / "server.log", QA_ALLOWED_HOSTS="news.example.com, *.example.org")
    yield url, root
    stop_server(proc)


@pytest.fixture(scope="module")
def public_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server reached beyond this machine (--public), listening on loopback, with credentials."""
    root = tmp_path_factory.mktemp("public")
    copy_corpus(root / "seeds")
    proc, url = start_server(root, public=True, QA_ADMIN_USER=USER, QA_ADMIN_PASSWORD=PASSWORD)
    yield url, root
    stop_server(proc)


def _seeds(root: Path) -> set[str]:
    return {p.name for p in (root / "seeds").iterdir()}


def _port(url: str) -> str:
    return url.rstrip("/").rsplit(":", 1)[1]


def _from(address: str) -> httpx.Client:
    """An HTTP client whose connections come from this loopback address: the server sees another client."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=120)


@contextmanager
def other_origin(page: str) -> Iterator[str]:
    """A tiny web site on 127.0.0.2 (loopback too, but another origin than the server's) serving `page`."""
    body = page.encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.2:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _queue(url: str, api_name: str, data: list[Any], http: httpx.Client | None = None) -> dict[str, Any]:
    """One event through Gradio's queue, sent as the page's JavaScript sends it (by fn_index, so
    any handler can be reached this way); returns the final message."""
    http = http or httpx.Client(timeout=120)
    with http:
        fn_index = next(d["id"] for d in http.get(url + "config").json()["dependencies"] if d.get("api_name") == api_name)
        session = uuid.uuid4().hex
        body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
        http.post(url + "gradio_api/queue/join", json=body).raise_for_status()
        with http.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session}) as events:
            for line in events.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event did not complete")


# --- 1. cross-site writes and DNS rebinding


@pytest.mark.browser
def test_a_page_of_another_origin_cannot_add_articles(site: tuple[str, Path]) -> None:
    if not CHROMIUM:
        pytest.skip("no chromium on this machine (setup.sh installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    url, root = site
    before = _seeds(root)
    with other_origin(ATTACK_PAGE.replace("TARGET", json.dumps(url))) as attacker, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(attacker)
        page.wait_for_function("window.__done !== undefined", timeout=120_000)
        assert page.evaluate("window.__done") == "sent"  # the request reached the server
        browser.close()
    assert _seeds(root) == before
    titles = {a["title"] for a in httpx.get(url + "api/articles", timeout=30).json()["articles"]}
    assert "Article pirate" not in titles


def test_requests_for_a_host_the_server_does_not_serve_are_refused(site: tuple[str, Path]) -> None:
    url, _ = site
    port = _port(url)
    for host in ("attacker.example", f"attacker.example:{port}", "example.org", f"localhost-nas.lan:{port}", f"[::2]:{port}"):
        r = httpx.get(url, headers={"Host": host}, timeout=30)
        assert r.status_code == 400 and "error" in r.json(), host
    r = httpx.post(url + "api/ask", json={"question": "Combien AWS investira au Japon ?"}, headers={"Host": "attacker.example"}, timeout=30)
    assert r.status_code == 400 and "attacker.example" in r.json()["error"]
    # Its own names, ports aside, and those of QA_ALLOWED_HOSTS
    for host in (f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", "news.example.com", f"NEWS.example.com:{port}", "a.example.org"):
        assert httpx.get(url + "config", headers={"Host": host}, timeout=30).status_code == 200, host


def test_writes_from_another_origin_are_refused(site: tuple[str, Path]) -> None:
    url, _ = site
    other = f"http://127.0.0.2:{_port(url)}"
    for headers in ({"Origin": other}, {"Referer": other + "/page.html"}, {"Origin": "null"}, {"Origin": url.rstrip("/"), "Host": f"localhost:{_port(url)}"}):
        r = httpx.post(url + "api/index", headers=headers, timeout=60)
        assert r.status_code == 403 and "error" in r.json(), headers
    upload = httpx.post(url + "gradio_api/upload", files={"files": ("x.txt", b"Un article\n\nDu texte.", "text/plain")}, headers={"Origin": other}, timeout=30)
    assert upload.status_code == 403
    # The server's own pages may write, and so may programs, which send neither header
    assert httpx.post(url + "api/index", headers={"Origin": url.rstrip("/")}, timeout=120).status_code == 200
    assert httpx.post(url + "api/index", headers={"Referer": url + "?tab=collection"}, timeout=120).status_code == 200
    assert httpx.post(url + "api/index", timeout=120).status_code == 200


# --- 2 and 3. files of the server


def test_a_gradio_request_naming_a_server_file_neither_adds_nor_deletes_it(site: tuple[str, Path], tmp_path: Path) -> None:
    url, root = site
    victim = tmp_path / "server-secret.txt"
    victim.write_text("Secret du serveur\n\nUn fichier du serveur que personne n'a envoyé.", encoding="utf-8")
    before = _seeds(root)
    done = _queue(url, "upload", [[{"path": str(victim), "meta": {"_type": "gradio.FileData"}}], False])
    assert "added" not in json.dumps(done.get("output"))
    assert _seeds(root) == before
    assert victim.read_text(encoding="utf-8").startswith("Secret du serveur")


def test_the_links_box_takes_only_web_links(site: tuple[str, Path], tmp_path: Path) -> None:
    from gradio_client import Client

    url, root = site
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Page locale</title></head><body><p>" + "Une page du serveur. " * 30 + "</p></body></html>", encoding="utf-8")
    before = _seeds(root)
    status, *_ = Client(url, verbose=False).predict(f"{page}\nfile://{page}", api_name="/add_links")
    assert f"refused {page}: only http:// and https:// links can be added" in status, status
    assert f"refused file://{page}: only http:// and https:// links can be added" in status, status
    assert _seeds(root) == before


# --- 4. a build that fails


def test_an_index_that_cannot_be_written_is_one_json_line(tmp_path: Path) -> None:
    from gradio_client import Client

    copy_corpus(tmp_path / "seeds")
    proc, url = start_server(tmp_path)
    try:
        # The index folder becomes a regular file: every build fails to write there.
        (tmp_path / "index").rename(tmp_path / "index-aside")
        (tmp_path / "index").write_text("not an index folder", encoding="utf-8")
        article = b"Tokyo investit\n\nLa ville de Tokyo investira 3 milliards de yens dans ses ports."
        r = httpx.post(url + "api/articles", files={"files": ("tokyo.txt", article, "text/plain")}, timeout=120)
        assert r.status_code == 503, r.text
        message = r.json()["error"]
        assert "stored" in message and "not updated" in message and "\n" not in message and str(tmp_path) not in message
        assert (tmp_path / "seeds" / "tokyo.txt").exists()
        r = httpx.post(url + "api/index", timeout=120)
        assert r.status_code == 503, r.text
        assert "\n" not in r.json()["error"] and str(tmp_path) not in r.json()["error"]
        status, *_ = Client(url, verbose=False).predict(api_name="/rebuild")
        assert "failed" in status and str(tmp_path) not in status
        assert httpx.post(url + "api/ask", json={"question": "Combien AWS investira au Japon ?"}, timeout=60).status_code == 200
    finally:
        stop_server(proc)


# --- 5. lesser: paths, messages, unknown functions, guessed passwords


def test_the_article_list_shows_no_server_path(site: tuple[str, Path]) -> None:
    url, root = site
    r = httpx.get(url + "api/articles", timeout=30)
    assert r.json()["articles"] and all("path" not in a for a in r.json()["articles"])
    assert str(root) not in r.text


def test_messages_name_the_file_never_a_server_folder(site: tuple[str, Path], tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    url, root = site
    bad = tmp_path / "latin.txt"
    bad.write_bytes("Élysée été".encode("latin-1"))
    client = Client(url, verbose=False)
    status, *_ = client.predict([handle_file(str(bad))], api_name="/upload")
    assert "refused latin.txt" in status and "UTF-8" in status and "/tmp/" not in status and "qa-serve" not in status, status
    lines = httpx.post(url + "api/articles", files={"files": ("latin.txt", bad.read_bytes(), "text/plain")}, timeout=60).json()["status"]
    assert "refused latin.txt" in lines[0] and "/tmp/" not in lines[0] and "qa-api-upload" not in lines[0], lines
    r = httpx.delete(url + "api/articles/no-such-article", timeout=60)
    assert r.status_code == 404 and "no-such-article" in r.json()["error"]
    assert str(root) not in r.json()["error"] and "`qa" not in r.json()["error"]


def test_an_unknown_gradio_function_is_a_clean_client_error(site: tuple[str, Path]) -> None:
    url, root = site
    body = {"data": [], "fn_index": 999, "session_hash": uuid.uuid4().hex, "event_data": None, "trigger_id": None}
    for route in ("gradio_api/queue/join", "gradio_api/api/chat"):
        r = httpx.post(url + route, json=body, timeout=30)
        assert 400 <= r.status_code < 500 and "error" in r.json(), (route, r.text)
    httpx.get(url + "config", timeout=30)  # one more request: the server has logged what the others caused
    assert "KeyError" not in (root / "server.log").read_text(errors="replace")


def test_ten_failed_logins_lock_the_client_out_even_with_the_right_password(public_site: tuple[str, Path]) -> None:
    url, _ = public_site
    with _from("127.0.0.3") as http:
        for n in range(10):
            assert http.post(url + "api/login", json={"user": USER, "password": f"guess-{n}"}).status_code == 401
        r = http.post(url + "api/login", json={"user": USER, "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 60 and "error" in r.json()
        r = http.post(url + "api/index", auth=(USER, PASSWORD))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 60
        r = http.post(url + "gradio_api/upload", files={"files": ("x.txt", b"Un article\n\nDu texte.", "text/plain")}, auth=(USER, PASSWORD))
        assert r.status_code == 429
    with _from("127.0.0.4") as http:  # another client is not locked out
        assert http.post(url + "api/login", json={"user": USER, "password": PASSWORD}).status_code == 200


def test_failed_basic_credentials_count_too(public_site: tuple[str, Path]) -> None:
    url, _ = public_site
    with _from("127.0.0.5") as http:
        for n in range(10):
            assert http.post(url + "api/index", auth=(USER, f"guess-{n}")).status_code == 401
        assert http.post(url + "api/index", auth=(USER, PASSWORD)).status_code == 429


def test_the_chats_login_is_throttled_too(public_site: tuple[str, Path]) -> None:
    url, _ = public_site
    with _from("127.0.0.6") as http:
        for n in range(10):
            http.post(url + "api/login", json={"user": USER, "password": f"guess-{n}"})
    done = _queue(url, "login", [USER, PASSWORD], http=_from("127.0.0.6"))
    status = done["output"]["data"][1]  # (the first output, the session's login state, stays on the server)
    assert "Too many failed logins" in status and "Logged in" not in status, status
