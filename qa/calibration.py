"""How sure an answer is: a logistic model over the reader's and the search's scores.

The numbers are data (`qa/data/confidence.json`), fitted by `python -m training.confidence` on
PIAF's train split, English questions written for it, and unanswerable questions written about
the seeds and the train articles (training/questions/). Nothing here is fitted on dev.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CALIBRATION_FILE = Path(__file__).parent / "data" / "confidence.json"

# Inputs are floored here: a passage whose every token is a heading gets span scores of about -1e4
# from the reader, which would otherwise swamp the fitted standardisation.
FLOOR = -30.0

# The inputs, in the order of the weights.
FEATURES = (
    "margin",
    "span_score",
    "null_score",
    "passage_score",
    "top_passage_score",
    "rank",
    "english",
    "answer_words",
    "type_mismatch",
)


@dataclass(frozen=True)
class Calibration:
    weights: tuple[float, ...]
    bias: float
    # Scale and shift applied to each input before the weights (fitted standardisation).
    means: tuple[float, ...]
    scales: tuple[float, ...]
    # Below this confidence the reply is "the articles don't say".
    abstain_below: float = 0.5
    # The short answer is shown in bold only when its span margin is at least this.
    span_min_margin: float = 0.0
    # The same for the span reader's margin, where a span reader gives the short answer.
    span_reader_min_margin: float = 0.0
    # Passage choice: reader margin + choice_weight × search score + overlap_weight × term overlap
    # + name_weight × overlap of names, acronyms and numbers - type_weight where the span is not the
    # kind of answer asked for (a number, money, a count, a time).
    choice_weight: float = 0.0
    overlap_weight: float = 0.0
    name_weight: float = 0.0
    type_weight: float = 0.0
    fitted_on: dict[str, object] = field(default_factory=dict)

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias
        for name, w, m, s in zip(FEATURES, self.weights, self.means, self.scales, strict=True):
            z += w * (max(features[name], FLOOR) - m) / s
        return 1 / (1 + math.exp(-max(-40.0, min(40.0, z))))


# Before any fitting: the margin alone, through a logistic of unit slope.
UNFITTED = Calibration(
    weights=(1.0, *([0.0] * (len(FEATURES) - 1))),
    bias=0.0,
    means=tuple(0.0 for _ in FEATURES),
    scales=tuple(1.0 for _ in FEATURES),
)


@lru_cache(maxsize=4)
def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    if not path.is_file():
        return UNFITTED
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data.get("features", ())) != FEATURES:
        return UNFITTED
    return Calibration(
        weights=tuple(data["weights"]),
        bias=float(data["bias"]),
        means=tuple(data["means"]),
        scales=tuple(data["scales"]),
        abstain_below=float(data["abstain_below"]),
        span_min_margin=float(data["span_min_margin"]),
        span_reader_min_margin=float(data.get("span_reader_min_margin", data["span_min_margin"])),
        choice_weight=float(data["choice_weight"]),
        overlap_weight=float(data.get("overlap_weight", 0.0)),
        name_weight=float(data.get("name_weight", 0.0)),
        type_weight=float(data.get("type_weight", 0.0)),
        fitted_on=data.get("fitted_on", {}),
    )


# Confidence in words, the one place that says which word a confidence earns: (lowest confidence,
# English word, French word), highest first. An answer shown at or above a threshold should be
# right at least that often; issue 42 sets them from the rates measured on dev (the reliability table).
CONFIDENCE_WORDS: tuple[tuple[float, str, str], ...] = (
    (0.9, "sure", "sûr"),
    (0.7, "likely", "probable"),
    (0.0, "unsure", "incertain"),
)


def confidence_words(p: float, lang: str = "en") -> str:
    """The word for confidence `p` (0-1) in the answer's language: "sure", "likely" or "unsure"
    ("sûr", "probable", "incertain" in French)."""
    for lowest, english, french in CONFIDENCE_WORDS:
        if p >= lowest:
            return french if lang == "fr" else english
    return CONFIDENCE_WORDS[-1][2] if lang == "fr" else CONFIDENCE_WORDS[-1][1]
