"""The real Gradio server in a subprocess, talked to with gradio_client and a headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import copy_corpus
from tests.serving import start_server, stop_server

HOSTILE = (
    "Le fonds Zorblax investit 7 milliards au Japon\n\n"
    "Le fonds Zorblax investira 7 milliards de dollars dans des centres de données au Japon "
    '<script>window.__xss = 1</script> selon son communiqué <img src=x onerror="window.__xss = 2">.\n'
)
# Characters that Markdown, HTML or LaTeX would read as syntax: the chat must show them as written.
TRICKY = (
    "Le fonds Quintar & Fils\n\n"
    "Le fonds Quintar & Fils (#1 au Japon) a levé 3*4 = 12 milliards de yens pour _Osaka_ <2027> "
    "selon $$x^2$$ et \\(AWS\\) [lien](http://exemple.test) — l'opération « C'est fait ! »\n"
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("served")
    seeds = copy_corpus(root / "seeds", ("d02_microsoft_malaisie.txt",))
    (seeds / "zorblax.txt").write_text(HOSTILE, encoding="utf-8")
    (seeds / "quintar.txt").write_text(TRICKY, encoding="utf-8")
    proc, url = start_server(root)
    yield url, root
    stop_server(proc)


@pytest.fixture(scope="module")
def client(server: tuple[str, Path]):  # type: ignore[no-untyped-def]
    from gradio_client import Client

    return Client(server[0], verbose=False)


def test_chat_endpoint_answers_french_with_markers_and_sources(client) -> None:  # type: ignore[no-untyped-def]
    text = client.predict("Combien Microsoft va-t-il investir au Japon ?", api_name="/chat")
    assert "2,9 milliards" in text and "[1]" in text and "Sources:" in text
    assert "Short answer: 2,9 milliards" in text and "Confidence: " in text


def test_chat_endpoint_answers_english(client) -> None:  # type: ignore[no-untyped-def]
    text = client.predict("Who is the president of Microsoft quoted in the announcement?", api_name="/chat")
    assert "Brad Smith" in text and "[1]" in text


def test_chat_endpoint_declines_what_the_articles_do_not_say(client) -> None:  # type: ignore[no-untyped-def]
    assert "ne le disent pas" in client.predict("Quelle est la recette de la ratatouille ?", api_name="/chat")


def test_an_empty_message_gets_a_clear_error(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match="empty"):
        client.predict("   ", api_name="/chat")


def test_twenty_concurrent_conversations_all_get_answers(server: tuple[str, Path]) -> None:
    from gradio_client import Client

    questions = [
        "Combien AWS investira au Japon ?",
        "Who is Brad Smith?",
        "Quel premier ministre japonais ?",
        "Which universities take part?",
        "What is the capital of Australia?",
    ] * 4

    def ask(q: str) -> str:
        return Client(server[0], verbose=False).predict(q, api_name="/chat")

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(ask, questions))
    assert len(answers) == 20 and all(isinstance(a, str) and a for a in answers)


def test_upload_refuses_bad_files_and_adds_good_ones_then_rebuilds(client, server: tuple[str, Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import handle_file

    good = tmp_path / "Kyoto énergie.txt"
    good.write_text(
        "Kyoto Green Power investit\n\nLa société Kyoto Green Power investira 42 milliards de yens dans le solaire.",
        encoding="utf-8",
    )
    bad = tmp_path / "latin.txt"
    bad.write_bytes("Élysée été".encode("latin-1"))
    status, _table, header, _ = client.predict([handle_file(str(good)), handle_file(str(bad))], api_name="/upload")
    assert "added" in status and "refused" in status and "UTF-8" in status and "Index updated" in status
    seeds = server[1] / "seeds"
    assert (seeds / "Kyoto_énergie.txt").exists() and not (seeds / "latin.txt").exists()
    assert "6 articles" in header
    text = client.predict("Combien Kyoto Green Power investira-t-il ?", api_name="/chat")
    assert "42 milliards" in text


def test_rebuild_without_changes_keeps_serving(client) -> None:  # type: ignore[no-untyped-def]
    status, _table, _header = client.predict(api_name="/rebuild")
    assert "Index updated" in status or "already" in status
    assert "[1]" in client.predict("Et AWS ?", api_name="/chat")


def test_beyond_loopback_without_credentials_writing_is_disabled(tmp_path: Path) -> None:
    from gradio_client import Client

    copy_corpus(tmp_path / "seeds")
    proc, url = start_server(tmp_path, public=True)
    try:
        c = Client(url, verbose=False)
        status, *_ = c.predict(api_name="/rebuild")
        assert "disabled" in status
        assert "[1]" in c.predict("Combien AWS investira au Japon ?", api_name="/chat")
    finally:
        stop_server(proc)


def test_chat_endpoint_refuses_what_is_not_a_question_with_a_clear_message(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match="must be text"):
        client.predict(123, api_name="/chat")


def _raw_chat(url: str, raw_json: str) -> str:
    """/chat through Gradio's HTTP protocol with a body as given (gradio_client cannot send lone surrogates)."""
    import httpx

    r = httpx.post(url + "gradio_api/call/chat", content=raw_json, headers={"Content-Type": "application/json"}, timeout=30)
    r.raise_for_status()
    return httpx.get(url + f"gradio_api/call/chat/{r.json()['event_id']}", timeout=60).text


def test_chat_endpoint_answers_despite_a_lone_surrogate(server: tuple[str, Path]) -> None:
    stream = _raw_chat(server[0], '{"data": ["\\ud800 How much will AWS invest in Japan?"]}')
    assert "event: complete" in stream and "15 milliards" in stream


def test_json_api_answers_despite_a_lone_surrogate(server: tuple[str, Path]) -> None:
    import httpx

    body = '{"question": "\\ud800 How much will AWS invest in Japan?"}'
    r = httpx.post(server[0] + "api/ask", content=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code in (200, 422), r.text
    assert "15 milliards" in r.json()["answer"] if r.status_code == 200 else "error" in r.json()


# --- the JSON API, over real HTTP


def test_json_api_answers_with_citations_that_point_into_the_articles(server: tuple[str, Path]) -> None:
    import httpx

    url, root = server
    r = httpx.post(url + "api/ask", json={"question": "How much will AWS invest in Japan?"}, timeout=60)
    assert r.status_code == 200, r.text
    d = r.json()
    assert not d["abstained"] and 0 < d["confidence"] <= 1 and "15 milliards" in d["short_answer"]["text"]
    c = d["citations"][0]
    article = (root / "seeds" / f"{c['doc_id']}.txt").read_text(encoding="utf-8")
    assert article[c["start"] : c["end"]] == c["text"]
    q = d["quotes"][0]
    assert article[q["start"] : q["end"]] == q["text"]


def test_json_api_follow_up_reads_the_history(server: tuple[str, Path]) -> None:
    import httpx

    body = {"question": "Et AWS ?", "history": ["Combien Microsoft va-t-il investir au Japon ?"]}
    d = httpx.post(server[0] + "api/ask", json=body, timeout=60).json()
    assert "15 milliards" in d["answer"]


def test_json_api_searches_and_lists_articles(server: tuple[str, Path]) -> None:
    import httpx

    hits = httpx.get(server[0] + "api/search", params={"q": "Sakura Internet", "k": 3}, timeout=60).json()["hits"]
    assert len(hits) == 3 and {"doc_id", "start", "end", "score", "text", "title"} <= set(hits[0])
    articles = httpx.get(server[0] + "api/articles", timeout=60).json()["articles"]
    assert {"zorblax", "quintar"} <= {a["id"] for a in articles}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [({"question": "   "}, 400, "empty"), ({"question": 123}, 422, "question"), ({}, 422, "question"), ({"question": "x" * 200_000}, 422, "question")],
)
def test_json_api_bad_requests_get_a_clear_error(server: tuple[str, Path], body: dict, status: int, message: str) -> None:  # type: ignore[type-arg]
    import httpx

    r = httpx.post(server[0] + "api/ask", json=body, timeout=60)
    assert r.status_code == status and message in r.json()["error"]


def test_json_api_has_an_openapi_page(server: tuple[str, Path]) -> None:
    import httpx

    spec = httpx.get(server[0] + "api/openapi.json", timeout=30).json()
    assert {"/api/ask", "/api/search", "/api/articles"} <= set(spec["paths"])


# --- who may write beyond loopback


@pytest.fixture(scope="module")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("remote")
    copy_corpus(root / "seeds")
    (root / "tmp").mkdir()
    proc, url = start_server(root, public=True, QA_ADMIN_USER="editor", QA_ADMIN_PASSWORD="s3cret-pass", TMPDIR=str(root / "tmp"))
    yield url, root
    stop_server(proc)
    # Gradio's temporary files (the uploads) were the server's own: gone with it.
    assert not list((root / "tmp").glob("qa-serve-*")) and not list((root / "tmp").rglob("x.txt"))


def _upload(url: str, cookies: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    import httpx

    files = {"files": ("x.txt", b"Un article\n\nDu texte.", "text/plain")}
    return httpx.post(url + "gradio_api/upload", files=files, cookies=cookies, timeout=30)


def test_beyond_loopback_gradio_upload_route_needs_a_login(remote_server: tuple[str, Path]) -> None:
    import httpx

    url, _ = remote_server
    assert _upload(url).status_code == 403
    assert httpx.post(url + "api/login", json={"user": "editor", "password": "wrong"}, timeout=30).status_code == 401
    login = httpx.post(url + "api/login", json={"user": "editor", "password": "s3cret-pass"}, timeout=30)
    assert login.status_code == 200 and "qa_session" in login.cookies
    assert _upload(url, dict(login.cookies)).status_code == 200


def test_beyond_loopback_json_api_writes_need_credentials(remote_server: tuple[str, Path]) -> None:
    import httpx

    url, _ = remote_server
    assert httpx.post(url + "api/index", timeout=60).status_code == 401
    assert httpx.post(url + "api/index", auth=("editor", "nope"), timeout=60).status_code == 401
    r = httpx.post(url + "api/index", auth=("editor", "s3cret-pass"), timeout=120)
    assert r.status_code == 200 and "Index updated" in r.json()["status"]
    assert httpx.post(url + "api/ask", json={"question": "Combien AWS investira au Japon ?"}, timeout=60).status_code == 200


def test_beyond_loopback_without_credentials_no_route_accepts_files(tmp_path: Path) -> None:
    import httpx

    copy_corpus(tmp_path / "seeds")
    proc, url = start_server(tmp_path, public=True)
    try:
        assert _upload(url).status_code == 403
        assert httpx.post(url + "api/index", timeout=60).status_code == 403
        assert httpx.post(url + "api/login", json={"user": "", "password": ""}, timeout=30).status_code == 403
    finally:
        stop_server(proc)


@pytest.mark.browser
def test_browser_question_gets_a_cited_answer_and_html_stays_text(server: tuple[str, Path], tmp_path: Path) -> None:
    if not CHROMIUM:
        pytest.skip("no chromium on this machine (setup.sh installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    url = server[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url)
        page.wait_for_selector("#qa-input textarea", timeout=60_000)
        _wait_for_text(page, "#qa-header", "articles")

        page.fill("#qa-input textarea", "Combien le fonds Zorblax investit-il ?")
        page.click("#qa-send")
        _wait_for_text(page, "#qa-chat", "Sources")
        chat = page.inner_text("#qa-chat")
        assert "<script>" in chat and "7 milliards" in chat
        assert page.evaluate("window.__xss") is None
        page.wait_for_timeout(1000)

        page.fill("#qa-input textarea", "Combien Microsoft va-t-il investir au Japon ?")
        page.click("#qa-send")
        _wait_for_text(page, "#qa-chat", "2,9 milliards")
        page.wait_for_timeout(1000)  # let the reply finish streaming before the next question
        bold = [t.strip() for t in page.locator("#qa-chat .message strong").all_inner_texts()]
        assert any("2,9 milliards" in t for t in bold), bold
        assert page.locator("#qa-chat .qa-confidence").last.inner_text().split(":")[-1].strip() in ("sûr", "probable", "incertain")
        page.fill("#qa-input textarea", "Et AWS ?")
        page.click("#qa-send")
        _wait_for_text(page, "#qa-chat", "15 milliards")
        page.wait_for_timeout(600)
        page.locator("#qa-chat details").last.click()
        page.wait_for_timeout(300)
        assert page.locator("#qa-chat mark").count() >= 1
        # The README's image comes from tests/test_chat_page.py's screenshots.

        # Text is shown exactly as written: apostrophes, parentheses, #, *, _, $$, <, & and backslashes.
        question = "What's the Quintar & Fils fund raising (#1 in Japan)?"
        page.fill("#qa-input textarea", question)
        page.click("#qa-send")
        _wait_for_text(page, "#qa-chat", "12 milliards")
        page.wait_for_timeout(1000)
        assert question in [t.strip() for t in page.locator("#qa-chat .message").all_inner_texts()]
        page.locator("#qa-chat details").last.click()
        page.wait_for_timeout(300)
        shown = " ".join(page.locator("#qa-chat blockquote").last.inner_text().split())
        assert shown == " ".join(TRICKY.split("\n\n", 1)[1].split())  # the passage: the story, not its title line
        browser.close()


def _wait_for_text(page, selector: str, text: str, timeout: int = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Wait until the element shows `text`. An element Gradio has not rendered yet shows nothing:
    a busy machine renders the status box after the test starts waiting for it."""
    page.wait_for_function(
        "([selector, text]) => (document.querySelector(selector)?.innerText ?? '').includes(text)",
        arg=[selector, text],
        timeout=timeout,
    )


def _chromium(p):  # type: ignore[no-untyped-def]
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


@pytest.mark.browser
def test_browser_login_beyond_loopback_lets_the_chat_upload(remote_server: tuple[str, Path], tmp_path: Path) -> None:
    if not CHROMIUM:
        pytest.skip("no chromium on this machine (setup.sh installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    url, root = remote_server
    article = tmp_path / "Hokkaido solaire.txt"
    article.write_text("Hokkaido Solar investit\n\nHokkaido Solar investira 8 milliards de yens dans des panneaux.", encoding="utf-8")
    with sync_playwright() as p:
        browser = _chromium(p)
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("tab", name="Collection").click()
        page.locator("#qa-user").locator("input, textarea").first.fill("editor")
        page.locator("#qa-password").locator("input, textarea").first.fill("s3cret-pass")
        page.click("#qa-login")
        _wait_for_text(page, "#qa-status", "Logged in")
        page.set_input_files("#qa-files input[type=file]", str(article))
        page.wait_for_timeout(1500)  # the file goes to Gradio's upload route, which checks the session cookie
        page.click("#qa-add")
        _wait_for_text(page, "#qa-status", "Index updated", 120_000)
        assert "added Hokkaido solaire.txt: “Hokkaido Solar investit”" in page.inner_text("#qa-status")
        browser.close()
    assert (root / "seeds" / "Hokkaido_solaire.txt").exists()


@pytest.mark.browser
def test_browser_upload_of_a_web_page_and_a_pdf_then_a_question_about_them(server: tuple[str, Path], tmp_path: Path) -> None:
    if not CHROMIUM:
        pytest.skip("no chromium on this machine (setup.sh installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    from tests.test_collection import EN_PAGE, make_pdf

    page_file = tmp_path / "kyoto.html"
    page_file.write_text(EN_PAGE, encoding="utf-8")
    pdf = make_pdf(
        tmp_path / "rapport.pdf",
        ["Le port de Yokohama modernisera ses terminaux pour 60 milliards de yens d'ici 2028, a annoncé la préfecture de Kanagawa. " * 2],
        "Yokohama modernise son port",
        "Préfecture de Kanagawa",
    )
    url = server[0]
    with sync_playwright() as p:
        browser = _chromium(p)
        page = browser.new_page()
        page.goto(url)
        page.get_by_role("tab", name="Collection").click()
        page.set_input_files("#qa-files input[type=file]", [str(page_file), str(pdf)])
        page.wait_for_timeout(1500)
        page.click("#qa-add")
        _wait_for_text(page, "#qa-status", "Index updated", 120_000)
        status = page.inner_text("#qa-status")
        assert "added kyoto.html: “Kyoto Robotics raises 8 billion yen for warehouse robots”" in status, status
        assert "added rapport.pdf: “Yokohama modernise son port”" in status, status
        assert "Tokyo Business Daily" in page.inner_text("#qa-articles")
        page.get_by_role("tab", name="Chat").click()
        page.fill("#qa-input textarea", "How much did Kyoto Robotics raise?")
        page.click("#qa-send")
        _wait_for_text(page, "#qa-chat", "8 billion yen")
        browser.close()
