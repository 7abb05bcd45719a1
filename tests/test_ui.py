"""The real Gradio server in a subprocess, talked to with gradio_client and a headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.load import start_server as bench_server
from bench.load import stop_server
from tests.conftest import ROOT, copy_corpus

HOSTILE = (
    "Le fonds Zorblax investit 7 milliards au Japon\n\n"
    "Le fonds Zorblax investira 7 milliards de dollars dans des centres de données au Japon "
    '<script>window.__xss = 1</script> selon son communiqué <img src=x onerror="window.__xss = 2">.\n'
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def start_server(root: Path, host: str = "127.0.0.1", **env: str) -> tuple[subprocess.Popen[bytes], str]:
    return bench_server(root / "seeds", root / "index", cwd=root, host=host, env=env)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("served")
    seeds = copy_corpus(root / "seeds", ("d02_microsoft_malaisie.txt",))
    (seeds / "zorblax.txt").write_text(HOSTILE, encoding="utf-8")
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
    assert (seeds / "Kyoto_energie.txt").exists() and not (seeds / "latin.txt").exists()
    assert "5 articles" in header
    text = client.predict("Combien Kyoto Green Power investira-t-il ?", api_name="/chat")
    assert "42 milliards" in text


def test_rebuild_without_changes_keeps_serving(client) -> None:  # type: ignore[no-untyped-def]
    status, _table, _header = client.predict(api_name="/rebuild")
    assert "Index updated" in status or "already" in status
    assert "[1]" in client.predict("Et AWS ?", api_name="/chat")


def test_beyond_loopback_without_credentials_writing_is_disabled(tmp_path: Path) -> None:
    from gradio_client import Client

    copy_corpus(tmp_path / "seeds")
    proc, url = start_server(tmp_path, host="0.0.0.0")
    try:
        c = Client(url, verbose=False)
        status, *_ = c.predict(api_name="/rebuild")
        assert "disabled" in status
        assert "[1]" in c.predict("Combien AWS investira au Japon ?", api_name="/chat")
    finally:
        stop_server(proc)


@pytest.mark.browser
def test_browser_question_gets_a_cited_answer_and_html_stays_text(server: tuple[str, Path]) -> None:
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
        assert "articles" in page.inner_text("#qa-header")

        page.fill("#qa-input textarea", "Combien le fonds Zorblax investit-il ?")
        page.click("#qa-send")
        page.wait_for_function("document.querySelector('#qa-chat').innerText.includes('Sources')", timeout=30_000)
        chat = page.inner_text("#qa-chat")
        assert "<script>" in chat and "7 milliards" in chat
        assert page.evaluate("window.__xss") is None
        page.wait_for_timeout(1000)

        page.fill("#qa-input textarea", "Combien Microsoft va-t-il investir au Japon ?")
        page.click("#qa-send")
        page.wait_for_function("document.querySelector('#qa-chat').innerText.includes('2,9 milliards')", timeout=30_000)
        page.wait_for_timeout(1000)  # let the reply finish streaming before the next question
        bold = [t.strip() for t in page.locator("#qa-chat .message strong").all_inner_texts()]
        assert any("2,9 milliards" in t for t in bold), bold
        assert "confidence 0." in page.inner_text("#qa-chat") or "confidence 1." in page.inner_text("#qa-chat")
        page.fill("#qa-input textarea", "Et AWS ?")
        page.click("#qa-send")
        page.wait_for_function("document.querySelector('#qa-chat').innerText.includes('15 milliards')", timeout=30_000)
        page.wait_for_timeout(600)
        page.locator("#qa-chat details").last.click()
        page.wait_for_timeout(300)
        assert page.locator("#qa-chat mark").count() >= 1
        shot = ROOT / "docs" / "screenshot.png"
        shot.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(shot))
        browser.close()
