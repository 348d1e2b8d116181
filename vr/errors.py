"""The one base of the errors a user can cause: bad input files, bad values, an unreachable server.

The command line (:mod:`vr.cli`) turns every :class:`VrError` (and every ``OSError``: a full disk, a
read-only folder) into one line naming the file and the cause, and exit status 1; ``--debug`` or
``VR_DEBUG=1`` shows the traceback instead. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class VrError(Exception):
    """A problem with the user's input or environment, to be reported in one line."""
