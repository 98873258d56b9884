"""The generated spec names each model once: the web client's types are generated from it."""

from __future__ import annotations

import pytest

from server.http.framework import _add_schemas


def test_two_models_with_one_name_are_refused() -> None:
    schemas: dict[str, object] = {"ParticipantOut": {"properties": {"kind": {}}}}
    _add_schemas(schemas, {"ParticipantOut": {"properties": {"kind": {}}}}, "/a")  # same: fine
    with pytest.raises(ValueError, match="ParticipantOut"):
        _add_schemas(schemas, {"ParticipantOut": {"properties": {"name": {}}}}, "/b")


def test_session_participants_are_described_as_the_api_returns_them() -> None:
    import json
    from pathlib import Path

    spec = json.loads((Path(__file__).parents[2] / "docs" / "openapi.json").read_text())
    participant = spec["components"]["schemas"]["ParticipantOut"]["properties"]
    assert {"kind", "display_name", "role_label"} <= set(participant)
    document = spec["components"]["schemas"]["ManifestDocumentOut"]["properties"]
    assert {"name", "size", "sha256"} <= set(document)
