"""Fetching: one terms page from the web into a Snapshot, politely.

Owns: HTTP with retries, per-host turns, conditional requests and a total deadline per request
(http), the charset check, robots.txt (RFC 9309, with protego), and telling bot walls from terms
(bot_walls). Must never: parse the terms text or
touch the archive.
"""
