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


def test_passages_cover_the_whole_story(corpus: Path) -> None:
    for a in load_articles(corpus)[0]:
        covered = set()
        for p in chunk_article(a, 300, 60):
            covered.update(range(p.start, p.end))
        not_story = {i for s, e in a.boilerplate for i in range(s, e)}  # title line, dateline, byline, footer
        words = [i for i, ch in enumerate(a.text) if not ch.isspace() and i not in not_story]
        assert not_story and all(i in covered for i in words)


def test_symbolic_links_are_followed_neither_to_files_nor_to_folders(corpus: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Outside\n\nA file outside the seeds folder.", encoding="utf-8")
    (corpus / "linked.txt").symlink_to(outside / "secret.txt")
    (corpus / "linked_folder").symlink_to(outside, target_is_directory=True)
    articles, skipped = load_articles(corpus)
    assert sorted(a.id for a in articles) == sorted([MS_ID, AFP_ID])
    assert [Path(s.path).name for s in skipped] == ["linked.txt"] and "symbolic link" in skipped[0].reason


def test_files_in_hidden_folders_are_not_articles(corpus: Path) -> None:
    (corpus / ".git").mkdir()
    (corpus / ".git" / "notes.md").write_text("# Notes\n\nNot an article.", encoding="utf-8")
    assert sorted(a.id for a in load_articles(corpus)[0]) == sorted([MS_ID, AFP_ID])


def test_utf16_with_a_byte_order_mark_is_decoded(tmp_path: Path) -> None:
    text = "Un article en UTF-16\n\nSoftBank investit 150 milliards de yens au Japon."
    (tmp_path / "u16.txt").write_bytes(text.encode("utf-16"))
    a = read_article(tmp_path / "u16.txt")
    assert not isinstance(a, str) and a.text == text and a.title == "Un article en UTF-16"


def test_an_article_over_the_size_limit_is_skipped_with_a_clear_reason(corpus: Path) -> None:
    (corpus / "huge.txt").write_text("x" * 5_000_000, encoding="utf-8")
    articles, skipped = load_articles(corpus)
    assert "huge" not in {a.id for a in articles}
    assert [Path(s.path).name for s in skipped] == ["huge.txt"] and "limit is 2,000,000" in skipped[0].reason


def test_an_upload_named_in_another_script_keeps_its_name(tmp_path: Path) -> None:
    from qa.corpus import add_article, safe_article_name

    assert safe_article_name("日本.txt") == "日本.txt"
    assert safe_article_name("../../etc/passwd.md") == "passwd.md"
    assert safe_article_name("a b<c>?.TXT") == "a_b_c.txt"
    saved = add_article(tmp_path, "日本.txt", b"Le Japon\n\nUn article.")
    assert saved == tmp_path.resolve() / "日本.txt" and saved.read_text(encoding="utf-8").startswith("Le Japon")


def test_a_news_dateline_gives_the_date_and_place(tmp_path: Path) -> None:
    p = tmp_path / "oracle.txt"
    p.write_text("Oracle to invest in Japan\n\nAustin, 2 April 2024 — Oracle said on Wednesday it would invest.\n", encoding="utf-8")
    a = read_article(p)
    assert (a.title, a.date, a.place, a.dateline) == ("Oracle to invest in Japan", "2024-04-02", "Austin", "Austin, 2 April 2024")


def test_a_wire_dateline_names_the_agency_and_a_french_one_its_month(tmp_path: Path) -> None:
    wire, french = tmp_path / "wire.txt", tmp_path / "fr.txt"
    wire.write_text("TOKYO, April 10 (Reuters) - SoftBank Corp said on Wednesday it would buy chips.\n", encoding="utf-8")
    french.write_text("SoftBank investit\n\nTokyo, avril 2024 — SoftBank Corp., la branche télécoms, investit.\n", encoding="utf-8")
    w, f = read_article(wire), read_article(french)
    assert (w.place, w.date, w.source) == ("Tokyo", "April 10", "Reuters")
    assert w.title.startswith("SoftBank Corp said")
    assert (f.place, f.date) == ("Tokyo", "2024-04")


def test_a_company_name_before_a_dash_is_not_a_dateline(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("Cloud news\n\nMicrosoft — the company said on Monday — will invest.\n", encoding="utf-8")
    a = read_article(p)
    assert (a.date, a.place, a.dateline) == ("", "", "")
