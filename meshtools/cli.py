"""What every command of the project does with an expected failure: one message, exit 2, no traceback.

Expected failures are invalid config (the settings problem list), a missing or unreadable stack
file, bad arguments and an unusable cluster. Anything else is a bug: it keeps its traceback, and
exits 2 too, since 1 means "changed" (plan-diff) or "a check failed" (verify).
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import pulumi

EXIT_OK = 0
EXIT_CHANGED = 1  # plan-diff: the desired state changed; verify: a check failed
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class ToolError(Exception):
    """An expected, explained failure: the message says what is wrong and what to do."""


class UsageError(ToolError):
    """Arguments that cannot be used (an unknown git revision, a port already in use, …)."""


def run_command(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    try:
        return main(argv)
    except pulumi.RunError as error:  # the settings problem list, as `pulumi up` prints it
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # a bug: keep the traceback, but never exit 1, which means "changed"/"failed"
        traceback.print_exc()
        return EXIT_ERROR
    finally:
        _close_event_loop()


def _close_event_loop() -> None:
    """Close the loop the Pulumi runtime leaves open, so commands exit without warnings."""
    loop = asyncio.get_event_loop_policy().get_event_loop()
    if not loop.is_running():
        loop.close()
    sys.unraisablehook = _quiet_loop_finalizer


_default_unraisable = sys.unraisablehook


def _quiet_loop_finalizer(unraisable: Any) -> None:
    """The Pulumi runtime's mocks can leave a second, half-closed event loop behind; when the
    interpreter collects it at exit its finalizer fails on a closed file descriptor. That says
    nothing about the command: keep it out of the output, pass everything else on."""
    if isinstance(unraisable.exc_value, ValueError) and "BaseEventLoop.__del__" in repr(unraisable.object):
        return
    _default_unraisable(unraisable)
