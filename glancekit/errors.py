"""The one error type for user mistakes.

Anything a user can cause (missing file, corrupt image, unknown task, empty folder, bad label) raises
`GlanceError`; the CLI and the server catch it once and turn it into one clear line (exit code 2 /
HTTP 4xx). Every other exception is a bug and is allowed to surface.
"""


class GlanceError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""
