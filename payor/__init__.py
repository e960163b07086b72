"""Payor: the money side of funded projects."""

__version__ = "0.1.0"
