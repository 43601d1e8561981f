"""Answer writers: turn retrieved passages into a cited answer or an abstention."""

from .base import ABSTENTION, Answerer
from .extractive import ExtractiveAnswerer
from .reader import ReaderAnswerer

__all__ = ["ABSTENTION", "Answerer", "ExtractiveAnswerer", "ReaderAnswerer"]
