"""The archive of sealed recordings (what clerks retrieve): search, manifest summaries, signed stream/download
links, archives, composite MP4 jobs, verification and retention.

The HTTP routes are ``routes.py``; the rest of this package holds the work behind them, so
the CLI (``shared-court retention``) and tests can call it without HTTP.
"""
