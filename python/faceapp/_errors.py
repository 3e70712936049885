"""faceapp.StageError: what a stage refused, naming the stage and the input."""


class StageError(Exception):
    """A stage failed: ``stage`` (e.g. "read"), ``input`` (a path or "<bytes: name>"), ``message`` and ``code``
    (one of "failed", "not_found", "unsupported", "too_large", "corrupt", "no_space")."""

    def __init__(self, stage, input, message, code="failed"):
        super().__init__(f"{stage}: {input}: {message}")
        self.stage = stage
        self.input = input
        self.message = message
        self.code = code

    def __reduce__(self):
        return (make_error, (self.stage, self.input, self.message, self.code))


class StageFileNotFoundError(StageError, FileNotFoundError):
    """A missing file or model: also a FileNotFoundError, as PIL's open raises for a missing image."""

    def __init__(self, stage, input, message, code="not_found"):
        StageError.__init__(self, stage, input, message, code)
        self.filename = input

    def __str__(self):
        return Exception.__str__(self)


class StageImageError(StageError, OSError):
    """An image that cannot be read (not an image, truncated, too large): also an OSError, as PIL's
    UnidentifiedImageError is."""

    def __init__(self, stage, input, message, code="failed"):
        StageError.__init__(self, stage, input, message, code)
        self.filename = input

    def __str__(self):
        return Exception.__str__(self)


def make_error(stage, input, message, code="failed"):
    if code == "not_found":
        return StageFileNotFoundError(stage, input, message, code)
    if stage == "read":
        return StageImageError(stage, input, message, code)
    return StageError(stage, input, message, code)
