"""Query and passage vectors without their language, so that a question finds the article that
answers it in either language.

The multilingual encoder writes a text's language into its vector as well as its meaning: a French
question scores French passages of a near-topic article above the English passage that answers it.
That language lies mostly along one direction, the mean difference between English questions and
their French originals (`training/language_direction.py`). The search removes it from the query and
from each candidate passage and sentence, and scores what is left. The index is not changed: FAISS
is asked with the query alone, then each candidate's score is rescaled as its own vector would be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DIRECTION_FILE = Path(__file__).parent / "data" / "language_direction.json"


@dataclass(frozen=True)
class LanguageDirection:
    """The unit vector along which the encoder `model` writes English against French."""

    model: str  # the encoder's model_id up to its engine's version ("multilingual-e5-small-q4")
    vector: np.ndarray

    def query(self, q: np.ndarray) -> np.ndarray:
        """The query without its language, normalised again (1 × dim)."""
        q = np.asarray(q, np.float32).reshape(1, -1)
        q = q - (q @ self.vector)[:, None] * self.vector
        return q / max(float(np.linalg.norm(q)), 1e-12)

    def rescaled(self, scores: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Scores of a language-free query against `vectors` (normalised), as against the vectors
        without their language: the query has no part along the direction, so only each vector's
        length without it changes."""
        along = np.asarray(vectors, np.float32) @ self.vector
        return scores / np.sqrt(np.maximum(1.0 - along * along, 1e-6))


def model_name(model_id: str) -> str:
    """The model in an embedder's model_id, without the engine's version: the direction is the model's."""
    return model_id.split("@", 1)[0]


@lru_cache(maxsize=4)
def language_direction(model_id: str, path: Path = DIRECTION_FILE) -> LanguageDirection | None:
    """The shipped direction when it was measured on this model, else None (searched as is)."""
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("model") != model_name(model_id):
        return None
    v = np.asarray(data["vector"], np.float32)
    return LanguageDirection(data["model"], v / np.linalg.norm(v))
