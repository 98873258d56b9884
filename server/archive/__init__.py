"""The archive of sealed recordings (what clerks retrieve): search, manifest summaries, signed stream/download
links, archives, composite MP4 jobs, verification and retention.

The HTTP routes live in ``server/api/routes/recordings.py``; this package holds the work behind
them so the CLI (``shared-court retention``) and tests can call it without HTTP.
"""
