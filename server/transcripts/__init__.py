"""The transcript and mediation-record (调解笔录) feature: the routes clerks use to read and
correct the live transcript and parties use to review the record, the record's documents (PDF,
DOCX) and how a correction reaches a live room. Speech recognition itself is `transcript/`; the
room feature that feeds it is `signaling/features/transcription.py`."""
