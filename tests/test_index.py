import json
from pathlib import Path

import pytest

import qa
from qa.config import SENTENCE_RULES
from qa.store import FAISS_FILE, MANIFEST_FILE, current_version
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
    m = json.loads((current_version(tmp_path / "index") / MANIFEST_FILE).read_text())
    assert m["format"] == 2 and m["dim"] == 384 and m["model"] == "e5-small"
    assert m["chunking"] == {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap, "sentence_rules": SENTENCE_RULES}
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
    before = (current_version(built) / MANIFEST_FILE).read_text()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(qa.CorpusError, match="no article"):
        qa.build_index(empty, built, settings)
    assert (current_version(built) / MANIFEST_FILE).read_text() == before
    assert qa.Retriever.load(built, settings).search("Microsoft")


def test_a_build_that_fails_midway_leaves_the_last_good_index(corpus: Path, built: Path, settings: qa.Settings) -> None:
    before = (current_version(built) / MANIFEST_FILE).read_text()
    (corpus / "new.txt").write_text("Un article de plus\n\nAvec du texte.", encoding="utf-8")

    def crash(done: int, total: int) -> None:
        if done:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        qa.build_index(corpus, built, settings, progress=crash)
    assert (current_version(built) / MANIFEST_FILE).read_text() == before
    assert [p.name for p in built.iterdir() if p.name.startswith("v-")] == [current_version(built).name]


def test_a_missing_index_says_what_to_run(tmp_path: Path, settings: qa.Settings) -> None:
    with pytest.raises(qa.IndexMissingError, match="qa index"):
        qa.Retriever.load(tmp_path / "nothing", settings)


def test_a_corrupt_index_says_what_to_run(built: Path, settings: qa.Settings) -> None:
    (current_version(built) / FAISS_FILE).write_bytes(b"garbage")
    with pytest.raises(qa.IndexCorruptError, match="--rebuild"):
        qa.Retriever.load(built, settings)


def test_a_broken_manifest_is_reported_as_corrupt(built: Path, settings: qa.Settings) -> None:
    (current_version(built) / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
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


# --- the switch to a new version is one atomic step, builders take turns, leftovers are cleaned

KILL_AT_SWITCH = r"""
import os, signal, sys
import qa, qa.store
real_replace = os.replace
def dying_replace(src, dst):
    if str(dst).endswith("CURRENT") and sys.argv[3] == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
    if str(dst).endswith("CURRENT") and sys.argv[3] == "after":
        os.kill(os.getpid(), signal.SIGKILL)
qa.store.os.replace = dying_replace
qa.build_index(sys.argv[1], sys.argv[2], qa.Settings.from_env(env={}))
"""


def _build_killed(corpus: Path, index: Path, moment: str) -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", KILL_AT_SWITCH, str(corpus), str(index), moment], capture_output=True, timeout=240)
    return proc.returncode


@pytest.mark.process
@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_builder_killed_at_the_switch_leaves_a_whole_index(corpus: Path, built: Path, settings: qa.Settings, moment: str) -> None:
    old = current_version(built)
    (corpus / "new.txt").write_text("Un article de plus\n\nZorblax ouvre un centre de données à Osaka.", encoding="utf-8")
    assert _build_killed(corpus, built, moment) == -9
    now = current_version(built)
    assert (now == old) == (moment == "before")
    r = qa.Retriever.load(built, settings)
    assert ("new" in r.articles) == (moment == "after") and r.search("Microsoft")
    # The next build finishes the job and removes what the killed one left behind.
    qa.build_index(corpus, built, settings)
    assert sorted(p.name for p in built.iterdir() if not p.name.startswith(".")) == ["CURRENT", current_version(built).name]
    assert "new" in qa.Retriever.load(built, settings).articles


@pytest.mark.process
def test_two_builders_of_one_index_take_turns(corpus: Path, tmp_path: Path, settings: qa.Settings) -> None:
    import subprocess
    import sys

    code = "import sys, qa; print(qa.build_index(sys.argv[1], sys.argv[2], qa.Settings.from_env(env={})).chunks_embedded)"
    index = tmp_path / "index"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(corpus), str(index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    embedded = sorted(int(o.strip().splitlines()[-1]) for o, _ in outs)
    assert embedded[0] == 0 and embedded[1] > 0  # the second found the first one's work done
    assert [p.name for p in index.iterdir() if p.name.startswith("v-")] == [current_version(index).name]


def test_an_index_in_the_earlier_flat_layout_is_read_then_replaced(corpus: Path, built: Path, settings: qa.Settings) -> None:
    import shutil

    version = current_version(built)
    for f in version.iterdir():
        shutil.move(str(f), built / f.name)
    version.rmdir()
    (built / "CURRENT").unlink()
    assert qa.Retriever.load(built, settings).search("AWS")
    (corpus / "new.txt").write_text("Un article de plus\n\nAvec du texte.", encoding="utf-8")
    qa.build_index(corpus, built, settings)
    assert sorted(p.name for p in built.iterdir() if not p.name.startswith(".")) == ["CURRENT", current_version(built).name]


def test_a_full_disk_fails_with_a_clear_error_and_keeps_the_index(corpus: Path, tmp_path: Path, settings: qa.Settings) -> None:
    import subprocess

    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(small)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small filesystem here (needs root)")
    try:
        qa.build_index(corpus, small / "index", settings)  # the two seeds: about 120 kB
        good = current_version(small / "index")
        (corpus / "big.txt").write_text("Un long article\n\n" + "Des phrases sur le Japon et ses centres de données. " * 400, encoding="utf-8")
        with pytest.raises(qa.IndexWriteError, match=r"No space left on device.*previous index is unchanged"):
            qa.build_index(corpus, small / "index", settings)
        assert current_version(small / "index") == good
        assert [p.name for p in (small / "index").iterdir() if p.name.startswith("v-")] == [good.name]
        assert qa.Retriever.load(small / "index", settings).search("AWS")
    finally:
        subprocess.run(["umount", "-l", str(small)], check=True)  # lazy: the loaded index maps its files


def test_an_index_path_that_is_a_file_is_a_clear_error(corpus: Path, tmp_path: Path, settings: qa.Settings) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(qa.IndexMissingError, match="is a file"):
        qa.Retriever.load(f, settings)
    with pytest.raises(qa.IndexWriteError, match="is a file"):
        qa.build_index(corpus, f, settings)
    assert f.read_text() == "x"


def test_passages_whose_offsets_do_not_fit_their_article_are_detected(built: Path, settings: qa.Settings) -> None:
    path = current_version(built) / "passages.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["start"] += 7  # the span no longer has its text's length
    path.write_text("\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(qa.IndexCorruptError, match="offsets"):
        qa.Retriever.load(built, settings)


def test_staleness_is_decided_by_the_vectors_model_not_the_settings_name(built: Path) -> None:
    same_model = qa.Settings.from_env(env={}, model="multilingual-e5-small")  # another name of e5-small
    assert qa.Retriever.load(built, same_model).search("AWS")
    assert qa.Retriever.load(built, same_model, quick_start=True).search("AWS")


@pytest.mark.process
def test_loading_while_builds_replace_the_index_always_gets_a_whole_one(corpus: Path, built: Path, settings: qa.Settings) -> None:
    import subprocess
    import sys

    code = (
        "import sys, qa, pathlib\n"
        "s = qa.Settings.from_env(env={})\n"
        "for n in range(4):\n"
        "    pathlib.Path(sys.argv[1], 'extra.txt').write_text(f'Un article {n}\\n\\nLe numéro {n} parle du Japon.', encoding='utf-8')\n"
        "    qa.build_index(sys.argv[1], sys.argv[2], s)\n"
    )
    builder = subprocess.Popen([sys.executable, "-c", code, str(corpus), str(built)], stderr=subprocess.PIPE, text=True)
    loads = 0
    while builder.poll() is None:
        r = qa.Retriever.load(built, settings)  # raises if it ever sees half an index or a vanished version
        assert r.search("Microsoft") and len(r.stored.passages) == r.manifest["counts"]["passages"]
        loads += 1
    assert builder.returncode == 0, builder.stderr.read() if builder.stderr else ""
    assert loads > 0
