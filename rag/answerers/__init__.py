"""Answer writers: turn retrieved passages into a cited answer or an abstention."""

from .extractive import ABSTENTION, ExtractiveAnswerer

__all__ = ["ABSTENTION", "ExtractiveAnswerer"]
