"""bench/span_verifier.py makes the span reader's run-time input from the reader's training windows."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    from qa.e5_onnx import E5Onnx
    from qa.reader import Tokens

    engine = E5Onnx()
    return Tokens(engine.weights, engine._tokenizer)


def test_a_window_is_cut_into_its_sentences_in_tokens(tok) -> None:  # type: ignore[no-untyped-def]
    from bench.span_verifier import sentence_ranges
    from qa.reader import pair_ids

    window = "AWS investira 15 milliards de dollars au Japon. Microsoft y ouvrira un laboratoire ! Qui le dirigera ?"
    ids, first = pair_ids(tok.ids("query: Combien ?"), tok.ids(window), tok)
    ranges = sentence_ranges(ids, first, tok)
    assert [tok.sp.decode(ids[lo:hi]).strip() for lo, hi in ranges] == [
        "AWS investira 15 milliards de dollars au Japon.",
        "Microsoft y ouvrira un laboratoire !",
        "Qui le dirigera ?",
    ]
    assert ranges[0][0] == first and ranges[-1][1] == len(ids) - 1

