"""Fetching: one terms page from the web into a Snapshot, politely.

Owns: HTTP with retries, per-host turns and conditional requests (http), the charset check,
robots.txt, and telling bot walls from terms (bot_walls). Must never: parse the terms text or
touch the archive.
"""
