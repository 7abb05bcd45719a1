from pathlib import Path

from qa.chunking import chunk_article
from qa.corpus import load_articles, read_article
from tests.conftest import AFP_ID, MS_ID, SEEDS


def test_every_txt_and_md_file_is_an_article_named_by_its_stem(corpus: Path) -> None:
    (corpus / "note.md").write_text("# A title\n\nSome words about Japan and AI.", encoding="utf-8")
    (corpus / "ignored.csv").write_text("a,b\n", encoding="utf-8")
    articles, skipped = load_articles(corpus)
    assert sorted(a.id for a in articles) == sorted([MS_ID, AFP_ID, "note"])
    assert skipped == []


def test_title_and_publisher_come_from_the_title_line_and_closing_line() -> None:
    a = read_article(SEEDS / f"{MS_ID}.txt")
    assert a.title.startswith("Microsoft et AWS promettent 17,9 milliards")
    assert a.source == "CryptoSlate"


def test_date_place_and_agency_come_from_the_header_and_byline() -> None:
    a = read_article(SEEDS / f"{AFP_ID}.txt")
    assert (a.date, a.place, a.source) == ("2024-04", "Washington", "Agence France-Presse")
    assert "Microsoft" in a.title


def test_markdown_front_matter_gives_the_metadata(tmp_path: Path) -> None:
    p = tmp_path / "x.md"
    p.write_text("---\ntitle: Hello\ndate: 2024-05-01\nsource: Wire\n---\n\nBody text here.", encoding="utf-8")
    a = read_article(p)
    assert (a.title, a.date, a.source) == ("Hello", "2024-05-01", "Wire")


def test_empty_binary_and_non_utf8_files_are_skipped_with_their_name(corpus: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    (corpus / "empty.txt").write_text("  \n", encoding="utf-8")
    (corpus / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus / "latin1.txt").write_bytes("Élysée à Paris, été".encode("latin-1"))
    articles, skipped = load_articles(corpus)
    assert len(articles) == 2
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "latin1.txt"}
    assert "UTF-8" in reasons["latin1.txt"]
    assert "latin1.txt" in caplog.text


def test_every_passage_is_the_exact_slice_of_its_article_at_its_offsets(corpus: Path) -> None:
    for a in load_articles(corpus)[0]:
        passages = chunk_article(a, 600, 120)
        assert passages
        for p in passages:
            assert a.text[p.start : p.end] == p.text
            for s, e in p.sentences:
                assert 0 <= s < e <= len(p.text) and p.text[s:e].strip() == p.text[s:e]


def test_passages_cover_the_whole_article(corpus: Path) -> None:
    for a in load_articles(corpus)[0]:
        covered = set()
        for p in chunk_article(a, 300, 60):
            covered.update(range(p.start, p.end))
        words = [i for i, ch in enumerate(a.text) if not ch.isspace()]
        assert all(i in covered for i in words)
