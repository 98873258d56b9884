"""Short-lived TURN credentials per participant (the TURN REST convention, coturn's
``use-auth-secret``).

A static username/password handed to every link holder is a relay anyone can keep using once a
link leaks. With a shared secret configured for an ICE server instead, each participant gets
``username = "<expiry unix time>:<participant id>"`` and ``credential = base64(HMAC-SHA1(secret,
username))``: coturn recomputes the HMAC and refuses the name once its time has passed, and the
participant id in the name shows in coturn's logs who used the relay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Protocol

from pydantic import SecretStr


class ConfiguredIceServer(Protocol):
    """What `server.config.IceServer` holds (named here so media code need not import config)."""

    @property
    def username(self) -> str | None: ...
    @property
    def credential(self) -> SecretStr | None: ...
    @property
    def secret(self) -> SecretStr | None: ...


def rest_credentials(secret: str, who: str, ttl_s: float, now: float | None = None) -> tuple[str, str]:
    """(username, credential) valid for ``ttl_s`` seconds."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    username = f"{expiry}:{who}"
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode("ascii")


def credentials_for(
    *,
    username: str | None,
    credential: str | None,
    secret: str | None,
    who: str,
    ttl_s: float,
) -> tuple[str | None, str | None]:
    """What one participant is given for one ICE server: its own short-lived pair when the
    server has a shared secret, otherwise the configured static pair (or none, for STUN)."""
    if secret:
        return rest_credentials(secret, who, ttl_s)
    return username, credential


def ice_credentials(
    server: ConfiguredIceServer, who: str, ttl_s: float
) -> tuple[str | None, str | None]:
    """`credentials_for` of one configured ICE server (the join API and the server's own peers)."""
    return credentials_for(
        username=server.username,
        credential=server.credential.get_secret_value() if server.credential else None,
        secret=server.secret.get_secret_value() if server.secret else None,
        who=who,
        ttl_s=ttl_s,
    )
