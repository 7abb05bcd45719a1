"""`qa mcp` driven by the official MCP SDK's own client: over stdio (the real `qa` command as a
subprocess, as an assistant launches it) and over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import MS_ID, copy_corpus
from tests.serving import free_port, stop_server

pytestmark = pytest.mark.process

QUESTION = "How much will Amazon Web Services invest in Japan, and by when?"
OSAKA = (
    "La société Kansai Robotics ouvrira un entrepôt automatisé à Osaka en mars, avec 300 robots livrés par un fournisseur "
    "de Kyoto, pour un coût de 2 milliards de yens selon son directeur des opérations, qui prévoit 150 embauches."
)


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QA_")}


def over_stdio(index: Path, step: Callable[[Client], Awaitable[Any]]) -> Any:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "qa.cli", "mcp", "--seeds", str(index.parent / "seeds"), "--index", str(index)], env=env()
    )

    async def session() -> Any:
        async with Client(params, read_timeout_seconds=120) as client:
            return await step(client)

    return anyio.run(session)


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_over_stdio_the_tools_answer_with_citations_and_a_bad_argument_is_a_one_line_error(seeds_index: Path) -> None:
    async def step(client: Client) -> dict[str, Any]:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        return {
            "tools": tools,
            "ask": await client.call_tool("ask", {"question": QUESTION}),
            "search": await client.call_tool("search", {"query": "Sakura Internet", "k": 2}),
            "articles": await client.call_tool("list_articles", {}),
            "bad k": await client.call_tool("search", {"query": "AWS", "k": "many"}),
            "empty": await client.call_tool("ask", {"question": "   "}),
            "write": await client.call_tool("add_article", {"url": "https://example.com/news"}),
        }

    out = over_stdio(seeds_index, step)
    assert set(out["tools"]) == {"ask", "search", "list_articles"}  # no writing tool without --allow-writes
    assert out["tools"]["ask"].description.startswith("Answer a question from the news articles")
    assert out["tools"]["ask"].input_schema["required"] == ["question"] and "history" in out["tools"]["ask"].input_schema["properties"]

    ask = out["ask"]
    assert not ask.is_error
    a = ask.structured_content
    assert "15 milliards de dollars" in a["short_answer"] and not a["abstained"] and a["confidence"] > 0.5
    first = a["citations"][0]
    assert first["n"] == 1 and first["doc_id"] == MS_ID and first["source"] == "CryptoSlate" and "[1]" in a["answer"]
    article = (seeds_index.parent / "seeds").glob(f"{MS_ID}.*")
    assert next(article).read_text(encoding="utf-8")[first["start"] : first["end"]] == first["text"]
    assert text_of(ask).startswith("Short answer: ") and "[1] " in text_of(ask)  # what a client without structured output shows

    passages = out["search"].structured_content["passages"]
    assert len(passages) == 2 and "Sakura" in passages[0]["text"] and {"url", "start", "end", "date"} <= set(passages[0])
    rows = out["articles"].structured_content["articles"]
    assert MS_ID in {r["id"] for r in rows} and all("path" not in r for r in rows)

    for name in ("bad k", "empty", "write"):
        said = text_of(out[name])
        assert out[name].is_error and "\n" not in said and "Traceback" not in said, (name, said)
    assert text_of(out["bad k"]) == "Error executing tool search: k: Input should be a valid integer, unable to parse string as an integer"
    assert "empty" in text_of(out["empty"]).lower()


class Page(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = (
            '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Kansai Robotics à Osaka</title>'
            '<meta property="og:site_name" content="Le Fil Éco"></head><body><article><h1>Kansai Robotics à Osaka</h1>'
            f"<p>{OSAKA}</p><p>Les premiers robots arriveront en février, selon la société.</p></article></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def page_site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/kansai.html"
    server.shutdown()
    server.server_close()


def start_http(root: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "qa.cli", "mcp", "--http", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=root, env=env() | {"QA_ALLOW_PRIVATE_URLS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("qa mcp --http did not start")


def test_over_http_on_loopback_with_writes_an_added_link_is_answered(tmp_path: Path, page_site: str) -> None:
    copy_corpus(tmp_path / "seeds")  # no index yet: the server builds it first, as qa serve does
    proc, url = start_http(tmp_path, "--allow-writes")
    try:

        async def session() -> dict[str, Any]:
            async with Client(url, read_timeout_seconds=120) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                added = await client.call_tool("add_article", {"url": page_site})
                again = await client.call_tool("add_article", {"url": page_site})
                asked = await client.call_tool("ask", {"question": "Combien de robots Kansai Robotics aura-t-elle à Osaka ?"})
                refused = await client.call_tool("add_article", {"url": "file:///etc/passwd"})
                return {"names": names, "added": added, "again": again, "ask": asked, "refused": refused}

        out = anyio.run(session)
    finally:
        stop_server(proc)
    assert out["names"] == {"ask", "search", "list_articles", "add_article"}
    added = out["added"].structured_content
    assert added["added"] == ["kansai-robotics-a-osaka"] and added["index"].startswith("1 added")
    assert out["again"].structured_content["already"] == ["kansai-robotics-a-osaka"]
    a = out["ask"].structured_content
    assert a["citations"][0]["doc_id"] == "kansai-robotics-a-osaka" and a["citations"][0]["url"] == page_site
    assert "300" in (a["short_answer"] or a["answer"])
    refused = text_of(out["refused"])
    assert out["refused"].is_error and "only http:// and https:// links" in refused and "\n" not in refused
