"""Identity checks before admission and the mediation agreement (调解协议书).

- ``idnumber``: resident ID numbers — checksum, masking, encryption at rest.
- ``models``: identity verifications, agreement templates, documents, versions, signatures.
- ``identity``: identity verification records, stills, retention and hard delete.
- ``documents``: drafting, versioning, signing and the effective state of agreements.
- ``pdf``: the agreement PDF (CJK fonts, signatures, verification footer with QR code).
- ``feature``: the live-room plugin (socket.io events) lives in ``signaling.features.identity_check``
  and ``signaling.features.agreement``; HTTP routes in ``server.agreements.routes``.
"""
