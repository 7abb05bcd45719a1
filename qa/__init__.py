"""Cited question answering over news articles.

import qa
report = qa.build_index("seeds", "index")
r = qa.Retriever.load("index")
hits = r.search("Combien Microsoft va-t-il investir au Japon ?", k=5)
a = qa.answer("How much will AWS invest in Japan?", r)
print(a.full_text())
"""

from qa.answer import Answer, Quote, ShortAnswer, Version, answer
from qa.chunking import Passage
from qa.collection import Added, add, list_articles, remove
from qa.config import Settings
from qa.corpus import Article, add_article, load_articles, safe_article_name
from qa.errors import (
    ClusterError,
    CorpusError,
    IndexCorruptError,
    IndexMissingError,
    IndexStaleError,
    IndexUnusableError,
    IndexWriteError,
    ModelError,
    QAError,
    QuestionError,
    SourceError,
)
from qa.indexing import IndexReport, build_index
from qa.retrieval import Filters, Hit, Retriever
from qa.sync import FeedSync, SyncReport, list_feeds, sync_feeds

__all__ = [
    "Added",
    "Answer",
    "Article",
    "ClusterError",
    "CorpusError",
    "FeedSync",
    "Filters",
    "Hit",
    "IndexCorruptError",
    "IndexMissingError",
    "IndexReport",
    "IndexStaleError",
    "IndexUnusableError",
    "IndexWriteError",
    "ModelError",
    "Passage",
    "QAError",
    "QuestionError",
    "Quote",
    "Retriever",
    "Settings",
    "ShortAnswer",
    "SourceError",
    "SyncReport",
    "Version",
    "add",
    "add_article",
    "answer",
    "build_index",
    "list_articles",
    "list_feeds",
    "load_articles",
    "remove",
    "safe_article_name",
    "sync_feeds",
]
