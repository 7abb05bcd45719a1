"""Real news formats in: saved pages, PDFs made by a real library, RSS and Atom feeds, and links
served by a real HTTP server on 127.0.0.1 (redirects, a 404, a slow answer, an oversized one)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import qa
from qa.corpus import load_articles

NAV = "Accueil Économie Technologie Sport Abonnez-vous"
AD = "PUBLICITÉ — Profitez de notre offre premium à moitié prix"
COMMENT = "Jean42 : encore de l'argent public gaspillé, honteux"
COOKIE = "Nous utilisons des cookies pour améliorer votre expérience"

FR_PAGE = f"""<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">
<title>SoftBank investit 150 milliards de yens dans l'IA | Le Journal Tech</title>
<meta property="og:site_name" content="Le Journal Tech"><meta name="author" content="Marie Dupont">
<meta property="article:published_time" content="2024-04-12T08:30:00+02:00">
<meta property="og:title" content="SoftBank investit 150 milliards de yens dans l'IA"></head>
<body><nav><ul><li><a href="/">{NAV}</a></li></ul></nav><div class="cookie-banner">{COOKIE}</div>
<div class="ad">{AD}</div>
<article><h1>SoftBank investit 150 milliards de yens dans l'IA</h1>
<p>Le groupe japonais SoftBank investira 150 milliards de yens d'ici 2025 pour construire des centres de calcul
dédiés à l'intelligence artificielle au Japon, a annoncé l'entreprise mardi à Tokyo.</p>
<p>Ces installations accueilleront des milliers de processeurs graphiques fournis par NVIDIA. Le gouvernement
japonais subventionnera une partie du projet à hauteur de 42 milliards de yens.</p>
<p>Selon le directeur financier, les premiers serveurs entreront en service à Hokkaido au printemps prochain.</p>
</article><section class="comments"><h3>Commentaires</h3><p>{COMMENT}</p></section>
<footer>© 2024 Le Journal Tech — Mentions légales</footer></body></html>"""

EN_PAGE = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Kyoto Robotics raises funds</title>
<meta property="og:site_name" content="Tokyo Business Daily"><meta name="author" content="John Smith">
<meta property="article:published_time" content="2024-03-28"></head>
<body><header><nav>Home | Markets | Tech | Subscribe</nav></header><aside class="advert">{AD}</aside>
<main><article><h1>Kyoto Robotics raises 8 billion yen for warehouse robots</h1>
<p>Kyoto Robotics said on Thursday it had raised 8 billion yen from a group of banks led by Mizuho to build
warehouse robots, as Japan faces a shortage of logistics workers.</p>
<p>The company plans to deliver its first 500 robots to retailers in Osaka before the end of the year,
its chief executive told reporters.</p>
</article></main><div id="comments"><p>{COMMENT}</p></div></body></html>"""


def feed_rss(base: str) -> str:
    body = "<p>Le constructeur Hinode Motors investira 3 milliards de yens dans une usine de batteries à Nagoya, " \
        "qui emploiera 800 personnes à partir de 2026 selon la direction.</p><p>La production annuelle visée est " \
        "de 20 000 batteries pour véhicules électriques.</p>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Le Fil Éco</title>
<link>{base}</link><description>Économie</description>
<item><title>Hinode Motors investit à Nagoya</title><link>{base}hinode</link><author>redaction@fil.example</author>
<pubDate>Tue, 09 Apr 2024 10:00:00 +0200</pubDate><content:encoded><![CDATA[{body}]]></content:encoded></item>
</channel></rss>"""


def feed_atom(base: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Tokyo Business Daily</title>
<id>{base}atom</id><updated>2024-04-01T00:00:00Z</updated>
<entry><title>Kyoto Robotics raises funds</title><id>{base}en.html</id><link href="{base}en.html"/><updated>2024-03-28T00:00:00Z</updated>
<summary>Robots.</summary></entry></feed>"""


def send_page(handler: http.server.BaseHTTPRequestHandler, kind: str, body: str) -> None:
    """A 200 answer with this content type and body."""
    data = body.encode("utf-8")
    handler.send_response(200)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}/"
        routes = {
            "/fr.html": ("text/html; charset=utf-8", FR_PAGE),
            "/en.html": ("text/html; charset=utf-8", EN_PAGE),
            "/home.html": ("text/html", "<html><body><nav><a href='/a'>A</a> <a href='/b'>B</a></nav></body></html>"),
            "/feed.rss": ("application/rss+xml", feed_rss(base)),
            "/feed.atom": ("application/atom+xml", feed_atom(base)),
        }
        if self.path in routes:
            send_page(self, *routes[self.path])
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/fr.html")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>" + b"<p>x</p>" * 200_000)
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture()
def settings(tmp_path: Path) -> qa.Settings:
    (tmp_path / "seeds").mkdir()
    # The pages are served on 127.0.0.1: links to it are refused unless switched on (tests/test_fetch.py).
    return qa.Settings.from_env(
        env={}, seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", fetch_timeout_s=1.0, max_article_bytes=500_000, allow_private_urls="1"
    )


def stored(settings: qa.Settings, id_: str) -> qa.Article:
    return next(a for a in load_articles(Path(settings.seeds_dir))[0] if a.id == id_)


def make_pdf(path: Path, paragraphs: list[str], title: str = "", author: str = "", encrypt: bool = False) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creation_date(__import__("datetime").datetime(2024, 4, 10, 9, 0, tzinfo=__import__("datetime").timezone.utc))
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for text in paragraphs:
        pdf.multi_cell(0, 6, text)
        pdf.ln(4)
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.output(str(path))
    return path


# --- web pages


def test_a_saved_page_keeps_the_article_and_drops_menus_ads_cookies_and_comments(tmp_path: Path, settings: qa.Settings) -> None:
    page = tmp_path / "page.html"
    page.write_text(FR_PAGE, encoding="utf-8")
    [added] = qa.add([page], settings)
    a = stored(settings, added.id)
    body = a.text[a.body_start :]
    assert "150 milliards de yens" in body and "Hokkaido" in body
    for junk in (NAV, AD, COMMENT, COOKIE, "Mentions légales"):
        assert junk not in a.text
    assert (a.title, a.source, a.author, a.date) == ("SoftBank investit 150 milliards de yens dans l'IA", "Le Journal Tech", "Marie Dupont", "2024-04-12")
    assert (Path(settings.seeds_dir) / ".originals" / f"{added.id}.html").read_text(encoding="utf-8") == FR_PAGE


def test_a_link_is_fetched_through_redirects_and_cited_with_its_metadata(site: str, settings: qa.Settings) -> None:
    [added] = qa.add([site + "moved"], settings)
    a = stored(settings, added.id)
    assert a.url == site + "fr.html" and a.source == "Le Journal Tech"
    qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    answer = qa.answer("Combien SoftBank va-t-il investir dans l'IA ?", qa.Retriever.load(settings.index_dir, settings))
    c = answer.citations[0]
    assert not answer.abstained and "150 milliards de yens" in answer.text
    assert a.text[c.start : c.end] == c.text and (c.source, c.author, c.date) == ("Le Journal Tech", "Marie Dupont", "2024-04-12")


def test_an_english_page_is_answered_in_english(site: str, settings: qa.Settings) -> None:
    [added] = qa.add([site + "en.html"], settings)
    a = stored(settings, added.id)
    assert (a.source, a.author, a.date) == ("Tokyo Business Daily", "John Smith", "2024-03-28") and COMMENT not in a.text
    qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    answer = qa.answer("How much did Kyoto Robotics raise?", qa.Retriever.load(settings.index_dir, settings))
    assert not answer.abstained and "8 billion yen" in answer.text and answer.lang == "en"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing", "404"),
        ("loop", "redirects"),
        ("slow", "not fetched within 1 s"),
        ("big", "limit"),
        ("home.html", "no article text"),
    ],
)
def test_a_bad_link_is_refused_with_a_clear_message_and_nothing_written(site: str, settings: qa.Settings, path: str, message: str) -> None:
    with pytest.raises(qa.SourceError, match=message):
        qa.add([site + "en.html", site + path], settings)
    assert list(Path(settings.seeds_dir).iterdir()) == []


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path, settings: qa.Settings) -> None:
    big = tmp_path / "big.html"
    big.write_text(FR_PAGE + "<p>x</p>" * 100_000, encoding="utf-8")
    with pytest.raises(qa.SourceError, match="the limit is 500,000"):
        qa.add([big], settings)
    assert list(Path(settings.seeds_dir).iterdir()) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.html", "javascript:alert(1)"])
def test_only_http_links_are_fetched(settings: qa.Settings, url: str) -> None:
    with pytest.raises(qa.SourceError):
        qa.add([url], settings)
    assert list(Path(settings.seeds_dir).iterdir()) == []


def test_malformed_html_is_read_or_refused_cleanly(tmp_path: Path, settings: qa.Settings) -> None:
    page = tmp_path / "broken.html"
    page.write_bytes(b"<html><body><p>Unclosed <b>tags <div><p>" + b"Texte du Japon sans fin. " * 20 + b"\x00\xff<<<>>")
    try:
        qa.add([page], settings)
    except qa.SourceError as exc:
        assert "broken.html" in str(exc)


# --- PDF


def test_a_pdf_becomes_an_article_with_its_metadata_and_joined_words(tmp_path: Path, settings: qa.Settings) -> None:
    text = (
        "Le port de Yokohama modernisera ses terminaux pour 60 milliards de yens d'ici 2028, a annoncé la préfecture "
        "de Kanagawa. Les travaux commenceront au printemps et dureront quatre ans selon le communiqué officiel."
    )
    pdf = make_pdf(tmp_path / "rapport.pdf", [text, "Un second paragraphe sur la logistique portuaire japonaise."], "Yokohama modernise son port", "Préfecture de Kanagawa")
    [added] = qa.add([pdf], settings)
    a = stored(settings, added.id)
    assert (a.title, a.author, a.date) == ("Yokohama modernise son port", "Préfecture de Kanagawa", "2024-04-10")
    body = a.text[a.body_start :]
    assert "60 milliards de yens" in body and "dureront quatre ans selon le communiqué" in body and "-\n" not in body
    qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    answer = qa.answer("Combien coûtera la modernisation du port de Yokohama ?", qa.Retriever.load(settings.index_dir, settings))
    assert not answer.abstained and "60 milliards" in answer.text


def test_hyphenation_at_line_ends_is_repaired() -> None:
    from qa.convert import pdf_text

    assert pdf_text(["Les inves-\ntissements japonais\ncroissent."]) == "Les investissements japonais croissent."


def test_a_scanned_encrypted_or_damaged_pdf_is_refused_and_nothing_written(tmp_path: Path, settings: qa.Settings) -> None:
    from fpdf import FPDF

    scan = FPDF()
    scan.add_page()
    scan.rect(10, 10, 100, 100, style="F")  # a page with no text layer
    scan.output(str(tmp_path / "scan.pdf"))
    make_pdf(tmp_path / "locked.pdf", ["Secret " * 50], encrypt=True)
    good = make_pdf(tmp_path / "good.pdf", ["Bon texte sur le Japon. " * 20])
    (tmp_path / "damaged.pdf").write_bytes(good.read_bytes()[:300])
    for name, message in (("scan.pdf", "no text layer"), ("locked.pdf", "encrypted"), ("damaged.pdf", "damaged|no text layer")):
        with pytest.raises(qa.SourceError, match=message):
            qa.add([tmp_path / name], settings)
    assert list(Path(settings.seeds_dir).iterdir()) == []


# --- feeds


def test_a_feed_with_full_content_gives_one_article_per_entry(site: str, settings: qa.Settings) -> None:
    [added] = qa.add([site + "feed.rss"], settings)
    a = stored(settings, added.id)
    assert a.title == "Hinode Motors investit à Nagoya" and a.source == "Le Fil Éco" and a.date == "2024-04-09"
    assert "3 milliards de yens" in a.text and "<p>" not in a.text


def test_a_feed_of_links_fetches_each_linked_page(site: str, settings: qa.Settings) -> None:
    [added] = qa.add([site + "feed.atom"], settings)
    a = stored(settings, added.id)
    assert "8 billion yen" in a.text and a.url == site + "en.html" and COMMENT not in a.text


def test_a_file_that_is_not_a_feed_is_refused(tmp_path: Path, settings: qa.Settings) -> None:
    bad = tmp_path / "news.rss"
    bad.write_text("<?xml version='1.0'?><catalog><book>Not a feed</book></catalog>", encoding="utf-8")
    with pytest.raises(qa.SourceError, match="feed"):
        qa.add([bad], settings)


# --- duplicates, names, listing and removing


def test_the_same_article_twice_is_recognised(site: str, tmp_path: Path, settings: qa.Settings) -> None:
    [first] = qa.add([site + "fr.html"], settings)
    again = qa.add([site + "fr.html"], settings)
    saved = tmp_path / "copy.html"
    saved.write_text(FR_PAGE, encoding="utf-8")
    from_file = qa.add([saved], settings)
    assert again[0].duplicate_of == first.id and from_file[0].duplicate_of == first.id
    assert len([p for p in Path(settings.seeds_dir).iterdir() if p.suffix == ".md"]) == 1


def test_text_files_are_stored_as_they_are_under_a_safe_name(tmp_path: Path, settings: qa.Settings) -> None:
    odd = tmp_path / "..evil name?.txt"
    odd.write_text("Un article\n\nSur le Japon et ses centres de données.", encoding="utf-8")
    [added] = qa.add([odd], settings)
    path = Path(added.path)
    assert path.parent == Path(settings.seeds_dir) and path.read_bytes() == odd.read_bytes() and path.name == "evil_name.txt"


def test_list_sorts_by_date_and_remove_takes_an_article_out(site: str, tmp_path: Path, settings: qa.Settings) -> None:
    fr = qa.add([site + "fr.html"], settings)[0].id
    en = qa.add([site + "en.html"], settings)[0].id
    qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    rows = qa.list_articles(settings)
    assert [r["id"] for r in rows] == [fr, en] and [r["date"] for r in rows] == ["2024-04-12", "2024-03-28"]
    assert all(r["passages"] and r["added"] for r in rows)
    with pytest.raises(qa.SourceError, match="nothing was removed"):
        qa.remove([fr, "no-such-article"], settings)
    assert qa.remove([fr], settings) == [fr]
    assert not list(Path(settings.seeds_dir).glob(f"{fr}*")) and not list((Path(settings.seeds_dir) / ".originals").glob(f"{fr}*"))
    report = qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    assert report.removed == [fr] and fr not in qa.Retriever.load(settings.index_dir, settings).articles


def test_the_front_matter_is_never_a_passage(tmp_path: Path, settings: qa.Settings) -> None:
    page = tmp_path / "page.html"
    page.write_text(FR_PAGE, encoding="utf-8")
    qa.add([page], settings)
    qa.build_index(settings.seeds_dir, settings.index_dir, settings)
    passages = qa.Retriever.load(settings.index_dir, settings).stored.passages
    assert passages and not any("sha256:" in p.text or "added:" in p.text for p in passages)


# --- the command


def _qa(args: list[str], cwd: Path):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")} | {"QA_ALLOW_PRIVATE_URLS": "1"}
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.process
def test_the_command_adds_lists_and_removes(site: str, tmp_path: Path) -> None:
    import json

    (tmp_path / "seeds").mkdir()
    page = tmp_path / "page.html"
    page.write_text(FR_PAGE, encoding="utf-8")
    r = _qa(["add", str(page), site + "en.html"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "added softbank-investit-150-milliards-de-yens-dans-l-ia" in r.stdout and "2 added" in r.stdout
    again = _qa(["add", site + "en.html"], tmp_path)
    assert "already in the collection as kyoto-robotics" in again.stdout
    rows = json.loads(_qa(["list", "--json"], tmp_path).stdout)
    assert [r["source"] for r in rows] == ["Le Journal Tech", "Tokyo Business Daily"] and all(r["passages"] for r in rows)
    gone = _qa(["remove", rows[0]["id"]], tmp_path)
    assert gone.returncode == 0 and "1 removed" in gone.stdout
    assert [r["id"] for r in json.loads(_qa(["list", "--json"], tmp_path).stdout)] == [rows[1]["id"]]


@pytest.mark.process
@pytest.mark.parametrize("bad", ["ftp://example.com/a.html", "no-such-file.pdf"])
def test_the_command_refuses_a_bad_input_in_one_line(tmp_path: Path, bad: str) -> None:
    (tmp_path / "seeds").mkdir()
    r = _qa(["add", bad], tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("error: nothing was added") and "Traceback" not in r.stderr
    assert list((tmp_path / "seeds").iterdir()) == []
