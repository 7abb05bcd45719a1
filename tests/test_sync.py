"""`qa sync`: feeds that stay fresh. A real HTTP server on 127.0.0.1 serves a feed and its pages,
answers conditional requests (the feed by ETag, the pages by Last-Modified) with 304, gains an
entry, changes a page, fails; links to it are allowed by the switch for private addresses."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import qa
from qa.addresses import REFUSED
from qa.feeds import load_feeds

NAGOYA = (
    "Le constructeur Hinode Motors investira 3 milliards de yens dans une usine de batteries à Nagoya, qui emploiera "
    "800 personnes à partir de 2026 selon la direction. La production annuelle visée est de 20 000 batteries."
)
TOYOHASHI = (
    "Le constructeur Hinode Motors a finalement choisi Toyohashi pour son usine de batteries : 5 milliards de yens "
    "seront investis et 1 200 personnes y travailleront à partir de 2027, a précisé la direction jeudi."
)
OSAKA = (
    "La société Kansai Robotics ouvrira un entrepôt automatisé à Osaka en mars, avec 300 robots livrés par un "
    "fournisseur de Kyoto, pour un coût de 2 milliards de yens selon son directeur des opérations."
)
SAPPORO = (
    "Le brasseur Hokkai ouvrira une seconde brasserie à Sapporo l'an prochain, pour 900 millions de yens, afin de "
    "doubler ses exportations de bière vers la Corée du Sud et Taïwan, a annoncé la société."
)


def page(title: str, text: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta property="og:site_name" content="Le Fil Éco"><meta property="article:published_time" content="2026-11-30">'
        f"</head><body><nav>Accueil | Économie</nav><article><h1>{title}</h1><p>{text}</p>"
        f"<p>{text.split(',')[0]}, ont rapporté plusieurs médias japonais.</p></article></body></html>"
    )


class Site(http.server.ThreadingHTTPServer):
    """The feed's entries and pages, which a test changes; every request is recorded."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.pages = {"/nagoya.html": ("Hinode Motors investit à Nagoya", NAGOYA, 1), "/osaka.html": ("Kansai Robotics à Osaka", OSAKA, 1)}
        self.entries = ["/nagoya.html", "/osaka.html"]
        self.fail = False
        self.gone: set[str] = set()  # pages answered 404 while their entry stays in the feed
        self.requests: list[tuple[str, int]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def feed(self) -> str:
        items = "".join(
            f"<item><title>{self.pages[p][0]}</title><link>{self.base}{p}</link><guid>{p}#{self.pages[p][2]}</guid></item>" for p in self.entries
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Le Fil Éco</title>{items}</channel></rss>'


class Handler(http.server.BaseHTTPRequestHandler):
    server: Site

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        site = self.server
        if self.path == "/feed.xml":
            body = site.feed().encode("utf-8")
            tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if site.fail:
                return self.answer(500, b"", {})
            if self.headers.get("If-None-Match") == tag:
                return self.answer(304, b"", {"ETag": tag})
            return self.answer(200, body, {"ETag": tag, "Content-Type": "application/rss+xml"})
        if self.path not in site.pages or self.path in site.gone:
            return self.answer(404, b"", {})
        title, text, version = site.pages[self.path]
        modified = f"Mon, 0{version} Dec 2026 10:00:00 GMT"  # a page's own validator: its date
        if self.headers.get("If-Modified-Since") == modified:
            return self.answer(304, b"", {"Last-Modified": modified})
        return self.answer(200, page(title, text).encode("utf-8"), {"Last-Modified": modified, "Content-Type": "text/html; charset=utf-8"})

    def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.server.requests.append((self.path, status))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def site() -> Iterator[Site]:
    server = Site()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture()
def settings(tmp_path: Path) -> qa.Settings:
    (tmp_path / "seeds").mkdir()
    return qa.Settings.from_env(env={}, seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", fetch_timeout_s=5.0, allow_private_urls="1")


def added_feed(site: Site, settings: qa.Settings) -> dict[str, str]:
    """The feed added from its link: the stored article of each page, by the page's path."""
    added = qa.add([site.base + "/feed.xml"], settings)
    site.requests.clear()
    return {a.input.removeprefix(site.base): a.id for a in added}


def test_a_feed_added_from_its_link_is_remembered_and_costs_one_request_while_unchanged(site: Site, settings: qa.Settings) -> None:
    ids = added_feed(site, settings)
    feed = load_feeds(settings.seeds_dir)[site.base + "/feed.xml"]
    assert feed.etag and {link.removeprefix(site.base): e.id for link, e in feed.entries.items()} == ids
    assert all(e.last_modified for e in feed.entries.values())

    report = qa.sync_feeds(settings)
    assert site.requests == [("/feed.xml", 304)]  # conditional: nothing else asked for
    assert [(f.status, f.unchanged, f.added, f.updated) for f in report.feeds] == [("not modified", 2, (), ())]
    assert not report.changed
    assert report.summary() == "1 feed(s): 0 added, 0 updated, 2 unchanged, 0 skipped, 0 failed"


def test_a_feed_gaining_an_entry_adds_it_and_asks_for_known_pages_conditionally(site: Site, settings: qa.Settings) -> None:
    ids = added_feed(site, settings)
    site.pages["/sapporo.html"] = ("Hokkai brasse à Sapporo", SAPPORO, 1)
    site.entries.insert(0, "/sapporo.html")

    report = qa.sync_feeds(settings)
    (feed,) = report.feeds
    assert feed.status == "read" and [a.title for a in feed.added] == ["Hokkai brasse à Sapporo"] and feed.unchanged == 2
    assert sorted(site.requests) == [("/feed.xml", 200), ("/nagoya.html", 304), ("/osaka.html", 304), ("/sapporo.html", 200)]
    assert report.added == [feed.added[0].id] and set(ids.values()).isdisjoint(report.added)
    assert "Hinode Motors" not in (Path(settings.seeds_dir) / f"{report.added[0]}.md").read_text(encoding="utf-8")
    site.requests.clear()
    assert qa.sync_feeds(settings).feeds[0].status == "not modified" and site.requests == [("/feed.xml", 304)]


def test_a_changed_page_replaces_its_article_under_the_same_id_and_citations_follow_the_new_text(
    site: Site, settings: qa.Settings
) -> None:
    ids = added_feed(site, settings)
    qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    nagoya = ids["/nagoya.html"]
    path = Path(settings.seeds_dir) / f"{nagoya}.md"
    before = path.read_text(encoding="utf-8")
    site.pages["/nagoya.html"] = ("Hinode Motors choisit Toyohashi", TOYOHASHI, 2)  # the page and its entry change

    report = qa.sync_feeds(settings)
    assert report.updated == [nagoya] and report.feeds[0].unchanged == 1 and not report.added
    after = path.read_text(encoding="utf-8")
    assert "Toyohashi" in after and "Nagoya" not in after and "updated: " in after
    assert after.split("added: ")[1][:19] == before.split("added: ")[1][:19]  # first added, then updated
    assert (Path(settings.seeds_dir) / ".originals" / f"{nagoya}.previous.md").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in Path(settings.seeds_dir).glob("*.md")) == sorted(f"{i}.md" for i in ids.values())

    built = qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    assert built.updated == [nagoya] and built.added == [] and sorted(built.unchanged) == [ids["/osaka.html"]]
    r = qa.Retriever.load(settings.index_dir, settings)
    a = qa.answer("Combien de personnes travailleront dans l'usine de Toyohashi ?", r)
    cited = a.citations[0]
    assert cited.doc_id == nagoya and "Toyohashi" in cited.text
    text = next(x for x in qa.load_articles(settings.seeds_dir)[0] if x.id == nagoya).text
    assert text[cited.start : cited.end] == cited.text
    assert a.short_answer is not None and "1 200" in a.short_answer.text
    site.requests.clear()
    assert not qa.sync_feeds(settings).changed and site.requests == [("/feed.xml", 304)]


def test_a_failing_feed_keeps_its_articles_and_says_why(site: Site, settings: qa.Settings) -> None:
    ids = added_feed(site, settings)
    site.fail = True
    report = qa.sync_feeds(settings)
    (feed,) = report.feeds
    assert feed.status == "failed" and feed.error == "the server answered 500 Internal Server Error" and feed.unchanged == 2
    assert feed.lines() == [f"{site.base}/feed.xml: failed: the server answered 500 Internal Server Error; its 2 article(s) are kept"]
    assert {a.id for a in qa.load_articles(settings.seeds_dir)[0]} == set(ids.values())
    (listed,) = qa.list_feeds(settings)
    assert not listed["ok"] and listed["result"].startswith("failed: the server answered 500") and listed["articles"] == 2
    site.fail = False
    assert qa.sync_feeds(settings).feeds[0].status == "not modified"  # its validators were kept
    assert load_feeds(settings.seeds_dir)[site.base + "/feed.xml"].ok


def test_a_page_gone_or_removed_is_kept_or_left_out_and_said(site: Site, settings: qa.Settings) -> None:
    ids = added_feed(site, settings)
    qa.remove([ids["/osaka.html"]], settings)
    site.gone.add("/nagoya.html")
    site.pages["/sapporo.html"] = ("Hokkai brasse à Sapporo", SAPPORO, 1)
    site.entries.append("/sapporo.html")
    (feed,) = qa.sync_feeds(settings).feeds
    why = {s.what.removeprefix(site.base): s.why for s in feed.skipped}
    assert why == {
        "/nagoya.html": "the stored version is kept: the server answered 404 Not Found",
        "/osaka.html": "removed from the collection; not added again",
    }
    assert len(feed.added) == 1 and (Path(settings.seeds_dir) / f"{ids['/nagoya.html']}.md").is_file()


def test_without_the_switch_a_private_feed_is_refused_and_kept(site: Site, settings: qa.Settings) -> None:
    import dataclasses

    ids = added_feed(site, settings)
    (feed,) = qa.sync_feeds(dataclasses.replace(settings, allow_private_urls="")).feeds
    assert feed.status == "failed" and feed.error == REFUSED and site.requests == []
    assert {a.id for a in qa.load_articles(settings.seeds_dir)[0]} == set(ids.values())


def _qa(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"QA_ALLOW_PRIVATE_URLS": "1"}
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.process
def test_the_command_syncs_reports_and_lists_the_feed(site: Site, tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    assert _qa(["add", site.base + "/feed.xml"], tmp_path).returncode == 0
    unchanged = _qa(["sync", "--json"], tmp_path)
    assert unchanged.returncode == 0, unchanged.stderr
    out = json.loads(unchanged.stdout)
    assert [f["status"] for f in out["feeds"]] == ["not modified"] and out["index"] is None
    site.pages["/sapporo.html"] = ("Hokkai brasse à Sapporo", SAPPORO, 1)
    site.entries.append("/sapporo.html")
    r = _qa(["sync"], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{site.base}/feed.xml: read: 1 added, 0 updated, 2 unchanged"
    assert lines[1].startswith("  added hokkai-brasse-a-sapporo (Hokkai brasse à Sapporo)")
    assert lines[2].startswith("1 feed(s): 1 added, 0 updated, 2 unchanged, 0 skipped, 0 failed; 1 added")
    listed = _qa(["list"], tmp_path).stdout.splitlines()
    assert len(listed) == 4 and listed[-1].startswith(f"feed {site.base}/feed.xml  3 article(s), last polled 20")
    assert listed[-1].endswith("UTC: read: 1 added, 0 updated, 2 unchanged")
    unknown = _qa(["sync", "https://example.com/other.xml"], tmp_path)
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: no feed https://example.com/other.xml was added")


@pytest.mark.server
def test_the_server_syncs_in_the_background_and_answers_from_the_new_index(site: Site, settings: qa.Settings, tmp_path: Path) -> None:

    from tests.serving import free_port, stop_server

    added_feed(site, settings)
    qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    port, log = free_port(), tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "qa.cli", "serve", "--port", str(port), "--seeds", str(settings.seeds_dir), "--index", str(settings.index_dir)]
    with open(log, "wb") as sink:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"QA_ALLOW_PRIVATE_URLS": "1"}
        proc = subprocess.Popen([*cmd, "--sync-every", "2s"], cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        site.pages["/sapporo.html"] = ("Hokkai brasse à Sapporo", SAPPORO, 1)
        site.entries.append("/sapporo.html")
        found, asked = _until_found(f"http://127.0.0.1:{port}/api/", "hokkai-brasse-a-sapporo")
    finally:
        stop_server(proc)
    said = log.read_text(errors="replace")
    assert found, said[-2000:]
    assert asked == 200 and "* feeds synced: 1 feed(s): 1 added" in said and "Traceback" not in said


def _until_found(api: str, article: str, patience_s: float = 240) -> tuple[bool, int]:
    """Ask the server until the article is searchable (it polls every 2 s); also asks it a question
    meanwhile. Waits for an outcome; no time is asserted."""
    import time

    import httpx

    deadline, asked = time.monotonic() + patience_s, 0
    while time.monotonic() < deadline:
        try:
            hits = httpx.get(api + "search", params={"q": "brasserie Sapporo Hokkai", "k": 1}, timeout=30).json()["hits"]
            asked = asked or httpx.post(api + "ask", json={"question": "Combien coûtera l'usine de Nagoya ?"}, timeout=60).status_code
            if hits and hits[0]["doc_id"] == article:
                return True, asked
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(1)
    return False, asked
