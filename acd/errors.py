"""The error hierarchy of acd: every failure it raises on purpose is one of these."""


class AcdError(Exception):
    """Base of every error acd raises on purpose."""


class ConfigError(AcdError):
    """A setting is missing or invalid; the message names the setting."""


class SettingError(ConfigError):
    """One setting is invalid: ``field`` is its path inside the table ``where`` came from
    (``queues[0]``, or '' for an HTTP body), so the file and the API name it alike."""

    def __init__(self, where: str, field: str, reason: str) -> None:
        super().__init__(f"{where}.{field}: {reason}" if where else f"{field}: {reason}")
        self.where = where
        self.field = field
        self.reason = reason


class InvalidInput(AcdError):
    """A value from outside (AMI, HTTP, config) failed validation."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AmiError(AcdError):
    """Asterisk refused an action or the AMI connection failed."""


class AmiAuthError(AmiError):
    """Asterisk rejected the AMI username or secret."""


class AmiNotDone(AmiError):
    """The action certainly did not happen: it was never sent (not connected), or Asterisk
    answered it with an error. A plain :class:`AmiError` (a timeout, the connection lost while
    waiting) leaves it unknown whether Asterisk carried it out."""


class NoSuchChannel(AmiNotDone):
    """Asterisk has no channel of that name: the caller hung up, or never was."""


class StoreUnavailable(AcdError):
    """Redis could not be reached or answered with an error."""


class Conflict(AcdError):
    """The action does not fit the present state (a call no longer waiting, an agent not
    ready); the message says why."""


class NotFound(AcdError):
    """An agent, queue or call that does not exist."""
