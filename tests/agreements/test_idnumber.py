"""Resident ID numbers: checksum, masking, encryption and lookup hashes."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from server.agreements.idnumber import (
    IdCipher,
    InvalidIdNumber,
    is_valid,
    mask,
    validate,
)


def test_checksum_valid_invalid_and_lower_case_x() -> None:
    assert validate("330106199001011205") == "330106199001011205"
    assert validate("11010519491231002X") == "11010519491231002X"
    assert validate("11010519491231002x") == "11010519491231002X"  # lower-case x accepted
    assert validate(" 1101 0519 4912 3100 2x ") == "11010519491231002X"
    assert not is_valid("330106199001011204")  # wrong check digit
    assert not is_valid("11010519491231002Y")
    assert not is_valid("33010619900101120")  # 17 characters
    assert not is_valid("330106199013011205")  # month 13
    assert not is_valid("030106199001011205")  # leading zero
    with pytest.raises(InvalidIdNumber):
        validate("33010619900101120X")


def test_masking() -> None:
    assert mask("330106199001011234") == "3301**********1234"
    assert mask("11010519491231002x") == "1101**********002X"


def test_encryption_roundtrip_binding_and_lookup() -> None:
    c = IdCipher(b"secret-one")
    token = c.encrypt("330106199001011205", "s:p")
    assert "330106199001011205" not in token
    assert c.decrypt(token, "s:p") == "330106199001011205"
    assert c.encrypt("330106199001011205", "s:p") != token  # random nonce
    with pytest.raises(InvalidTag):
        c.decrypt(token, "s:other")  # bound to its row
    with pytest.raises(InvalidTag):
        IdCipher(b"secret-two").decrypt(token, "s:p")
    assert c.lookup_hash("11010519491231002x") == c.lookup_hash("11010519491231002X")
    assert c.lookup_hash("330106199001011205") != IdCipher(b"x").lookup_hash("330106199001011205")
