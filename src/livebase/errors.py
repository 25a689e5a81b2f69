"""The Livebase exception tree, with a stable code on every error.

Codes are ``ScreamingCamelCase`` tags that tests, metrics and clients can rely on; messages are
for people and may change. Each class maps to an HTTP status for the ``/api/*`` endpoints::

    LivebaseError                      500 InternalError
    ├── BadRequestError                400 BadRequest
    │   ├── InvalidJsonError           400 BadJsonBody
    │   ├── InvalidValueError          400 InvalidValue          (not a Convex value)
    │   ├── ValidationError            400 ArgumentValidationError / SchemaValidationError / ...
    │   ├── InvalidIdError             400 InvalidId
    │   ├── InvalidCursorError         400 InvalidCursor
    │   ├── InvalidQueryError          400 InvalidQuery          (bad index range, unknown index)
    │   ├── ReadOnlyError              400 ReadOnlyTransaction
    │   └── LimitExceededError         400 <Limit>LimitExceeded
    ├── FunctionNotFoundError          404 FunctionNotFound
    ├── UnauthenticatedError           401 Unauthenticated
    │   └── InvalidTokenError          401 InvalidToken          (.reason: expired, malformed, ...)
    ├── ForbiddenError                 403 Forbidden
    ├── ConflictError                  409 OptimisticConcurrencyControlFailure (retried first)
    ├── CursorExpiredError             410 CursorExpired         (change-stream cursor pruned)
    ├── SchemaMigrationError           400 SchemaMigrationRefused
    ├── AppLoadError                   500 AppLoadFailed
    ├── OAuthError                     400 (the built-in issuer's ``/auth/*``; body per RFC 6749)
    │   ├── InvalidRequestError        400 invalid_request       (a missing or repeated field)
    │   ├── InvalidGrantError          400 invalid_grant         (wrong password, disabled, reused)
    │   ├── UnsupportedGrantTypeError  400 unsupported_grant_type
    │   └── SlowDownError              429 slow_down             (too many failed sign-ins)
    ├── AccountExistsError             409 AccountExists
    └── AccountNotFoundError           404 AccountNotFound

``AppError`` is separate: it is what application code raises to send structured data to the caller
(Convex's ``ConvexError``), not a fault of the system.
"""

from __future__ import annotations

import json
from typing import Any, Literal, get_args


class LivebaseError(Exception):
    """Base of every error Livebase raises itself."""

    code: str = "InternalError"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class BadRequestError(LivebaseError):
    code = "BadRequest"
    http_status = 400


class InvalidJsonError(BadRequestError):
    code = "BadJsonBody"


class InvalidValueError(BadRequestError):
    """A Python or JSON value that is not a Convex value (e.g. a set, a lone surrogate)."""

    code = "InvalidValue"


class ValidationError(BadRequestError):
    """A value did not match a validator; ``path`` names the offending field."""

    code = "ValidationError"

    def __init__(self, message: str, *, path: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.path = path


class InvalidIdError(BadRequestError):
    code = "InvalidId"


class InvalidCursorError(BadRequestError):
    code = "InvalidCursor"


class InvalidQueryError(BadRequestError):
    code = "InvalidQuery"


class ReadOnlyError(BadRequestError):
    code = "ReadOnlyTransaction"


class LimitExceededError(BadRequestError):
    code = "LimitExceeded"


class FunctionNotFoundError(LivebaseError):
    code = "FunctionNotFound"
    http_status = 404


class UnauthenticatedError(LivebaseError):
    code = "Unauthenticated"
    http_status = 401


TokenRefusal = Literal[
    "malformed",
    "alg_not_allowed",
    "unknown_kid",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_issuer",
    "wrong_audience",
    "no_provider",
    "issuer_unreachable",
    "account_disabled",
]
"""Why a user token was refused: a stable tag for tests, metrics and clients."""

_TOKEN_REFUSALS: frozenset[str] = frozenset(get_args(TokenRefusal))


class InvalidTokenError(UnauthenticatedError):
    """A user token (a JWT) that does not prove who it claims to: ``reason`` is one of
    ``TokenRefusal``; the message says the same in words, and what to do about it. Neither
    ever contains the token, so both may be logged and sent back to the client."""

    code = "InvalidToken"

    def __init__(self, reason: TokenRefusal, message: str) -> None:
        if reason not in _TOKEN_REFUSALS:
            raise ValueError(f"unknown token refusal reason {reason!r}")
        super().__init__(message)
        self.reason: TokenRefusal = reason


class ForbiddenError(LivebaseError):
    code = "Forbidden"
    http_status = 403


class ConflictError(LivebaseError):
    """A write transaction lost a race; the engine retries it before anyone sees this."""

    code = "OptimisticConcurrencyControlFailure"
    http_status = 409


class IdempotencyKeyReusedError(LivebaseError):
    """An idempotency key (``Idempotency-Key``, or a sync session's request id) that already
    answered a different call: another caller, function or arguments. Its stored outcome is
    never handed to anyone but the call that made it."""

    code = "IdempotencyKeyReused"
    http_status = 422


class CursorExpiredError(LivebaseError):
    """A change-stream cursor older than the retained change log: the changes after it are gone,
    so resuming would silently skip them."""

    code = "CursorExpired"
    http_status = 410


class SchemaMigrationError(LivebaseError):
    code = "SchemaMigrationRefused"
    http_status = 400


class AppLoadError(LivebaseError):
    code = "AppLoadFailed"


# -- the built-in issuer (livebase.auth.builtin) ---------------------------------------------------


class OAuthError(LivebaseError):
    """An error of the OAuth 2.0 token or revocation endpoint. Its body is the RFC 6749 §5.2
    one, ``{"error": <oauth_error>, "error_description": <message>}``; ``code`` stays the
    stable Livebase tag."""

    code = "OAuthError"
    http_status = 400
    oauth_error = "invalid_request"

    def to_oauth_json(self) -> dict[str, str]:
        return {"error": self.oauth_error, "error_description": self.message}


class InvalidRequestError(OAuthError):
    code = "InvalidRequest"
    oauth_error = "invalid_request"


class InvalidGrantError(OAuthError):
    """The credentials or the refresh token do not hold; the message names why."""

    code = "InvalidGrant"
    oauth_error = "invalid_grant"


class UnsupportedGrantTypeError(OAuthError):
    code = "UnsupportedGrantType"
    oauth_error = "unsupported_grant_type"


class SlowDownError(OAuthError):
    """Too many failed sign-ins for an account or from an address; ``retry_after`` seconds
    until the next attempt is heard (sent as ``Retry-After``)."""

    code = "RateLimited"
    http_status = 429
    oauth_error = "slow_down"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccountExistsError(LivebaseError):
    code = "AccountExists"
    http_status = 409


class AccountNotFoundError(LivebaseError):
    code = "AccountNotFound"
    http_status = 404


# -- end of the built-in issuer's errors ----------------------------------------------------------


class AppError(Exception):
    """Raise from a function to send ``data`` to the caller as ``errorData`` (Convex's ConvexError).

    ``data`` must be a Convex value; a string is also used as the message.
    """

    def __init__(self, data: Any = None, message: str | None = None) -> None:
        if message is None:
            if isinstance(data, str):
                message = data
            else:
                shown = json.dumps(data, default=repr, ensure_ascii=False)
                message = f"AppError: {shown[:500]}"
        super().__init__(message)
        self.data = data
        self.message = message


__all__ = [
    "AccountExistsError",
    "AccountNotFoundError",
    "AppError",
    "AppLoadError",
    "BadRequestError",
    "ConflictError",
    "CursorExpiredError",
    "ForbiddenError",
    "FunctionNotFoundError",
    "InvalidCursorError",
    "InvalidGrantError",
    "InvalidIdError",
    "InvalidJsonError",
    "InvalidQueryError",
    "InvalidRequestError",
    "InvalidTokenError",
    "InvalidValueError",
    "LimitExceededError",
    "LivebaseError",
    "OAuthError",
    "ReadOnlyError",
    "SchemaMigrationError",
    "SlowDownError",
    "TokenRefusal",
    "UnauthenticatedError",
    "UnsupportedGrantTypeError",
    "ValidationError",
]
