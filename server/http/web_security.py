"""Response headers that limit what a page of ours may load, and who may frame it.

The web client is a built bundle served by the app itself: scripts, styles, fonts and images
come from this origin; signature drawings and QR codes are `data:` images; video tiles play
MediaStreams (no URL); socket.io talks to this origin. A Content-Security-Policy that allows only
that means injected markup (a party's name, a chat line) can never run script, even if an
escaping bug slipped through. element-plus sets `style` attributes at run time, hence
'unsafe-inline' for styles only. A page that needs a stricter policy sets its own header (the
public verification page does); these are defaults.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from server.http.client_address import CLIENT_ADDRESS_KEY

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# Signed links travel in paths (/join/<token>, /api/join/<token>, download links): a JWT is
# three base64url parts; anything that long and dotted in a path or query is a credential.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_SECRET_QUERY = re.compile(r"((?:token|key|sig|signature|access_token)=)[^&\s]+", re.IGNORECASE)


def redact(target: str) -> str:
    """A request path and query with signed tokens and secret parameters replaced."""
    return _SECRET_QUERY.sub(r"\1<redacted>", _TOKEN.sub("<redacted>", target))


class RedactingAccessLogger(AbstractAccessLogger):
    """aiohttp's access log line, without the join tokens and download links in it: whoever
    reads the log (an operator, a log shipper) must not be able to join a mediation."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %s %.3fs',
            request.get(CLIENT_ADDRESS_KEY) or request.remote or "-",
            request.method,
            redact(request.path_qs),
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            time,
        )
