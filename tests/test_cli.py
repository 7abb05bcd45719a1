import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.store import MANIFEST_FILE, current_version
from tests.conftest import copy_corpus

QA = [sys.executable, "-m", "qa.cli"]
pytestmark = pytest.mark.process


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    e.update(env)
    return subprocess.run(QA + args, cwd=cwd, env=e, capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    copy_corpus(root / "seeds")
    return root


def test_ask_on_a_fresh_checkout_builds_the_index_then_answers(project: Path) -> None:
    r = run(["ask", "Who is the president of Microsoft quoted in the announcement?"], project)
    assert r.returncode == 0, r.stderr
    assert "Brad Smith" in r.stdout and "[1]" in r.stdout and "Sources:" in r.stdout
    assert "building it" in r.stderr and (current_version(project / "index") / MANIFEST_FILE).exists()


def test_index_prints_a_one_line_summary(project: Path) -> None:
    r = run(["index"], project)
    assert r.returncode == 0, r.stderr
    assert "added" in r.stdout and "unchanged" in r.stdout and "chunks" in r.stdout


def test_a_rebuild_says_what_it_loads_before_the_embedding_bar(project: Path) -> None:
    r = run(["index", "--rebuild"], project)
    assert r.returncode == 0, r.stderr
    said = r.stderr.replace("\r", "\n")
    assert "loading the model e5-small and reading the articles in" in said and "embedding" in said
    assert said.index("loading the model") < said.index("embedding")


def test_search_json_lists_passages_with_offsets(project: Path) -> None:
    r = run(["search", "Sakura Internet", "-k", "3", "--json"], project)
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert len(hits) == 3 and {"doc_id", "start", "end", "score", "text", "title"} <= set(hits[0])


def test_ask_json_has_the_answer_and_its_citations(project: Path) -> None:
    r = run(["ask", "Quelle est la recette de la ratatouille ?", "--json"], project)
    d = json.loads(r.stdout)
    assert d["abstained"] is True and d["citations"] == []


def test_an_empty_question_exits_non_zero_without_a_traceback(project: Path) -> None:
    r = run(["ask", "  "], project)
    assert r.returncode == 2 and "empty" in r.stderr and "Traceback" not in r.stderr


def test_an_index_cut_by_earlier_sentence_rules_is_rebuilt_before_answering(tmp_path: Path) -> None:
    copy_corpus(tmp_path / "seeds")
    assert run(["index"], tmp_path).returncode == 0
    manifest = current_version(tmp_path / "index") / MANIFEST_FILE
    m = json.loads(manifest.read_text(encoding="utf-8"))
    m["chunking"].pop("sentence_rules")
    manifest.write_text(json.dumps(m), encoding="utf-8")
    r = run(["ask", "Combien Microsoft va-t-il investir au Japon ?"], tmp_path)
    assert r.returncode == 0 and "2,9 milliards" in r.stdout and "earlier version" in r.stderr, r.stderr
    assert "sentence_rules" in json.loads((current_version(tmp_path / "index") / MANIFEST_FILE).read_text(encoding="utf-8"))["chunking"]


def test_an_index_of_another_chunk_size_is_not_rebuilt_behind_the_users_back(tmp_path: Path) -> None:
    copy_corpus(tmp_path / "seeds")
    assert run(["index"], tmp_path, QA_CHUNK_SIZE="400").returncode == 0
    r = run(["ask", "Combien Microsoft va-t-il investir au Japon ?"], tmp_path)
    assert r.returncode == 1 and "--rebuild" in r.stderr and "Traceback" not in r.stderr


def test_a_corrupt_index_gives_one_clear_line(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{", encoding="utf-8")
    r = run(["ask", "AWS ?", "--index", str(bad)], project)
    assert r.returncode == 1 and "--rebuild" in r.stderr and "Traceback" not in r.stderr


def test_an_empty_seeds_folder_gives_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    r = run(["index"], tmp_path)
    assert r.returncode == 1 and "no article" in r.stderr and "Traceback" not in r.stderr


def test_a_damaged_pdf_gives_one_clear_line_and_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"\xf1\xdc\x98IM" + bytes(range(256)) * 8)
    r = run(["add", "broken.pdf", "--no-index"], tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()  # pypdf's own warnings are not shown
    assert line.startswith("error: nothing was added: broken.pdf: the PDF is damaged and cannot be read")
    assert not (tmp_path / "seeds").exists() or not any((tmp_path / "seeds").iterdir())


def test_folders_come_from_the_environment(project: Path, tmp_path: Path) -> None:
    r = run(["index"], tmp_path, QA_SEEDS_DIR=str(project / "seeds"), QA_INDEX_DIR=str(tmp_path / "ix"))
    assert r.returncode == 0, r.stderr
    assert (current_version(tmp_path / "ix") / MANIFEST_FILE).exists()


def test_eval_prints_the_figures(project: Path, tmp_path: Path) -> None:
    q = tmp_path / "q.jsonl"
    q.write_text(
        json.dumps(
            {
                "id": "a",
                "question": "Combien AWS investira au Japon ?",
                "answerable": True,
                "evidence": [{"doc": "000_1c9e95e5bcef29b5", "text": "15 milliards de dollars"}],
                "answer_keys": ["15 milliards"],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    r = run(["eval", str(q)], project)
    assert r.returncode == 0, r.stderr
    lines = {line.split("  ")[0]: line for line in r.stdout.splitlines()}
    assert "1.000 / 1.000 / 1.000" in lines["passage hit@1 / @3 / @5"]
    assert lines["answer holds a key"].split()[-1] == "1.000"
    assert "answer latency p50 / p95 (ms)" in lines
    # The one answer shown is right, in the band of its confidence.
    bands = [lines[f"shown at confidence {b}: right"].split()[-3:] for b in ("0.9-1.0", "0.7-0.9", "0.5-0.7", "0.0-0.5")]
    assert sorted(bands) == [["0", "of", "0"]] * 3 + [["1", "of", "1"]] and "expected calibration error" in lines


def test_eval_reads_piaf_questions_per_split_and_language(tmp_path: Path) -> None:
    """PIAF's format: `answers` and `doc`; the collection is the named articles, from corpus/ beside the file."""
    corpus = tmp_path / "piaf" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / "art_a.txt").write_text(
        "Le Port de Brest\n\nLe port de Brest accueille chaque année 1 200 navires de commerce. "
        "Il a été agrandi en 1975 par la chambre de commerce.\n",
        encoding="utf-8",
    )
    (corpus / "art_b.txt").write_text("Le Mont Ventoux\n\nLe mont Ventoux culmine à 1 910 mètres d'altitude.\n", encoding="utf-8")
    rows = [
        {"id": "1", "split": "dev", "lang": "fr", "question": "Combien de navires accueille le port de Brest ?", "doc": "art_a", "answers": ["1 200"]},
        {"id": "2", "split": "dev", "lang": "en", "question": "How high is Mont Ventoux?", "doc": "art_b", "answers": ["1 910 mètres"]},
        {"id": "3", "split": "train", "lang": "fr", "question": "Quand le port a-t-il été agrandi ?", "doc": "art_a", "answers": ["1975"]},
    ]
    q = tmp_path / "piaf" / "questions.jsonl"
    q.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    r = run(["eval", str(q), "--split", "dev", "--json"], tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["questions"] == 2 and set(res["by_lang"]) == {"en", "fr"}
    assert res["by_lang"]["fr"]["hit@1"] == 1.0 and res["by_lang"]["fr"]["sentence_holds_answer"] == 1.0
    assert res["by_lang"]["fr"]["short_f1"] > 0.5


def _mounted(folder: Path, options: str) -> bool:
    folder.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode == 0


def _one_clear_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_a_full_disk_gives_one_clear_line(project: Path, tmp_path: Path) -> None:
    if not _mounted(tmp_path / "small", "size=60k"):
        pytest.skip("cannot mount a small filesystem here (needs root)")
    try:
        line = _one_clear_line(run(["index", "--index", str(tmp_path / "small" / "index")], project))
        assert "No space left on device" in line and "no index was written" in line  # there was none before
    finally:
        subprocess.run(["umount", "-l", str(tmp_path / "small")], check=True)


def test_a_read_only_index_folder_gives_one_clear_line(project: Path, tmp_path: Path) -> None:
    if not _mounted(tmp_path / "ro", "ro,size=60k"):
        pytest.skip("cannot mount a read-only filesystem here (needs root)")
    try:
        line = _one_clear_line(run(["index", "--index", str(tmp_path / "ro" / "index")], project))
        assert "Read-only file system" in line
    finally:
        subprocess.run(["umount", "-l", str(tmp_path / "ro")], check=True)


def test_an_index_path_that_is_a_file_gives_one_clear_line(project: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    line = _one_clear_line(run(["ask", "--index", str(tmp_path / "f"), "AWS?"], project))
    assert "is a file" in line and (tmp_path / "f").read_text() == "x"


def test_a_question_with_invalid_utf8_bytes_is_answered(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    r = subprocess.run([*QA, "ask", b"\xff How much will AWS invest in Japan?"], cwd=project, env=env, capture_output=True, timeout=240)
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    assert "15 milliards" in r.stdout.decode("utf-8")


def test_ask_ends_only_once_the_caches_it_started_are_written(project: Path, tmp_path: Path) -> None:
    # A question about the article itself is answered from its metadata, without the reader, while
    # the reader's tokenizer is still being built for the cache (the language identifier's copy is
    # already there, so nothing else keeps the command waiting): the command ends once it has
    # printed, but not before that copy is whole.
    assert run(["index"], project).returncode == 0
    cache, question = tmp_path / "cache", "Quelle agence a publié l'article ?"
    assert run(["ask", question], project, XDG_CACHE_HOME=str(cache)).returncode == 0
    for copy in (cache / "newsqa").glob("e5-tokenizer-*.model"):
        copy.unlink()
    r = run(["ask", question], project, XDG_CACHE_HOME=str(cache))
    assert r.returncode == 0, r.stderr
    assert "CryptoSlate" in r.stdout or "Agence France-Presse" in r.stdout
    copies = list((cache / "newsqa").glob("e5-tokenizer-*.model"))
    assert len(copies) == 1 and not list((cache / "newsqa").glob(".*.tmp"))
    import sentencepiece

    assert sentencepiece.SentencePieceProcessor(model_file=str(copies[0])).get_piece_size() > 200_000
