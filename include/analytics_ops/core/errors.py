"""Exceptions with a meaning for alerting, and how an error is told in one line."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class ParamsRefused(AirflowFailException):
    """A run's params were refused before anything was touched.

    Fails the task without retries. The alert is a quiet note to the team channel, not a page, and
    the run does not count towards the DAG's failure streak: the person who triggered the run sees
    the message in the UI and fixes the params.
    """


def error_first_line(exception: BaseException | str | None) -> str:
    if exception is None:
        return "(no exception recorded; see the task log)"
    if isinstance(exception, BaseException):
        text = str(exception).strip()
        first = text.splitlines()[0] if text else ""
        return f"{type(exception).__name__}: {first}" if first else type(exception).__name__
    text = str(exception).strip()
    return text.splitlines()[0] if text else "(empty error)"


class ServerUnreachable(ConnectionError):
    """A server that already refused a connection in this run: not asked again (its check is unmeasurable)."""
