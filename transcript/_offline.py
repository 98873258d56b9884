"""Imported first by the package: no code path may reach a model hub.

huggingface_hub (pulled in by faster-whisper) reads ``HF_HUB_OFFLINE`` when it is imported, so
this must run before faster_whisper is imported anywhere in the package.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
