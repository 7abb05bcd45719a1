"""Issue 40, a chat people can act on: the real server (`qa serve`) in a subprocess, a real headless
Chromium, the real index and model. Citations opened to the marked sentence, the collection page
kept current, removal by ticking, asking within articles (chat and JSON API), conversations kept
in the browser and exported, plain-text copy, API docs offline, the phone layout, sources compared."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import copy_corpus
from tests.serving import start_server, stop_server
from tests.test_ui import _wait_for_text

pytestmark = pytest.mark.server
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
MALAYSIA = "d02_microsoft_malaisie"
# Two outlets, two figures for one investment: the chat shows both, marked as differing.
HINODE = {
    "hinode-courrier.md": (
        "---\ntitle: Hinode Motors construira une usine de batteries à Nagoya\nsource: Le Courrier de Nagoya\ndate: 2025-03-12\n"
        "url: https://courrier-nagoya.example/hinode-batteries\n---\n"
        "Le constructeur automobile Hinode Motors investira 1,2 milliard d'euros dans une usine de batteries à Nagoya, "
        "a annoncé le groupe mercredi.\n\nL'usine doit ouvrir en 2027 et employer 900 personnes. Elle fournira les batteries "
        "des futurs modèles électriques du groupe.\n"
    ),
    "hinode-kyodo.md": (
        "---\ntitle: Nagoya accueillera l'usine de batteries de Hinode Motors\nsource: Kyodo News\ndate: 2025-03-13\n"
        "url: https://kyodo.example/hinode-nagoya\n---\n"
        "Hinode Motors va investir 1,5 milliard d'euros dans sa nouvelle usine de batteries de Nagoya, selon des sources "
        "proches du dossier.\n\nLe constructeur prévoit d'y produire des batteries pour ses voitures électriques à partir de 2027.\n"
    ),
}
HINODE_QUESTION = "Combien Hinode Motors va-t-il investir à Nagoya ?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("chat_page")
    seeds = copy_corpus(root / "seeds", (f"{MALAYSIA}.txt",))
    for name, text in HINODE.items():
        (seeds / name).write_text(text, encoding="utf-8")
    proc, url = start_server(root)
    yield url, root
    stop_server(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM:
        pytest.skip("no chromium on this machine (setup.sh installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_chat(browser: Any, url: str, width: int = 1280, height: int = 900, **context: Any) -> Any:
    page = browser.new_context(viewport={"width": width, "height": height}, **context).new_page()
    page.goto(url)
    page.wait_for_selector("#qa-input textarea", timeout=60_000)
    return page


def ask(page: Any, question: str, expect: str = "Sources") -> None:
    """Ask and wait for the whole answer (its last block is a folded source)."""
    before = page.locator("#qa-chat .qa-answer").count()
    page.fill("#qa-input textarea", question)
    page.click("#qa-send")
    page.wait_for_function("(n) => document.querySelectorAll('#qa-chat .qa-answer').length > n", arg=before, timeout=60_000)
    _wait_for_text(page, "#qa-chat", expect, 60_000)
    page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('#qa-chat .qa-answer')].pop();"
        " return a && (a.querySelector('details.qa-source') || !a.querySelector('.qa-confidence')); }",
        timeout=30_000,
    )
    page.wait_for_timeout(300)  # the conversation is saved after the last step


# --- citations


@pytest.mark.browser
def test_a_citation_opens_the_article_at_the_marked_sentence(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    page = open_chat(browser, url)
    ask(page, "Combien Microsoft va-t-il investir en Malaisie ?", "2,2 milliards")
    answer = page.locator("#qa-chat .qa-answer").last
    quoted = answer.inner_text().split("[1]")[0].split("\n")[-1].strip()
    assert "2,2 milliards" in quoted
    # Sources by title, outlet and date; no ids nor offsets in what is shown.
    shown = answer.inner_text()
    assert "Agence France-Presse, 2024-05" in shown and MALAYSIA not in shown and "characters" not in shown
    with page.context.expect_page() as opened:
        answer.locator("a.qa-cite").first.click()
    article = opened.value
    article.wait_for_selector("mark#quote")
    assert " ".join(article.inner_text("mark#quote").split()) == " ".join(quoted.split())
    assert article.evaluate("() => { const r = document.querySelector('mark#quote').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }")
    header = article.inner_text("main")
    assert "Microsoft va investir 2,2 milliards de dollars en Malaisie" in article.inner_text("h1")
    assert "Agence France-Presse" in header and "2024-05" in header and "Kuala Lumpur" in header
    # Shown as text: the page has no script, and its policy allows none.
    r = httpx.get(article.url, timeout=30)
    assert "script-src" not in r.headers["content-security-policy"] and "default-src 'none'" in r.headers["content-security-policy"]
    assert "<script" not in r.text


def test_the_article_page_shows_the_original_link_and_text_as_text(server: tuple[str, Path]) -> None:
    url, root = server
    (root / "seeds" / "balise.md").write_text(
        "---\ntitle: Une <b>balise</b> & co\nsource: Test <i>Press</i>\nauthor: Ana Ruiz\ndate: 2025-01-02\nurl: https://press.example/balise\n---\n"
        "Le texte <script>alert(1)</script> reste du texte.\n",
        encoding="utf-8",
    )
    assert httpx.post(url + "api/index", timeout=120).status_code == 200
    page = httpx.get(url + "articles/balise", params={"start": 0, "end": 5}, timeout=30).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "Une &lt;b&gt;balise&lt;/b&gt; &amp; co" in page and "Ana Ruiz" in page and 'href="https://press.example/balise"' in page
    missing = httpx.get(url + "articles/no-such-article", timeout=30)
    assert missing.status_code == 404 and "not in the collection" in missing.text
    # The same guards as every route: a host name the server does not serve is refused.
    assert httpx.get(url + "articles/balise", headers={"Host": "evil.example"}, timeout=30).status_code == 400


# --- the collection page


@pytest.mark.browser
def test_the_page_is_current_after_an_add_through_the_api(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    page = open_chat(browser, url)
    _wait_for_text(page, "#qa-header", "articles")
    before = int(re.search(r"(\d+) articles", page.inner_text("#qa-header")).group(1))  # type: ignore[union-attr]
    files = {"files": ("sapporo.txt", "Hokkai Brewery ouvre à Sapporo\n\nHokkai Brewery ouvrira une brasserie à Sapporo en 2026.".encode(), "text/plain")}
    assert httpx.post(url + "api/articles", files=files, timeout=120).json()["added"] == 1
    # The open page follows within a few seconds; a page loaded now shows it at once.
    _wait_for_text(page, "#qa-header", f"{before + 1} articles", 30_000)
    fresh = open_chat(browser, url)
    _wait_for_text(fresh, "#qa-header", f"{before + 1} articles")
    fresh.get_by_role("tab", name="Collection").click()
    _wait_for_text(fresh, "#qa-articles", "Hokkai Brewery ouvre à Sapporo")


@pytest.mark.browser
def test_articles_are_removed_by_ticking_them_then_confirming(server: tuple[str, Path], browser: Any) -> None:
    url, root = server
    (root / "seeds" / "a-retirer.txt").write_text("Un article à retirer\n\nLa société Retirex ouvrira un bureau à Lyon.", encoding="utf-8")
    assert httpx.post(url + "api/index", timeout=120).status_code == 200
    page = open_chat(browser, url, 1280, 900)
    page.get_by_role("tab", name="Collection").click()
    _wait_for_text(page, "#qa-articles", "Un article à retirer")
    page.fill("#qa-articles input[placeholder^='Search']", "retirer")  # Gradio's own table search
    row = page.locator("#qa-articles [role=row]", has_text="Un article à retirer")
    row.locator("input[type=checkbox]").check()
    page.wait_for_timeout(500)
    page.click("#qa-remove")
    _wait_for_text(page, "#qa-confirm", "Remove 1 article(s)")
    assert "Un article à retirer" in page.inner_text("#qa-confirm") and (root / "seeds" / "a-retirer.txt").exists()
    page.click("#qa-remove-yes")
    _wait_for_text(page, "#qa-status", "Index updated", 120_000)
    assert "Removed 1 article(s): “Un article à retirer”" in page.inner_text("#qa-status")
    assert not (root / "seeds" / "a-retirer.txt").exists()
    page.fill("#qa-articles input[placeholder^='Search']", "")
    assert "Un article à retirer" not in page.inner_text("#qa-articles")


# --- asking within


@pytest.mark.browser
def test_a_question_asked_within_one_article_is_answered_from_it(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    page = open_chat(browser, url)
    ask(page, "Combien Microsoft va-t-il investir ?", "2,9 milliards")
    page.click("#qa-within")  # the accordion
    page.click("#qa-within-docs input")
    page.get_by_role("option", name=re.compile("Malaisie")).click()
    page.keyboard.press("Escape")
    _wait_for_text(page, "#qa-within", "Asking within: Microsoft va investir 2,2 milliards")
    ask(page, "Combien Microsoft va-t-il investir ?", "2,2 milliards")
    last = page.locator("#qa-chat .qa-answer").last.inner_text()
    assert "Asked within" in last or "Question posée dans" in last
    assert "2,2 milliards" in last and "2,9 milliards" not in last
    page.click("#qa-within-reset")
    _wait_for_text(page, "#qa-within", "Ask within: all articles")


def test_the_json_api_asks_and_searches_within(server: tuple[str, Path]) -> None:
    url, _ = server
    body = {"question": "Combien Microsoft va-t-il investir ?", "doc_ids": [MALAYSIA]}
    d = httpx.post(url + "api/ask", json=body, timeout=60).json()
    assert "2,2 milliards" in d["answer"] and {c["doc_id"] for c in d["citations"]} == {MALAYSIA}
    hits = httpx.get(url + "api/search", params={"q": "Microsoft", "k": 10, "source": "AFP", "since": "2024-05"}, timeout=60).json()["hits"]
    assert hits and {h["doc_id"] for h in hits} == {MALAYSIA}
    for params in ({"q": "Microsoft", "since": "lundi"}, {"q": "Microsoft", "doc_ids": "nope"}):
        r = httpx.get(url + "api/search", params=params, timeout=60)
        assert r.status_code == 400 and list(r.json()) == ["error"], r.text
    r = httpx.post(url + "api/ask", json={**body, "until": "2024-13"}, timeout=60)
    assert r.status_code == 400 and "until: '2024-13' is not a date" in r.json()["error"]


# --- conversations, copy, export


@pytest.mark.browser
def test_a_chat_is_restored_after_a_reload_and_exported(server: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    url, _ = server
    page = open_chat(browser, url)
    ask(page, "Who is the president of Microsoft quoted in the announcement?", "Brad Smith")
    page.reload()
    page.wait_for_selector("#qa-input textarea", timeout=60_000)
    _wait_for_text(page, "#qa-chat", "Brad Smith")
    _wait_for_text(page, "#qa-past-chats", "Who is the president of Microsoft")
    with page.expect_download() as download:
        page.click("#qa-export")
    saved = tmp_path / "chat.md"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8")
    assert "**You:** Who is the president of Microsoft quoted in the announcement?" in text
    assert "Brad Smith" in text and "[1]" in text and "Sources:" in text and f"{url}articles/" in text
    assert "<" not in text
    # A new chat starts empty; the past one is still listed and opens again.
    page.click("#qa-new-chat")
    page.wait_for_function("() => !document.querySelector('#qa-chat .qa-answer')", timeout=10_000)
    page.locator("#qa-past-chats").get_by_text("Who is the president of Microsoft").click()
    _wait_for_text(page, "#qa-chat", "Brad Smith")


@pytest.mark.browser
def test_copy_gives_text_and_labels_read_as_text(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    page = open_chat(browser, url, permissions=["clipboard-read", "clipboard-write"])
    ask(page, "Combien Microsoft va-t-il investir au Japon ?", "2,9 milliards")
    page.locator("#qa-chat button[aria-label='Copy message']").last.click()
    page.wait_for_timeout(300)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "<" not in copied and "&" not in copied, copied
    assert "2,9 milliards de dollars" in copied and "[1]" in copied and "Sources" in copied
    assert re.search(r"Confiance\u202f: (sûr|probable|incertain) \([01]\.\d\d\)", copied), copied
    assert re.search(r"\[1\] .+ — CryptoSlate http://127\.0\.0\.1:\d+/articles/", copied), copied
    labels = [page.locator(sel).last.get_attribute("aria-label") or "" for sel in ("#qa-chat [aria-label^='Question']", "#qa-chat [aria-label^='Answer']")]
    assert all(label and "<" not in label for label in labels), labels
    assert page.locator("#qa-chat button[aria-label*='hare']").count() == 0  # no share icon


# --- confidence in words, sources compared


@pytest.mark.browser
def test_sources_that_differ_are_both_shown_and_marked(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    d = httpx.post(url + "api/ask", json={"question": HINODE_QUESTION}, timeout=60).json()
    assert d["agreement"] == "differ" and len(d["versions"]) == 2
    page = open_chat(browser, url)
    ask(page, HINODE_QUESTION, "1,2 milliard")
    versions = page.locator("#qa-chat .qa-versions.qa-differ").last
    text = versions.inner_text()
    assert "Les sources divergent" in text and "1,5 milliard" in text and "1,2 milliard" in text
    assert "Kyodo News" in text and "Le Courrier de Nagoya" in text
    bold = versions.locator("strong").all_inner_texts()
    assert any("1,5 milliard" in b for b in bold) and any("1,2 milliard" in b for b in bold)
    # Confidence in words, the number on demand; none on a refusal.
    confidence = page.locator("#qa-chat .qa-confidence").last
    assert confidence.inner_text().split(":")[-1].strip() in ("sûr", "probable", "incertain")
    assert re.match(r"\d\.\d\d", confidence.locator("span").get_attribute("title") or "")
    ask(page, "Quelle est la recette de la ratatouille ?", "ne le disent pas")
    assert page.locator("#qa-chat .qa-answer").last.locator(".qa-confidence").count() == 0


# --- API docs offline, phone layout


@pytest.mark.browser
def test_api_docs_render_with_every_request_beyond_loopback_blocked(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    context = browser.new_context()
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        if re.match(r"^https?://127\.0\.0\.1[:/]", route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.goto(url + "api/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/ask" in paths and "/api/search" in paths
    assert not [u for u in blocked if not u.startswith("data:")], blocked
    context.close()


@pytest.mark.browser
def test_on_a_phone_the_question_box_is_in_view_and_nothing_covers_the_answer(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    page = open_chat(browser, url, 390, 844, is_mobile=True, has_touch=True)
    in_view = "(sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && r.width > 0; }"
    assert page.evaluate(in_view, "#qa-input textarea")
    assert page.evaluate("() => !document.querySelector('#qa-sidebar.open')")  # the side panel does not cover the chat
    ask(page, "Combien AWS va-t-il investir au Japon ?", "15 milliards")
    assert page.evaluate(in_view, "#qa-input textarea")
    # Whatever is drawn at the answer's first line is the answer itself (no label over it).
    assert page.evaluate(
        "() => { const a = [...document.querySelectorAll('#qa-chat .qa-answer')].pop(); a.scrollIntoView();"
        " const r = a.getBoundingClientRect(); const hit = document.elementFromPoint(r.left + 20, r.top + 8);"
        " return a.contains(hit) || hit.contains(a); }"
    )


# --- screenshots, looked at by whoever changes the page (the README's is copied from here)


@pytest.mark.browser
def test_screenshots_of_the_chat_a_citation_and_the_collection(server: tuple[str, Path], browser: Any, tmp_path: Path) -> None:
    url, _ = server
    for width, height, name in ((1280, 900, "wide"), (390, 844, "phone")):
        page = open_chat(browser, url, width, height)
        ask(page, HINODE_QUESTION, "1,2 milliard")
        page.screenshot(path=str(tmp_path / f"{name}-chat.png"))
        with page.context.expect_page() as opened:
            page.locator("#qa-chat .qa-answer a.qa-cite").first.click()
        opened.value.wait_for_selector("mark#quote")
        opened.value.screenshot(path=str(tmp_path / f"{name}-citation.png"))
        page.get_by_role("tab", name="Collection").click()
        _wait_for_text(page, "#qa-articles", "Hinode Motors")
        page.screenshot(path=str(tmp_path / f"{name}-collection.png"))
        page.context.close()
    assert len(list(tmp_path.glob("*.png"))) == 6
