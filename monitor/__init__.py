"""Clausewatch: watches platform terms and tells creators when AI-training or content-access
clauses change. The pipeline (see ARCHITECTURE.md): sources -> fetch -> extract -> archive."""

__version__ = "0.1.0"
