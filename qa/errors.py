"""Errors a user can act on: each message says what is wrong and what to run."""

from __future__ import annotations


class QAError(Exception):
    """Base class: the command line prints these without a traceback."""


class QuestionError(QAError, ValueError):
    """The question cannot be answered as given (empty, blank, not text)."""


class CorpusError(QAError):
    """No article could be loaded."""


class IndexUnusableError(QAError):
    """Base for index problems."""


class IndexMissingError(IndexUnusableError):
    pass


class IndexCorruptError(IndexUnusableError):
    pass


class IndexStaleError(IndexUnusableError):
    """The index was built with another model or chunking than the settings ask for."""


class IndexWriteError(IndexUnusableError):
    """The new index could not be written (disk full, read-only folder...); the last good one is unchanged."""


class ModelError(QAError):
    """The embedding model or the reader cannot be loaded."""


class SourceError(QAError):
    """An input to add (a file or a link) cannot become an article; nothing was written."""


class ClusterError(QAError):
    """The cluster build could not run or finish (no Ray, no cluster, a cluster that went away);
    the last good index is unchanged."""
