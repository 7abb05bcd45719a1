"""Articles → passages that keep their character offsets: `article.text[start:end] == passage.text`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from qa.boilerplate import story_parts
from qa.corpus import Article
from qa.sentences import sentence_spans

# Paragraphs first, then lines, then sentence ends, then clause breaks, then words.
# Separators stay attached to the end of the piece they close, so every chunk is a
# verbatim slice of the article and its offsets can be found.
_SEPARATORS = [r"\n\s*\n", r"\n", r"(?<=[.!?…»])\s+", r"(?<=[;:])\s+", r"(?<=,)\s+", r"\s+", ""]


@dataclass(frozen=True)
class Passage:
    doc_id: str
    start: int
    end: int
    text: str
    # Sentence (start, end) offsets inside `text`: the answer step quotes these, and the
    # retriever scores a passage by its best sentence too.
    sentences: tuple[tuple[int, int], ...] = ()

    def sentence_texts(self) -> list[str]:
        return [self.text[s:e] for s, e in self.sentences]


@lru_cache(maxsize=8)
def _splitter(chunk_size: int, chunk_overlap: int):  # type: ignore[no-untyped-def]
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=_SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_article(article: Article, chunk_size: int, chunk_overlap: int) -> list[Passage]:
    """The article's passages in reading order, each a verbatim slice of its text. Only the story is
    cut into passages: the front matter, title line, datelines, bylines and footers are metadata
    (qa/boilerplate.py), and no passage holds one."""
    if chunk_overlap >= chunk_size:
        raise ValueError(f"chunk_overlap ({chunk_overlap}) must be smaller than chunk_size ({chunk_size})")
    text = article.text
    passages: list[Passage] = []
    for part_start, part_end in story_parts(text, article.body_start, article.boilerplate):
        part = text[part_start:part_end]
        cursor = 0
        for chunk in _splitter(chunk_size, chunk_overlap).split_text(part):
            at = part.find(chunk, cursor)
            if at < 0 or not chunk.strip():  # never expected: the splitter only slices
                continue
            spans = tuple(sentence_spans(chunk)) or ((0, len(chunk)),)
            start = part_start + at
            passages.append(Passage(article.id, start, start + len(chunk), chunk, spans))
            cursor = at + 1
    return passages


def under_title(title: str, text: str) -> tuple[str, int]:
    """A passage headed by its article's title, and where the passage's own text starts in that: what
    its vector is made from (qa/indexing.py), so that passages of near-topic articles differ by what
    their article is about, and what a reader trained with titles reads (qa/reader.py)."""
    title = " ".join(title.split())
    if not title or text.startswith(title):
        return text, 0
    head = f"{title}\n\n"
    return head + text, len(head)
