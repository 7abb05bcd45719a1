"""How sure an answer is: the chance that it is right, a logistic model over the reader's and the
search's scores and the slot checks (qa/slots.py).

The numbers are data (`qa/data/confidence.json`), fitted by `python -m training.confidence` on
PIAF's train split, English questions written for it, unanswerable questions written about the
seeds and the train articles (training/questions/), and, for the confidence shown and the rule on
articles that name nothing asked about, the train split of the news collection (bench/news/).
Nothing here is fitted on dev.
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
    "overlap",
    "name_overlap",
    "names_missing",
    "sentence_names_missing",
    "count_unfilled",
)


@dataclass(frozen=True)
class Calibration:
    """Two logistic models over the same inputs: whether the articles answer the question (which
    decides between an answer and "the articles don't say"), and whether the answer shown is right
    (the confidence shown: among answers shown at 0.9, nine in ten should be right)."""

    # The confidence shown: the chance that the answer is right.
    weights: tuple[float, ...]
    bias: float
    # Scale and shift applied to each input before the weights (fitted standardisation).
    means: tuple[float, ...]
    scales: tuple[float, ...]
    # Whether the articles answer: below abstain_below the reply is "the articles don't say".
    answers_weights: tuple[float, ...] = ()
    answers_bias: float = 0.0
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
    # An article that names none of what the question asks about ("Combien d'emplois le campus de
    # Mulhouse créera-t-il ?" read in an article on another plant) does not answer it.
    decline_unnamed: bool = False
    fitted_on: dict[str, object] = field(default_factory=dict)

    def probability(self, features: dict[str, float]) -> float:
        """The confidence shown: the chance that the answer read with these features is right."""
        return self._logistic(self.weights, self.bias, features)

    def answers(self, features: dict[str, float]) -> float:
        """The chance that the articles answer the question, read with these features; compared
        with abstain_below. Without a model of its own, the confidence shown."""
        if not self.answers_weights:
            return self.probability(features)
        return self._logistic(self.answers_weights, self.answers_bias, features)

    def _logistic(self, weights: tuple[float, ...], bias: float, features: dict[str, float]) -> float:
        if self.decline_unnamed and features.get("article_names_missing", 0.0) >= 1.0:
            return 0.0
        z = bias
        for name, w, m, s in zip(FEATURES, weights, self.means, self.scales, strict=True):
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
        answers_weights=tuple(data.get("answers_weights", ())),
        answers_bias=float(data.get("answers_bias", 0.0)),
        abstain_below=float(data["abstain_below"]),
        span_min_margin=float(data["span_min_margin"]),
        span_reader_min_margin=float(data.get("span_reader_min_margin", data["span_min_margin"])),
        choice_weight=float(data["choice_weight"]),
        overlap_weight=float(data.get("overlap_weight", 0.0)),
        name_weight=float(data.get("name_weight", 0.0)),
        type_weight=float(data.get("type_weight", 0.0)),
        decline_unnamed=bool(data.get("decline_unnamed", False)),
        fitted_on=data.get("fitted_on", {}),
    )


# Confidence in words, the one place that says which word a confidence earns: (lowest confidence,
# English word, French word), highest first. The confidence is the chance that the answer is right,
# so "sure" is meant as about nine in ten right and "likely" as more often right than not. The rates
# measured on the dev parts of PIAF and of the news collection are in bench/RESULTS.md ("How sure
# the answers are"); where "sure" falls short of nine in ten there, docs/limits.md says so.
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
