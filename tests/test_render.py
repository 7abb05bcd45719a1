"""How the chat turns answers into HTML: text stays text (the browser test checks the page itself)."""

from __future__ import annotations

import html
from pathlib import Path

from ui.library import trim_folder
from ui.render import render_status
from ui.render import text_html as _text

TRICKY = "What's <b>AWS</b> & \"Amazon Web Services (AWS)\" #1 *now* _here_ $$x$$ \\(y\\)\nnext line"


def test_text_is_escaped_once_and_keeps_every_character() -> None:
    out = str(_text(TRICKY))
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert html.unescape(out.replace("<br>", "\n")) == TRICKY


def test_status_lines_are_text_too() -> None:
    out = render_status(["- added <script>.txt as script.txt"])
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_the_upload_folder_is_trimmed_oldest_first(tmp_path: Path) -> None:
    import os

    for n in range(5):
        f = tmp_path / f"{n}" / "f.txt"
        f.parent.mkdir()
        f.write_bytes(b"x" * 1000)
        os.utime(f, (1_000_000 + n, 1_000_000 + n))
    trim_folder(tmp_path, 2500)
    assert sorted(p.parent.name for p in tmp_path.rglob("f.txt")) == ["3", "4"]
