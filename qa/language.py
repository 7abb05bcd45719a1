"""The question's language, French or English: py3langid, restricted to the two."""

from __future__ import annotations

import contextlib
import io
import threading
import zipfile
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import keep_cache_copy, user_cache_file

LANGUAGES = ("fr", "en")
LANGUAGE_COPY = "langid-fr-en.npz"  # in the user cache, keyed by py3langid's model file


# Below this probability the question's own words do not tell its language ("Et AWS ?", "AWS ?").
SURE = 0.85
SHORT_WORDS = 4
_OPENING_WORDS = {"et": "fr", "and": "en", "mais": "fr", "but": "en", "pourquoi": "fr", "why": "en", "quand": "fr", "when": "en"}


def language_of(question: str, history: Sequence[str] = ()) -> str:
    """The question's language, fr or en: its own, told by its words; the conversation's (the last
    earlier question's) only where its words cannot tell ("AWS ?")."""
    words = question.split()
    first = words[0].strip("«\"'¿¡").lower() if words else ""
    if first in _OPENING_WORDS and len(words) <= SHORT_WORDS:  # "Et Microsoft ?": a name says nothing
        return _OPENING_WORDS[first]
    lang, probability = _identifier().classify(question)
    if probability < SURE and history:
        lang, _ = _identifier().classify(f"{history[-1]} {question}")
    return "fr" if lang == "fr" else "en"


def preload_language_model() -> None:
    """Load the language identifier in the background: a one-shot command overlaps it with loading
    the models."""
    threading.Thread(target=_identifier, daemon=True).start()


_identifier_lock = threading.Lock()
_loaded: list[Any] = []


def _identifier() -> Any:
    # The lock makes a second caller wait for the load in progress instead of loading it again.
    with _identifier_lock:
        if not _loaded:
            _loaded.append(_load_identifier())
        return _loaded[0]


def _load_identifier() -> Any:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    full = Path(MODEL_DIR) / MODEL_FILE
    ptc, pc, classes, nextmove, row, output = _two_language_model(full)
    try:
        ident = LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)
    except TypeError:  # a py3langid whose model has another layout: its own loader
        ident = LanguageIdentifier.from_model_file(full, norm_probs=True)
    ident.set_languages(list(LANGUAGES))
    return ident


def _two_language_model(full: Path) -> tuple[Any, ...]:
    """py3langid's model cut down to French and English, as its loader returns it, from a copy kept
    in the user's cache (2 MB): the shipped model decompresses 97 languages' weights from LZMA in
    every cold start, beside the reader's loading on a 2-core machine; the copy loads in a fraction of
    that (docs/measurements.md, Cold start). Between French and English it scores the same numbers."""
    copy = user_cache_file(full, LANGUAGE_COPY)
    try:
        with np.load(copy, allow_pickle=False) as data:
            return (
                data["ptc"],
                data["pc"],
                data["classes"].tolist(),
                _stdlib_array(data["nextmove"]),
                _stdlib_array(data["row"]),
                data["output"].tolist(),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        pass  # no copy yet, or a damaged one: made again below
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(full)
    keep = [i for i, c in enumerate(classes) if c in LANGUAGES]
    model = (np.asarray(ptc)[:, keep], np.asarray(pc)[keep], [classes[i] for i in keep], nextmove, row, output)
    _keep_copy(full, model)
    return model


def _keep_copy(full: Path, model: tuple[Any, ...]) -> None:
    ptc, pc, classes, nextmove, row, output = model
    data = io.BytesIO()
    arrays = {"classes": np.array(classes), "nextmove": _numpy_array(nextmove), "row": _numpy_array(row)}
    np.savez_compressed(data, ptc=ptc, pc=pc, output=np.asarray(output, np.int32), **arrays)
    with contextlib.suppress(OSError):  # a read-only home: no copy, the same identifier
        keep_cache_copy(full, LANGUAGE_COPY, data.getvalue())


def _numpy_array(a: array) -> np.ndarray:
    return np.frombuffer(a, dtype=np.dtype(f"u{a.itemsize}"))


def _stdlib_array(a: np.ndarray) -> array:
    """As py3langid walks its automaton: a stdlib array, whose items index faster than numpy's."""
    out = array({2: "H", 4: "I", 8: "L"}[a.dtype.itemsize])
    out.frombytes(memoryview(np.ascontiguousarray(a)).cast("B"))
    return out
