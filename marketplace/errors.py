class ServiceError(Exception):
    """A business rule refused an action; ``message`` is safe to show to the user."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code
