"""Extraction: a Snapshot's bytes into a Document of clauses.

Owns: the HTML reader (html), plain text and PDF (text), finding the main content
(main_content), building Documents (document) and the Markdown version format (markdown).
Must never: fetch, or touch the archive.
"""
