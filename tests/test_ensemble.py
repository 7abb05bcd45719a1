"""bench/ensemble.py reads with the mean of several readers' logits."""

from __future__ import annotations

import numpy as np

from qa.reader import READER_FILE, SPAN_READER_FILE, Reader


def test_the_averaging_reader_gives_the_mean_of_its_readers_logits() -> None:
    from bench.ensemble import averaging_reader

    question = "Combien Microsoft va-t-il investir au Japon ?"
    passages = [
        "Microsoft investira 2,9 milliards de dollars au Japon.",
        "AWS investira 15 milliards de dollars au Japon d'ici 2027.",
    ]
    averaged = averaging_reader([SPAN_READER_FILE])(None, READER_FILE, None)
    reader, second = Reader(averaged.engine, READER_FILE, None), averaged.others[0]
    mean = (Reader.logits(reader, question, passages)[0] + Reader.logits(second, question, passages)[0]) / 2
    out = averaged.logits(question, passages)[0]
    assert np.allclose(out, mean, atol=1e-5)
    assert not np.allclose(out, Reader.logits(reader, question, passages)[0], atol=1e-3)


def test_the_ensemble_command_names_its_missing_reader_files(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from bench.ensemble import main

    assert main([str(tmp_path / "none.npz"), "--", "questions.jsonl"]) == 2
    assert "none.npz" in capsys.readouterr().out
