"""The question's language: py3langid between French and English, from a copy kept in the user's cache."""

from __future__ import annotations

from pathlib import Path

import pytest

QUESTIONS = [
    "Combien AWS va-t-il investir au Japon ?",
    "How much will AWS invest in Japan by 2027?",
    "Qui dirige Microsoft ?",
    "Who runs Microsoft?",
    "OpenAI",
    "Quand ?",
    "what about Nvidia",
    "",
]


def _shipped_model_scores(questions: list[str]) -> list[tuple[str, float]]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    full.set_languages(["fr", "en"])
    return [full.classify(q) for q in questions]


def _identifier_from_cache(cache: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from qa.language import _load_identifier

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return _load_identifier()


def test_the_cached_two_language_model_scores_as_py3langid_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _shipped_model_scores(QUESTIONS)
    first = _identifier_from_cache(tmp_path, monkeypatch)  # makes the copy
    (copy,) = (tmp_path / "newsqa").glob("langid-fr-en-*.npz")
    second = _identifier_from_cache(tmp_path, monkeypatch)  # reads it
    assert [first.classify(q) for q in QUESTIONS] == expected
    assert [second.classify(q) for q in QUESTIONS] == expected
    assert copy.stat().st_size < 5_000_000
    assert not [p for p in (tmp_path / "newsqa").iterdir() if p.name.endswith(".tmp")]


def test_a_damaged_language_model_copy_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _identifier_from_cache(tmp_path, monkeypatch)
    (copy,) = (tmp_path / "newsqa").glob("langid-fr-en-*.npz")
    copy.write_bytes(b"PK\x03\x04 not an npz")
    ident = _identifier_from_cache(tmp_path, monkeypatch)
    assert [ident.classify(q) for q in QUESTIONS] == _shipped_model_scores(QUESTIONS)
    assert copy.stat().st_size > 1_000_000


def test_without_a_writable_cache_the_language_is_still_identified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    ident = _identifier_from_cache(blocked, monkeypatch)
    assert [ident.classify(q) for q in QUESTIONS] == _shipped_model_scores(QUESTIONS)


def test_questions_are_french_or_english_and_short_follow_ups_keep_the_conversation_language() -> None:
    from qa.language import language_of

    assert language_of("Combien AWS va-t-il investir au Japon ?") == "fr"
    assert language_of("How much will AWS invest in Japan?") == "en"
    assert language_of("Et Microsoft ?", ["Combien AWS va-t-il investir au Japon ?"]) == "fr"
    assert language_of("Wie viel investiert AWS?") in ("fr", "en")


def test_threads_asking_at_once_share_one_identifier() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from qa.language import _identifier

    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda _: _identifier(), range(8)))
    assert all(f is found[0] for f in found)
