"""The Convex-compatible HTTP function API: ``/api/query|mutation|action``, ``/api/query_ts``,
``/api/query_at_ts``, ``/api/function`` and ``/api/run/<path>``.

Function outcomes answer HTTP 200 with ``{"status": "success" | "error", ...}``; requests that
never reach a function (bad JSON, unknown or internal function, bad arguments, bad credentials)
answer 4xx with ``{"code", "message"}``.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from livebase.auth.callers import (
    UserTokenCheck,
    identity_from_header_suffix,
    no_user_tokens,
)
from livebase.errors import (
    AppError,
    BadRequestError,
    InvalidJsonError,
    LivebaseError,
    UnauthenticatedError,
)
from livebase.functions.runner import CallResult, Runner, check_args_size
from livebase.httpserver import Response
from livebase.values.types import MAX_NESTING, Value
from livebase.values.wire import (
    decode_ts,
    dumps_bytes,
    encode_ts,
    from_wire,
    loads,
    to_clean_json,
    to_wire,
)

log = logging.getLogger("livebase.http")

ENCODED_FORMATS = ("convex_encoded_json", "convex_json")
CLEAN_FORMATS = ("json", "convex_clean_json", "clean_json")


def json_response(status: int, data: Any) -> Response:
    return Response(status, dumps_bytes(data))


def error_response(exc: LivebaseError) -> Response:
    body = exc.to_json()
    if isinstance(exc, UnauthenticatedError) and exc.code != "Unauthenticated":
        # Clients expect every 401 to say "Unauthenticated"; the particular refusal
        # (``expired``, ``NoAuthProvider``...) goes beside it.
        body = {**body, "code": "Unauthenticated", "reason": getattr(exc, "reason", exc.code)}
    return json_response(exc.http_status, body)


def encode_value(value: Value, fmt: str) -> Any:
    return to_wire(value) if fmt in ENCODED_FORMATS else to_clean_json(value)


def udf_response(result: CallResult, fmt: str) -> Response:
    if result.error is None:
        return json_response(
            200,
            {
                "status": "success",
                "value": encode_value(result.value, fmt),
                "logLines": result.log_lines,
            },
        )
    if result.rejected and isinstance(result.error, LivebaseError):
        return error_response(result.error)
    body: dict[str, Any] = {
        "status": "error",
        "errorMessage": result.error_message(),
        "logLines": result.log_lines,
    }
    if isinstance(result.error, AppError):
        body["errorData"] = encode_value(result.error.data, fmt)
    return json_response(200, body)


class Credentials:
    """Who is calling: the admin (``Authorization: Convex <key>``, possibly acting as a user
    identity), a signed-in user (``Authorization: Bearer <JWT>``) or an anonymous client."""

    def __init__(self, admin: bool, identity: dict[str, Any] | None = None) -> None:
        self.admin = admin
        self.identity = identity
        """The identity functions see (wire form), or None."""


def is_admin(authorization: str | None, admin_key: str) -> bool:
    """For endpoints only the admin may use: whether ``Authorization: Convex <admin key>`` came
    (a wrong key is an error; a user token or none is simply not the admin)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme != "Convex":
        return False
    if not hmac.compare_digest(token.partition(":")[0].encode(), admin_key.encode()):
        raise UnauthenticatedError("the admin key is not valid for this deployment")
    return True


async def authenticate(
    authorization: str | None,
    admin_key: str,
    verify_user_token: UserTokenCheck = no_user_tokens,
) -> Credentials:
    if not authorization:
        return Credentials(admin=False)
    scheme, _, token = authorization.partition(" ")
    if scheme == "Convex":
        key, colon, acting_as = token.partition(":")
        if not hmac.compare_digest(key.encode(), admin_key.encode()):
            raise UnauthenticatedError("the admin key is not valid for this deployment")
        identity = identity_from_header_suffix(acting_as) if colon else None
        return Credentials(admin=True, identity=identity)
    if scheme == "Bearer":
        user = await verify_user_token(token.strip())
        return Credentials(admin=False, identity=user.identity)
    raise UnauthenticatedError(
        f"unsupported Authorization scheme {scheme!r}: send 'Bearer <user token>' or "
        "'Convex <admin key>'"
    )


def parse_call(
    body: bytes, *, path_override: str | None = None, max_nesting: int = MAX_NESTING
) -> tuple[str, Any, str]:
    """``(path, args, format)`` from a call's JSON body; ``BadRequestError`` and its kin for a
    body that is not such a call, including arguments nested more than ``max_nesting`` arrays
    and objects deep (the arguments object is the first level)."""
    data = loads(body) if body else {}
    if not isinstance(data, dict):
        raise InvalidJsonError("request body must be a JSON object {path, args, format}")
    path = path_override or data.get("path")
    if not isinstance(path, str) or not path:
        raise BadRequestError('request body needs "path": "module:function"')
    fmt = data.get("format") or ("convex_encoded_json" if path_override is None else "json")
    if fmt not in ENCODED_FORMATS + CLEAN_FORMATS:
        raise BadRequestError(f"unsupported format {fmt!r}; use convex_encoded_json or json")
    raw_args = data.get("args", {})
    if isinstance(raw_args, list):
        if len(raw_args) != 1:
            raise BadRequestError('"args" as an array must hold exactly one object')
        raw_args = raw_args[0]
    if raw_args is None:
        raw_args = {}
    args = from_wire(raw_args, max_depth=max_nesting, what="arguments")
    return path, args, fmt


async def handle_api(
    runner: Runner,
    route: str,
    body: bytes,
    creds: Credentials,
    idempotency_key: str | None,
) -> Response:
    """Dispatch one ``/api/<route>`` call (``route`` is e.g. ``mutation`` or
    ``run/messages/list``)."""
    limits = runner.engine.settings.limits
    try:
        if route == "query_ts":
            return json_response(200, {"ts": encode_ts(runner.engine.latest_ts)})
        if route.startswith("run/"):
            module_fn = route.removeprefix("run/")
            module, _, name = module_fn.rpartition("/")
            path, args, fmt = parse_call(
                body, path_override=f"{module}:{name}", max_nesting=limits.max_nesting
            )
            kind = None
        else:
            path, args, fmt = parse_call(body, max_nesting=limits.max_nesting)
            kind = None if route == "function" else route
        if len(body) > limits.max_args_bytes // 3:
            # Smaller bodies cannot be over the limit: a JSON number, the one thing that grows
            # when written again as wire JSON, at most triples ("1" -> "1.0").
            check_args_size(path, args, limits.max_args_bytes)
        if kind == "query" or route == "query_at_ts":
            at_ts = None
            if route == "query_at_ts":
                at_ts = decode_ts(loads(body).get("ts"))
            result = await runner.run_query_async(
                path, args, admin=creds.admin, identity=creds.identity, at_ts=at_ts
            )
        elif kind == "mutation":
            result = await runner.run_mutation(
                path,
                args,
                admin=creds.admin,
                identity=creds.identity,
                idempotency_key=None if idempotency_key is None else f"http:{idempotency_key}",
            )
        elif kind == "action":
            result = await runner.run_action(path, args, admin=creds.admin, identity=creds.identity)
        else:
            fd = runner.lookup(path, None, admin=creds.admin)
            admin, identity = creds.admin, creds.identity
            if fd.kind == "query":
                result = await runner.run_query_async(path, args, admin=admin, identity=identity)
            elif fd.kind == "mutation":
                result = await runner.run_mutation(path, args, admin=admin, identity=identity)
            else:
                result = await runner.run_action(path, args, admin=admin, identity=identity)
        return udf_response(result, fmt)
    except LivebaseError as exc:
        return error_response(exc)
