"""Secrets never leave the process: what is redacted from text bound for Slack or a task's output."""

from __future__ import annotations

import re

from analytics_ops.core.config import SuiteConfig, load_config

_REDACTED = "***"
# Credentials that can ride along in an error message even when no configured secret matches.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@", re.I)
_SLACK_HOOK = re.compile(r"https?://hooks\.slack\.com/services/[^\s'\">]+", re.I)
_PASSWORD_ASSIGNMENT = re.compile(r"(?P<key>password\s*[=:]\s*)(?P<value>[^\s,;'\"]+)", re.I)


def redact(text: str, secrets: list[str]) -> str:
    """Remove secrets from text that is about to leave the process (Slack, task output)."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{_REDACTED}@", text)
    text = _SLACK_HOOK.sub("https://hooks.slack.com/services/" + _REDACTED, text)
    return _PASSWORD_ASSIGNMENT.sub(lambda m: f"{m['key']}{_REDACTED}", text)


def suite_secrets(config: SuiteConfig | None = None) -> list[str]:
    """Passwords of every connection the suite uses (DB passwords, webhook tokens/URLs)."""
    from airflow.sdk import BaseHook

    config = config or load_config()
    conn_ids = {
        config.connections.primary,
        config.connections.replica,
        config.connections.redis,
        config.connections.slack,
        *(route.connection for route in config.alerting.routes.values()),
        *config.replication.replica_connections,
    }
    secrets = []
    for conn_id in conn_ids:
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception:  # an undefined connection simply has no secret to hide
            continue
        secrets.extend(s for s in (conn.password, conn.get_uri() if conn.password else None) if s)
    return secrets
