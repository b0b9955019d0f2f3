"""Domain errors. Adapters map them to HTTP (RFC 9457) or CLI messages in one place."""

from __future__ import annotations


class DomainError(Exception):
    """A failure the caller can act on; `field` names the offending input where there is one."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class ValidationFailed(DomainError):
    status = 422
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class Unauthenticated(DomainError):
    status = 401
    title = "Authentication required"


class PermissionDenied(DomainError):
    status = 403
    title = "Forbidden"


class AccountLocked(DomainError):
    status = 423
    title = "Account locked"
