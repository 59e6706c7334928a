"""One error hierarchy for all of skyvault, with a stable exit code per class.

Library code raises these and never prints or exits; the CLI maps ``exit_code`` to the process status.
AWS ``ClientError``s are translated into this hierarchy at one boundary (``skyvault.aws.translate``).
Exit codes are part of the user contract (documented in README.md): never renumber a class.
"""

from __future__ import annotations


class SkyvaultError(Exception):
    """Base class. ``hint`` is an optional next step for the user (a command to run, a field to fix)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(SkyvaultError):
    """The configuration file is missing, malformed or invalid (names the file and the field)."""

    exit_code = 3


class NotFoundError(SkyvaultError):
    """A named resource, account, recovery point or job does not exist."""

    exit_code = 4


class AccessDeniedError(SkyvaultError):
    """AWS refused an action: names the IAM action, the step and the feature that needed it."""

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        actions: tuple[str, ...] = (),
        step: str | None = None,
        feature: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.actions = actions
        self.step = step
        self.feature = feature


class AwsError(SkyvaultError):
    """Any other error reported by an AWS service (code and operation kept for scripts)."""

    exit_code = 6

    def __init__(self, message: str, *, code: str = "", operation: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.operation = operation


class ThrottledError(AwsError):
    """AWS kept throttling after every retry with backoff."""

    exit_code = 7


class AuthError(SkyvaultError):
    """No usable credentials, or an AssumeRole was refused (e.g. wrong external ID)."""

    exit_code = 8


class LibraryError(SkyvaultError):
    """The backup library cannot be used as asked."""

    exit_code = 9


class LibraryCorruptError(LibraryError):
    """Data in the library failed verification (names the object)."""

    exit_code = 10


class LibraryLockedError(LibraryError):
    """Another writer holds the library lock."""

    exit_code = 11


class WrongPassphraseError(LibraryError):
    """No key file of the library opens with the given passphrase or KMS key."""

    exit_code = 12


class ConfirmationRequiredError(SkyvaultError):
    """A destructive action (e.g. overwriting the original) needs explicit confirmation (--yes)."""

    exit_code = 13


class JobError(SkyvaultError):
    """A job failed or was cancelled; its state is kept in the catalog for resume."""

    exit_code = 14


class LabError(SkyvaultError):
    """The local AWS lab could not be started, reached or stopped."""

    exit_code = 15


class PreflightError(SkyvaultError):
    """The preflight check found permissions missing for the requested features."""

    exit_code = 16


class ConflictError(SkyvaultError):
    """The thing to create already exists, or the resource is in a state that forbids the action."""

    exit_code = 17


class NotBuiltError(SkyvaultError):
    """The command is part of the CLI contract but not implemented yet (it says so, never pretends)."""

    exit_code = 64


EXIT_CODES: dict[type[SkyvaultError], int] = {
    cls: cls.exit_code
    for cls in (
        SkyvaultError,
        ConfigError,
        NotFoundError,
        AccessDeniedError,
        AwsError,
        ThrottledError,
        AuthError,
        LibraryError,
        LibraryCorruptError,
        LibraryLockedError,
        WrongPassphraseError,
        ConfirmationRequiredError,
        JobError,
        LabError,
        PreflightError,
        ConflictError,
        NotBuiltError,
    )
}
