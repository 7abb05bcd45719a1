"""PDFs whose text is far larger than the file: refused in one line, and nothing is stored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

import qa
from qa.convert import from_pdf

LINE = b"(Le conseil municipal a vote le budget de la ville pour l annee prochaine.) ' "


def pdf_sharing_one_stream(pages: int, lines: int) -> bytes:
    """A PDF whose pages are all drawn by one compressed content stream of `lines` lines of text."""
    w = PdfWriter()
    helvetica = {NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"), NameObject("/BaseFont"): NameObject("/Helvetica")}
    font = w._add_object(DictionaryObject(helvetica))
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 10 Tf 12 TL 40 800 Td " + LINE * lines + b"ET")
    contents = w._add_object(stream.flate_encode())
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for _ in range(pages):
        page = w.add_blank_page(595, 842)
        page[NameObject("/Contents")] = contents
        page[NameObject("/Resources")] = resources
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_a_pdf_whose_pages_share_a_huge_compressed_stream_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.pdf"
    bomb.write_bytes(pdf_sharing_one_stream(pages=21, lines=6000))  # 21 pages of 500 kB of text each
    settings = qa.Settings.from_env(env={}, seeds_dir=tmp_path / "seeds")
    assert bomb.stat().st_size < 20_000 < settings.max_article_bytes  # the file's size passes the limit
    with pytest.raises(qa.SourceError) as refused:
        qa.add([bomb], settings)
    message = str(refused.value)
    assert "\n" not in message and "bomb.pdf" in message
    assert "text is larger than the limit of 2,000,000 bytes (QA_MAX_ARTICLE_BYTES)" in message
    assert not (tmp_path / "seeds").exists() or not any((tmp_path / "seeds").rglob("*"))


def test_the_text_limit_follows_the_setting(tmp_path: Path) -> None:
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(pdf_sharing_one_stream(pages=1, lines=100))  # about 7.5 kB of text
    with pytest.raises(qa.SourceError, match=r"larger than the limit of 5,000 bytes"):
        qa.add([pdf], qa.Settings.from_env(env={"QA_MAX_ARTICLE_BYTES": "5000"}, seeds_dir=tmp_path / "seeds"))
    added = qa.add([pdf], qa.Settings.from_env(env={}, seeds_dir=tmp_path / "seeds"))
    assert [a.duplicate_of for a in added] == [""]


def test_pages_that_share_a_content_stream_read_as_the_pages_they_show() -> None:
    # Read once, counted on every page: the text is the same as when each page is read.
    text = from_pdf(pdf_sharing_one_stream(pages=3, lines=4), "three.pdf").text
    assert text.count("Le conseil municipal a vote le budget") == 12


def test_reading_stops_at_the_deadline_between_pages() -> None:
    with pytest.raises(qa.SourceError, match=r"^slow\.pdf: reading the PDF's text took longer than 0 s \(stopped at page 1 of 2\)$"):
        from_pdf(pdf_sharing_one_stream(pages=2, lines=4), "slow.pdf", deadline_s=0)
