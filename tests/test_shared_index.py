"""Several chat servers reading one index folder follow a build made by another process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import qa
from tests.conftest import copy_corpus
from tests.serving import start_server, stop_server

pytestmark = pytest.mark.server

NEW_ARTICLE = (
    "Le groupe Velmora ouvre un centre de données à Sapporo\n\n"
    "Le groupe Velmora a annoncé l'ouverture d'un centre de données à Sapporo pour 640 millions d'euros. "
    "Le site emploiera 85 personnes dès l'automne.\n"
)
QUESTION = "Combien coûte le centre de données de Velmora à Sapporo ?"


def ask(url: str, question: str) -> dict:  # type: ignore[type-arg]
    import httpx

    r = httpx.post(url + "api/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_servers_sharing_an_index_folder_answer_from_a_build_made_elsewhere(tmp_path: Path) -> None:
    seeds = copy_corpus(tmp_path / "seeds")
    qa.build_index(seeds, tmp_path / "index")
    servers = [start_server(tmp_path) for _ in range(2)]
    try:
        for _, url in servers:
            assert ask(url, "How much will AWS invest in Japan?")["citations"]
        (seeds / "velmora.txt").write_text(NEW_ARTICLE, encoding="utf-8")
        report = qa.build_index(seeds, tmp_path / "index")  # this process: neither server built it
        assert report.added == ["velmora"]

        for _, url in servers:
            deadline = time.monotonic() + 60
            answer = ask(url, QUESTION)
            while "640 millions" not in (answer.get("short_answer") or {}).get("text", "") and time.monotonic() < deadline:
                time.sleep(1)
                answer = ask(url, QUESTION)
            assert "640 millions" in answer["short_answer"]["text"], answer
            assert answer["citations"][0]["doc_id"] == "velmora"
    finally:
        for proc, _ in servers:
            stop_server(proc)
