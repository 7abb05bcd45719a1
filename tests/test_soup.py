"""bench/soup.py averages two exported readers weight by weight."""

from __future__ import annotations

import numpy as np
import pytest

from qa.reader import READER_FILE

torch = pytest.importorskip("torch")


def test_a_reader_decoded_for_averaging_encodes_back_to_the_same_bytes() -> None:
    from bench.soup import float_weights
    from bench.train_reader import quantise8

    weights, meta = float_weights(READER_FILE)
    with np.load(READER_FILE) as shipped:
        matrices = [k[:-3] for k in shipped.files if k.endswith(".q8")]
        assert len(matrices) == 6 * meta["tuned_layers"]
        for name in matrices:
            codes, scales = quantise8(weights[f"{name}.w"])
            assert np.array_equal(codes, shipped[f"{name}.q8"]) and np.array_equal(scales, shipped[f"{name}.s8"])


def test_the_averaged_model_holds_the_mean_of_the_two_readers_weights() -> None:
    from bench.soup import float_weights, load_into
    from bench.train_reader import top_model
    from qa.e5_onnx import E5Onnx

    weights, meta = float_weights(READER_FILE)
    engine = E5Onnx()
    n_frozen = int(engine.weights.config["NL"]) - int(meta["tuned_layers"])
    model = top_model(engine.weights, n_frozen)
    halved = {k: 0.5 * w for k, w in weights.items()}
    load_into(model, {k: 0.5 * weights[k] + 0.5 * halved[k] for k in weights}, n_frozen)
    first = f"l{n_frozen}.q.w"
    assert np.allclose(model.layers[0].q.weight.detach().numpy(), 0.75 * weights[first])
    assert np.allclose(model.head.bias.detach().numpy(), 0.75 * weights["head.b"])


def test_a_soup_needs_two_readers_and_shares_weights_by_default_only_for_two(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bench.soup import main

    with pytest.raises(SystemExit, match="two readers or more"):
        main([str(READER_FILE), "--out", str(tmp_path / "one.npz")])
    with pytest.raises(SystemExit, match="equal shares"):
        main([str(READER_FILE)] * 3 + ["--weight", "0.3", "--out", str(tmp_path / "three.npz")])
    assert not list(tmp_path.iterdir())
