"""Exceptions with a meaning for alerting."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException


class ParamsRefused(AirflowFailException):
    """A run's params were refused before anything was touched.

    Fails the task without retries. The alert is a quiet note to the team channel, not a page, and
    the run does not count towards the DAG's failure streak: the person who triggered the run sees
    the message in the UI and fixes the params.
    """
