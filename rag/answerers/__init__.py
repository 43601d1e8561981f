"""Answer writers: turn retrieved passages into a cited answer or an abstention."""

from .base import ABSTENTION, Answerer
from .extractive import ExtractiveAnswerer

__all__ = ["ABSTENTION", "Answerer", "ExtractiveAnswerer"]
