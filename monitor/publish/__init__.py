"""Publishing: what people read. Feeds, the email digest and the static history site.

Owns: turning archived values into files and mail. jinja2 lives in publish.templates; every
template autoescapes, because every piece of terms text was fetched from the web.
"""
