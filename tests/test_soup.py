"""The span reader is the average of two readers, weight by weight (training/span_reader.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.reader import READER_FILE

torch = pytest.importorskip("torch")


def test_a_reader_decoded_for_averaging_encodes_back_to_the_same_bytes() -> None:
    from training.model import float_weights, quantise8

    weights, meta = float_weights(READER_FILE)
    with np.load(READER_FILE) as shipped:
        matrices = [k[:-3] for k in shipped.files if k.endswith(".q8")]
        assert len(matrices) == 6 * meta["tuned_layers"]
        for name in matrices:
            codes, scales = quantise8(weights[f"{name}.w"])
            assert np.array_equal(codes, shipped[f"{name}.q8"]) and np.array_equal(scales, shipped[f"{name}.s8"])


def test_the_averaged_model_holds_the_mean_of_the_two_readers_weights() -> None:
    from qa.e5_onnx import E5Onnx
    from training.model import float_weights, load_into, top_model

    weights, meta = float_weights(READER_FILE)
    engine = E5Onnx()
    n_frozen = int(engine.weights.config["NL"]) - int(meta["tuned_layers"])
    model = top_model(engine.weights, n_frozen)
    halved = {k: 0.5 * w for k, w in weights.items()}
    load_into(model, {k: 0.5 * weights[k] + 0.5 * halved[k] for k in weights}, n_frozen)
    first = f"l{n_frozen}.q.w"
    assert np.allclose(model.layers[0].q.weight.detach().numpy(), 0.75 * weights[first])
    assert np.allclose(model.head.bias.detach().numpy(), 0.75 * weights["head.b"])


def test_a_reader_averaged_with_itself_is_itself_and_readers_of_other_layers_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from training.model import float_weights
    from training.span_reader import averaged_weights

    weights, _ = float_weights(READER_FILE)
    same, metas = averaged_weights([READER_FILE, READER_FILE])
    assert len(metas) == 2 and same.keys() == weights.keys()
    assert all(np.allclose(same[k], weights[k]) for k in weights)
    with np.load(READER_FILE) as shipped:
        arrays = {k: shipped[k] for k in shipped.files}
    other = tmp_path / "other.npz"
    np.savez(other, **(arrays | {"meta": np.array(json.dumps({**json.loads(str(arrays["meta"])), "tuned_layers": 5}))}))
    with pytest.raises(SystemExit, match="do not tune the same layers"):
        averaged_weights([READER_FILE, other])
