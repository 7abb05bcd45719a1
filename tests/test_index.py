import json
from pathlib import Path

import pytest

import qa
from qa.store import FAISS_FILE, MANIFEST_FILE
from tests.conftest import AFP_ID, MS_ID


@pytest.fixture()
def built(corpus: Path, tmp_path: Path, settings: qa.Settings) -> Path:
    index = tmp_path / "index"
    qa.build_index(corpus, index, settings)
    return index


def test_first_build_adds_every_article_and_writes_a_manifest(corpus: Path, tmp_path: Path, settings: qa.Settings) -> None:
    report = qa.build_index(corpus, tmp_path / "index", settings)
    assert sorted(report.added) == sorted([MS_ID, AFP_ID])
    assert report.updated == report.removed == report.unchanged == []
    assert report.chunks_embedded == report.chunks_total > 0
    m = json.loads((tmp_path / "index" / MANIFEST_FILE).read_text())
    assert m["format"] == 2 and m["dim"] == 384 and m["model"] == "e5-small"
    assert m["chunking"] == {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap}
    assert set(m["articles"]) == {MS_ID, AFP_ID} and len(m["articles"][MS_ID]) == 64
    assert m["counts"]["passages"] == report.chunks_total and m["built_at"]


def test_rebuilding_unchanged_articles_embeds_nothing(corpus: Path, built: Path, settings: qa.Settings) -> None:
    report = qa.build_index(corpus, built, settings)
    assert report.chunks_embedded == 0 and sorted(report.unchanged) == sorted([MS_ID, AFP_ID])


def test_only_new_or_changed_articles_are_embedded(corpus: Path, built: Path, settings: qa.Settings) -> None:
    (corpus / f"{AFP_ID}.txt").write_text((corpus / f"{AFP_ID}.txt").read_text() + "\nUne phrase ajoutée.\n", encoding="utf-8")
    (corpus / "new.txt").write_text("Un nouvel article\n\nSoftBank investit dans des GPU au Japon.", encoding="utf-8")
    before = qa.Retriever.load(built, settings)
    ms_passages = sum(1 for p in before.stored.passages if p.doc_id == MS_ID)
    report = qa.build_index(corpus, built, settings)
    assert report.updated == [AFP_ID] and report.added == ["new"] and report.unchanged == [MS_ID]
    assert report.chunks_embedded == report.chunks_total - ms_passages


def test_removed_articles_are_dropped(corpus: Path, built: Path, settings: qa.Settings) -> None:
    (corpus / f"{AFP_ID}.txt").unlink()
    report = qa.build_index(corpus, built, settings)
    assert report.removed == [AFP_ID]
    r = qa.Retriever.load(built, settings)
    assert {p.doc_id for p in r.stored.passages} == {MS_ID}


def test_incremental_index_searches_like_a_full_rebuild(corpus: Path, built: Path, tmp_path: Path, settings: qa.Settings) -> None:
    (corpus / "new.txt").write_text(
        "Un nouvel article\n\nSoftBank investit 150 milliards de yens dans des GPU.", encoding="utf-8"
    )
    qa.build_index(corpus, built, settings)
    fresh = tmp_path / "fresh"
    qa.build_index(corpus, fresh, settings, rebuild=True)
    q = "Combien SoftBank investit-il dans les GPU ?"
    a = [(h.doc_id, h.start, round(h.score, 4)) for h in qa.Retriever.load(built, settings).search(q)]
    b = [(h.doc_id, h.start, round(h.score, 4)) for h in qa.Retriever.load(fresh, settings).search(q)]
    assert a == b


def test_an_empty_seeds_folder_fails_clearly_and_keeps_the_index(built: Path, tmp_path: Path, settings: qa.Settings) -> None:
    before = (built / MANIFEST_FILE).read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(qa.CorpusError, match="no article"):
        qa.build_index(empty, built, settings)
    assert (built / MANIFEST_FILE).read_text() == before
    assert qa.Retriever.load(built, settings).search("Microsoft")


def test_a_build_that_fails_midway_leaves_the_last_good_index(corpus: Path, built: Path, settings: qa.Settings) -> None:
    before = (built / MANIFEST_FILE).read_text()
    (corpus / "new.txt").write_text("Un article de plus\n\nAvec du texte.", encoding="utf-8")

    def crash(done: int, total: int) -> None:
        if done:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        qa.build_index(corpus, built, settings, progress=crash)
    assert (built / MANIFEST_FILE).read_text() == before
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".index.")]


def test_a_missing_index_says_what_to_run(tmp_path: Path, settings: qa.Settings) -> None:
    with pytest.raises(qa.IndexMissingError, match="qa index"):
        qa.Retriever.load(tmp_path / "nothing", settings)


def test_a_corrupt_index_says_what_to_run(built: Path, settings: qa.Settings) -> None:
    (built / FAISS_FILE).write_bytes(b"garbage")
    with pytest.raises(qa.IndexCorruptError, match="--rebuild"):
        qa.Retriever.load(built, settings)


def test_a_broken_manifest_is_reported_as_corrupt(built: Path, settings: qa.Settings) -> None:
    (built / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(qa.IndexCorruptError):
        qa.Retriever.load(built, settings)


def test_an_index_built_with_other_settings_is_stale(built: Path) -> None:
    other = qa.Settings.from_env(env={}, chunk_size=300, chunk_overlap=50)
    with pytest.raises(qa.IndexStaleError, match="--rebuild"):
        qa.Retriever.load(built, other)


def test_changing_the_chunking_rebuilds_everything(corpus: Path, built: Path) -> None:
    other = qa.Settings.from_env(env={}, chunk_size=300, chunk_overlap=50)
    report = qa.build_index(corpus, built, other)
    assert report.chunks_embedded == report.chunks_total
    assert qa.Retriever.load(built, other).search("AWS")
