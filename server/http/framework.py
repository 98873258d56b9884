"""Declarative routes: each endpoint states its auth, request and response models once, and the
same declaration drives validation, error bodies and the OpenAPI document."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from server.http.errors import ApiError, forbidden, from_validation, not_found, unauthorized
from server.models import Terminal, User, UserRole
from server.security.principals import (
    API_KEY_PREFIX,
    SESSION_COOKIE,
    ApiKeyPrincipal,
    LinkRefused,
    PartyPrincipal,
    Principal,
    StaffPrincipal,
    TerminalPrincipal,
    party_from_join_token,
    plausible_session_token,
    staff_from_session_token,
)
from server.security.tokens import TokenError
from server.state import AppState, StateKey, app_state

CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

AuthKind = Literal["public", "staff", "terminal", "party"]


class _CourtRow(Protocol):
    court_id: str


CourtRowT = TypeVar("CourtRowT", bound=_CourtRow)


@dataclass
class Ctx:
    request: web.Request
    state: AppState
    db: AsyncSession
    principal: Principal | None = None
    response_cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    deleted_cookies: list[str] = field(default_factory=list)

    @property
    def staff(self) -> User:
        assert isinstance(self.principal, StaffPrincipal)
        return self.principal.user

    @property
    def actor(self) -> str:
        return self.principal.actor if self.principal else "anonymous"

    @property
    def ip(self) -> str:
        return self.request.remote or ""

    def match(self, name: str) -> str:
        return self.request.match_info[name]

    def require_court(self, court_id: str) -> None:
        """Staff may only touch their own court's data; 404 hides other courts' ids."""
        if not isinstance(self.principal, StaffPrincipal) or self.staff.court_id != court_id:
            raise ApiError(404, "not_found", "未找到 / not found")

    async def court_row(self, model: type[CourtRowT], row_id: str, what: str) -> CourtRowT:
        """The row `row_id` of `model` if it belongs to the caller's court; otherwise 404, the
        same answer as for an id that does not exist (other courts' ids leak nothing)."""
        row = await self.db.get(model, row_id)
        if row is None:
            raise not_found(what)
        self.require_court(row.court_id)
        return row

    def require_role(self, *roles: UserRole) -> None:
        if not isinstance(self.principal, StaffPrincipal) or self.staff.role not in roles:
            raise forbidden()


class ApiKeyResolver(Protocol):
    """Checks an `sk_…` bearer key for a route's scope: its principal, or an ApiError."""

    async def __call__(self, ctx: Ctx, token: str, scope: str) -> ApiKeyPrincipal: ...


API_KEY_RESOLVER: StateKey[ApiKeyResolver] = StateKey("api_key_resolver")

Handler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Handler)


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: AuthKind
    roles: Collection[UserRole]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    raw_response: str | None
    # Staff routes that also accept an API key holding this scope (None: staff only).
    scope: str | None = None


async def _staff_principal(ctx: Ctx) -> StaffPrincipal | None:
    token = ctx.request.cookies.get(SESSION_COOKIE)
    if not plausible_session_token(token):
        return None  # garbage cookies cost nothing
    principal = await staff_from_session_token(ctx.db, token)
    if principal is None:
        # Nothing of the lookup is needed: its connection goes back to the pool now rather than
        # being held through the rest of the request (reading a slow body, the login limiter).
        await ctx.db.rollback()
    return principal


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return None


async def _terminal_principal(ctx: Ctx) -> TerminalPrincipal:
    token = _bearer(ctx.request)
    if not token:
        raise unauthorized("终端未登录 / terminal token required")
    try:
        payload = ctx.state.signer.verify("term", token)
    except TokenError as exc:
        raise unauthorized(str(exc), code=f"token_{exc.reason}") from exc
    terminal = await ctx.db.get(Terminal, str(payload.get("tid")))
    # The key generation number invalidates tokens issued before a key rotation.
    if terminal is None or not terminal.active or payload.get("kp") != terminal.key_prefix:
        raise unauthorized("终端凭据已失效 / terminal credentials revoked", code="token_revoked")
    return TerminalPrincipal(terminal)


async def resolve_invite(ctx: Ctx, token: str) -> PartyPrincipal:
    """Check a join link: signature, expiry, revocation, and that its participant still exists."""
    try:
        return await party_from_join_token(ctx.db, ctx.state.signer, token)
    except LinkRefused as exc:
        raise ApiError(401, exc.code, exc.message) from exc


class Api:
    def __init__(self) -> None:
        self.routes: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        auth: AuthKind = "staff",
        roles: Collection[UserRole] = (),
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        raw_response: str | None = None,
        scope: str | None = None,
    ) -> Callable[[H], H]:
        def deco(fn: H) -> H:
            self.routes.append(
                RouteSpec(
                    method,
                    path,
                    fn,
                    summary,
                    tag,
                    auth,
                    tuple(roles),
                    body,
                    query,
                    response,
                    status,
                    raw_response,
                    scope,
                )
            )
            return fn

        return deco

    def register(self, app: web.Application) -> None:
        for spec in self.routes:
            app.router.add_route(spec.method, spec.path, _make_view(spec))


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _nul_error() -> ApiError:
    # PostgreSQL cannot store NUL in text; refuse it up front on every backend alike.
    return ApiError(400, "invalid_characters", "含有非法字符 / NUL characters are not allowed")


async def _read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, "invalid_json", "请求体不是有效的 JSON / body is not valid JSON"
        ) from exc
    if _has_nul(data):
        raise _nul_error()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, "body") from exc


def _make_view(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    adapter = TypeAdapter(spec.response) if spec.response is not None else None
    params = inspect.signature(spec.handler).parameters

    async def view(request: web.Request) -> web.StreamResponse:
        state = app_state(request)
        if any("\x00" in v for v in request.match_info.values()):
            raise ApiError(404, "not_found", "未找到 / not found")
        if any(_has_nul(k) or _has_nul(v) for k, v in request.query.items()):
            raise _nul_error()
        async with state.db.session() as db:
            ctx = Ctx(request, state, db)
            await _authenticate(ctx, spec)
            kwargs: dict[str, Any] = {}
            if spec.body is not None:
                kwargs["body"] = await _read_body(request, spec.body)
            if spec.query is not None:
                try:
                    kwargs["query"] = spec.query.model_validate(dict(request.query))
                except ValidationError as exc:
                    raise from_validation(exc, "query") from exc
            if "token" in params and "token" in request.match_info:
                kwargs["token"] = request.match_info["token"]
            result = await spec.handler(ctx, **kwargs)
        if isinstance(result, web.StreamResponse):
            response: web.StreamResponse = result
        elif adapter is None:
            response = web.Response(status=204 if spec.status == 200 else spec.status)
        else:
            payload = adapter.dump_python(result, mode="json")
            response = web.json_response(payload, status=spec.status)
        for name, value, opts in ctx.response_cookies:
            response.set_cookie(name, value, **opts)
        for name in ctx.deleted_cookies:
            response.del_cookie(name, path="/")
        return response

    view.__name__ = spec.handler.__name__
    return view


async def _authenticate(ctx: Ctx, spec: RouteSpec) -> None:
    if spec.auth == "public":
        ctx.principal = await _staff_principal(ctx)
        return
    if spec.auth == "terminal":
        ctx.principal = await _terminal_principal(ctx)
        return
    if spec.auth == "party":
        token = ctx.request.match_info.get("token") or _bearer(ctx.request)
        if not token:
            raise unauthorized("缺少加入链接 / join token required")
        ctx.principal = await resolve_invite(ctx, token)
        return
    token = _bearer(ctx.request)
    if spec.scope is not None and token is not None and token.startswith(API_KEY_PREFIX):
        # The keys and their scopes belong to the court network's open integration, which
        # mounts its resolver here (server/court_network/setup.py); without it no key is valid.
        resolve = ctx.state.find(API_KEY_RESOLVER)
        if resolve is None:
            raise unauthorized("API 密钥无效 / invalid API key", code="bad_api_key")
        ctx.principal = await resolve(ctx, token, spec.scope)
        return
    principal = await _staff_principal(ctx)
    if principal is None:
        raise unauthorized()
    ctx.principal = principal
    if ctx.request.method in UNSAFE_METHODS:
        sent = ctx.request.headers.get(CSRF_HEADER, "")
        if not sent or sent != principal.session.csrf_token:
            raise ApiError(
                403, "csrf_failed", "请求校验失败，请刷新页面 / CSRF token missing or wrong"
            )
    if spec.roles and principal.user.role not in spec.roles:
        raise forbidden()


_PATH_PARAM = re.compile(r"{(\w+)}")


def _add_schemas(schemas: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    """Components are named after their models: two different models of one name would make
    the spec (and the web client's generated types) describe one of them wrongly."""
    for name, schema in defs.items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(
                f"two API models are both named {name!r} (seen again at {where}): rename one"
            )
        schemas[name] = schema


def openapi_document(api: Api, title: str, version: str) -> dict[str, Any]:
    """Build an OpenAPI 3.1 document from the route declarations."""
    from pydantic.json_schema import models_json_schema

    models: set[type[BaseModel]] = set()
    for spec in api.routes:
        for m in (spec.body, spec.query):
            if m is not None:
                models.add(m)
    model_list = sorted(models, key=lambda m: m.__name__)
    _, top = models_json_schema(
        [(m, "validation") for m in model_list], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, Any] = {}
    for spec in api.routes:
        op: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "operationId": spec.handler.__name__,
            "responses": {},
        }
        params: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in _PATH_PARAM.findall(spec.path)
        ]
        if spec.query is not None:
            qschema = spec.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if params:
            op["parameters"] = params
        if spec.body is not None:
            schemas.setdefault(
                spec.body.__name__,
                spec.body.model_json_schema(ref_template="#/components/schemas/{model}"),
            )
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{spec.body.__name__}"}
                    }
                },
            }
        if spec.response is not None:
            rschema = TypeAdapter(spec.response).json_schema(
                mode="serialization", ref_template="#/components/schemas/{model}"
            )
            _add_schemas(schemas, rschema.pop("$defs", {}), spec.path)
            op["responses"][str(spec.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": rschema}},
            }
        elif spec.raw_response:
            op["responses"][str(spec.status)] = {
                "description": "OK",
                "content": {spec.raw_response: {}},
            }
        else:
            op["responses"]["204"] = {"description": "No content"}
        op["responses"]["default"] = {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        if spec.auth == "staff":
            op["security"] = [{"staffCookie": [], "csrfHeader": []}]
            if spec.scope is not None:
                op["security"].append({"apiKeyBearer": [spec.scope]})
            if spec.roles:
                op["description"] = "Roles: " + ", ".join(r.value for r in spec.roles)
            if spec.scope is not None:
                scope_note = f"API key scope: {spec.scope}"
                op["description"] = "; ".join(filter(None, [op.get("description"), scope_note]))
        elif spec.auth == "terminal":
            op["security"] = [{"terminalBearer": []}]
        elif spec.auth == "party":
            op["security"] = [{"joinToken": []}]
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    schemas["ErrorBody"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "staffCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "csrfHeader": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
                "terminalBearer": {"type": "http", "scheme": "bearer"},
                "joinToken": {"type": "http", "scheme": "bearer"},
                "apiKeyBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "sk_…"},
            },
        },
    }
