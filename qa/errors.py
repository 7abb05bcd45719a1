"""Errors a user can act on: each message says what is wrong and what to run."""

from __future__ import annotations


class QAError(Exception):
    """Base class: the command line prints these without a traceback."""


class QuestionError(QAError, ValueError):
    """The question cannot be answered as given (empty, blank)."""


class CorpusError(QAError):
    """No article could be loaded."""


class IndexError_(QAError):
    """Base for index problems (named with a trailing underscore: IndexError is a builtin)."""


class IndexMissingError(IndexError_):
    pass


class IndexCorruptError(IndexError_):
    pass


class IndexStaleError(IndexError_):
    """The index was built with other settings than the ones in force."""


class ModelError(QAError):
    """The embedding model cannot be loaded."""
