"""Graceful shutdown for Django + Channels sites under daphne and uvicorn."""

__version__ = "0.1.0"
