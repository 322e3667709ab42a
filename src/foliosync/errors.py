"""One root error. Each subclass knows its HTTP status and carries a message a user can act on.

Messages never contain secrets: callers pass what happened and what to do, never a token.
"""

from __future__ import annotations


class FoliosyncError(Exception):
    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class NotFoundError(FoliosyncError):
    status_code = 404
    code = "not_found"


class ValidationFailed(FoliosyncError):
    status_code = 422
    code = "invalid_input"


class ConflictError(FoliosyncError):
    status_code = 409
    code = "conflict"


class PermissionDenied(FoliosyncError):
    status_code = 403
    code = "forbidden"


class AuthenticationFailed(FoliosyncError):
    status_code = 401
    code = "not_authenticated"


class ImportFileError(FoliosyncError):
    """A file could not be imported; says which file and line. Nothing was written."""

    status_code = 422
    code = "import_failed"

    def __init__(
        self, message: str, *, filename: str | None = None, line: int | None = None, hint: str | None = None
    ) -> None:
        where = filename or "input"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {message}", hint=hint)
        self.filename = filename
        self.line = line
