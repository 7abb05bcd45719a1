"""The benchmark command on a tiny input: it runs end to end and reports what it measured (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AFP_ID, MS_ID, ROOT, copy_corpus

# The load part starts `qa serve`. The first test runs every part of the quick bench in its
# fixture (about 4 minutes on 2 idle cores): its time limit is the subprocess's, not the default.
pytestmark = [pytest.mark.server, pytest.mark.timeout(660)]

QUESTIONS = [
    {"id": "t1", "question": "Combien Microsoft va-t-il investir au Japon ?", "answerable": True,
     "evidence": [{"doc": MS_ID, "text": "investira 2,9 milliards de dollars au Japon"},
                  {"doc": AFP_ID, "text": "investir 2,9 milliards de dollars"}], "answer_keys": ["2,9 milliards"]},
    {"id": "t2", "question": "How much will Amazon Web Services invest in Japan?", "answerable": True,
     "evidence": [{"doc": MS_ID, "text": "15 milliards de dollars au Japon d’ici 2027"}], "answer_keys": ["15 milliards"]},
    {"id": "t3", "question": "Quelle est la recette de la ratatouille ?", "answerable": False, "evidence": [], "answer_keys": []},
]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    root = tmp_path_factory.mktemp("bench")
    docs = copy_corpus(root / "docs")
    questions = root / "questions.jsonl"
    questions.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8")
    out = root / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), "--docs", str(docs), "--questions", str(questions)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {p: json.loads((out / "results" / f"{p}.json").read_text()) for p in ("compare", "scale", "load")}
    return out, results, proc.stdout


def test_compare_scores_all_three_systems_on_the_same_questions(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    systems = bench_run[1]["compare"]["systems"]
    assert set(systems) == {"project", "tutorial", "bm25"}
    for r in systems.values():
        assert r["answerable"] == 2 and r["unanswerable"] == 1
        assert 0 <= r["hit@1"] <= r["hit@3"] <= 1
        assert r["passages"] > 0 and r["serve_peak_rss_mb"] > 0


def test_this_project_finds_the_evidence_of_both_tiny_questions(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    assert bench_run[1]["compare"]["systems"]["project"]["hit@1"] == 1.0


def test_scale_measures_exact_search_as_perfect_recall_and_reports_the_plan(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    scale = bench_run[1]["scale"]
    exact = [r for r in scale["rows"] if r["factory"] == "Flat"]
    assert exact and all(r["recall@10"] == 1.0 for r in exact)
    assert {r["index"].split(" ")[0][:3] for r in scale["rows"]} >= {"exa", "HNS", "IVF"}
    assert scale["plan"][0]["n"] == 2000 and scale["embedding"]["passages_per_s"] > 0


def test_load_answers_every_concurrent_question_without_error(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    rounds = bench_run[1]["load"]["rounds"]
    assert rounds and all(r["errors"] == 0 and r["requests"] == r["users"] for r in rounds)


def test_results_md_has_every_section_and_the_plots_exist(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    out, _, stdout = bench_run
    text = (out / "RESULTS.md").read_text(encoding="utf-8")
    for heading in ("## Goals", "side by side", "## Scale", "## Load", "cores"):
        assert heading in text
    for png in ("quality.png", "speed.png", "scale.png", "load.png"):
        assert (out / "plots" / png).stat().st_size > 1000
        assert f"plots/{png}" in text
    assert "| hit@1 |" in stdout


def test_piaf_scores_each_language_with_short_answers(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    out = bench_run[0]
    if not (ROOT.parent / "shared" / "eval" / "piaf" / "questions.jsonl").exists():
        pytest.skip("no PIAF data beside the project")
    piaf = json.loads((out / "results" / "piaf.json").read_text())
    project = piaf["systems"]["project"]
    assert set(piaf["systems"]) == {"project", "bm25"} and project["answerable"] == 6 and project["unanswerable"] == 2
    assert 0 <= project["short_f1"] <= 1 and project["build_s"] > 0
    assert "## PIAF dev" in (out / "RESULTS.md").read_text(encoding="utf-8")
    assert piaf["reader"]["reader_mb"] < 25


def test_the_news_part_scores_the_dev_split_and_how_sure_the_answers_are(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    out = bench_run[0]
    news = json.loads((out / "results" / "news.json").read_text())
    assert news["articles"] == 46 and news["questions"] == 8 and 0 <= news["ece"] <= 1
    shown = sum(band["shown"] for band in news["reliability"].values())
    assert shown == news["questions"] - news["false_abstentions"] - news["abstained_unanswerable"]
    text = (out / "RESULTS.md").read_text(encoding="utf-8")
    assert "## News collection dev" in text and "### How sure the answers are" in text and "expected calibration error" in text


def test_an_unknown_part_is_a_clear_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench", "--only", "speed"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown part" in proc.stderr and "Traceback" not in proc.stderr


def test_cluster_part_measures_every_setup_with_the_same_vectors(bench_run: tuple[Path, dict[str, Any], str]) -> None:
    out = bench_run[0]
    cluster = json.loads((out / "results" / "cluster.json").read_text())
    assert set(cluster["summary"]) == {"this process, 2 threads", "this process, 1 thread", "local:1 (1 actor)", "local:2 (2 actors)"}
    # The quick run is too small for the marginal rate (the cluster's start varies more than the
    # work): it checks that every setup runs and gives the same vectors.
    assert all(s["end_to_end_per_s"] > 0 and s["full_s"] > 0 for s in cluster["summary"].values())
    assert cluster["min_cosine"] >= 0.9999
    assert "## Embedding on a Ray cluster" in (out / "RESULTS.md").read_text(encoding="utf-8")
