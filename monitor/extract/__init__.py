"""Extraction: a Snapshot's bytes into a Document of clauses.

Owns: the readers by media type (readers: READERS and extract()), the HTML reader (html), plain
text and PDF (text), finding the main content (main_content), building Documents (document)
and the Markdown version format (markdown), which the archive writes and the Markdown reader
reads. Must never: fetch, or touch the archive.
"""
