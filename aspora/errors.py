"""The one error base of Aspora: a message a user can act on, and the HTTP status it maps to."""


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotPermittedError(ApplicationError):
    """Raised as "not found" to the caller: refusing must not reveal that a thing exists."""

    status_code = 404
