"""The one error type of hisa.real: a bad input (argument or file), reported by the CLI as
``hisa.real: error: <message>`` with exit status 2. Messages start with the argument or the file
at fault."""


class RealDataError(Exception):
    """Bad input: a missing or malformed file, an argument out of range. ``.subject`` is the
    argument (``--L``) or the file path the message is about."""

    def __init__(self, subject, what):
        super().__init__(f"{subject}: {what}")
        self.subject = str(subject)
