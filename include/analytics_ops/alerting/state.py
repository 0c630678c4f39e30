"""Alert state, the way Alertmanager keeps it: pending, firing, resolved; what to send, and when.

Pure functions of (the stored alerts, this evaluation's observations, now): no database, no Slack,
no clock of their own, so every timing rule is tested with `now` injected.

- An **observation** is one rule's verdict on one label set: active, inactive, or unknown (the check
  could not measure; the alert keeps its state, a database being down is the rule about it).
- An alert is identified by its **fingerprint** (rule and labels): one open alert per fingerprint.
- Active: a new alert is **pending**; once active for the rule's `pending_for` it is **firing**.
  Inactive: a pending alert is dropped (it never fired, nothing was sent); a firing one **resolves**
  once inactive for `keep_firing_for`, so a flapping condition stays one firing alert.
- A rule measured without an observation for an open alert (a DAG that succeeded again, a replica
  gone) makes that alert inactive; a rule no longer configured resolves its alerts.

What is sent follows from the state and what Slack was last told (`notified`), like Alertmanager's
notification log: firing and not told: **firing**; firing, told, `escalate_after` since it fired:
**escalation**, once, one severity up; firing, told, `repeat_interval` since the last message:
**reminder**; resolved and told: **resolved**. A silenced alert is told nothing; when the silence ends
and it still fires, it is sent then. A message that could not be delivered leaves `notified` as it
was, so the next evaluation sends it again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

PENDING, FIRING, RESOLVED = "pending", "firing", "resolved"
NotificationKind = Literal["firing", "reminder", "escalation", "resolved"]


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """Stable id of an alert: its rule and labels (order of the labels does not matter)."""
    text = json.dumps([rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Timing:
    pending_for: timedelta
    keep_firing_for: timedelta
    escalate_after: timedelta | None
    repeat_interval: timedelta


@dataclass(frozen=True)
class Observation:
    """One rule's verdict on one label set in this evaluation."""

    rule: str
    labels: dict[str, str]
    active: bool | None  # None: unknown (could not measure)
    severity: str
    value: str  # what was measured, for people
    number: float | None
    threshold: str
    summary: str
    advice: str
    timing: Timing
    connection: str | None = None  # a product rule's own webhook connection; None: the severity's route
    detail: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)


@dataclass(frozen=True)
class RuleVerdict:
    """Everything one rule said in this evaluation: `measured` False means none of its alerts is known."""

    rule: str
    measured: bool
    observations: tuple[Observation, ...] = ()
    timing: Timing | None = None


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    rule: str
    labels: dict[str, str]
    severity: str
    state: str
    active_since: datetime
    last_seen: datetime  # the last evaluation the condition held
    value: str
    number: float | None
    threshold: str
    summary: str
    advice: str
    connection: str | None = None
    detail: str = ""
    firing_since: datetime | None = None
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None
    notified: bool = False  # whether Slack was told it fires (and not yet that it resolved)
    last_notified_at: datetime | None = None
    silenced_by: str | None = None
    id: int | None = None  # its row in ops.alerts, once stored

    @property
    def effective_severity(self) -> str:
        from analytics_ops.core.config_types import escalate

        return escalate(self.severity) if self.escalated_at else self.severity


@dataclass(frozen=True)
class Notification:
    kind: NotificationKind
    alert: Alert
    severity: str  # the route it goes to
    connection: str | None  # the rule's own connection, else None: the severity's route


@dataclass
class Step:
    """The alerts after one evaluation (open ones and those resolved in it) and what to send."""

    alerts: list[Alert] = field(default_factory=list)
    dropped: list[Alert] = field(default_factory=list)  # pending alerts whose condition cleared
    notifications: list[Notification] = field(default_factory=list)


def _from_observation(obs: Observation, now: datetime) -> Alert:
    return Alert(
        fingerprint=obs.fingerprint,
        rule=obs.rule,
        labels=dict(obs.labels),
        severity=obs.severity,
        state=PENDING,
        active_since=now,
        last_seen=now,
        value=obs.value,
        number=obs.number,
        threshold=obs.threshold,
        summary=obs.summary,
        advice=obs.advice,
        connection=obs.connection,
        detail=obs.detail,
    )


def transition(alert: Alert | None, obs: Observation | None, timing: Timing | None, now: datetime) -> Alert | None:
    """The alert after this evaluation; None when there is (still) no open alert.

    `obs` None means the rule was measured and this label set is no longer among its results
    (inactive); `timing` None means the rule no longer exists (its alert resolves now).
    """
    if obs is not None and obs.active is None:
        return alert  # unknown: keep whatever state it had
    if obs is not None and obs.active:
        current = alert if alert is not None and alert.state != RESOLVED else _from_observation(obs, now)
        current = replace(
            current,
            last_seen=now,
            value=obs.value,
            number=obs.number,
            threshold=obs.threshold,
            detail=obs.detail,
            severity=obs.severity,
            summary=obs.summary,
            advice=obs.advice,
            connection=obs.connection,
        )
        if current.state == PENDING and now - current.active_since >= obs.timing.pending_for:
            current = replace(current, state=FIRING, firing_since=now)
        return current
    # inactive (or the rule is gone)
    if alert is None or alert.state == RESOLVED:
        return None
    if alert.state == PENDING:
        return None
    if obs is not None:
        alert = replace(alert, value=obs.value, number=obs.number, detail=obs.detail)
    if timing is None or now - alert.last_seen >= timing.keep_firing_for:
        return replace(alert, state=RESOLVED, resolved_at=now)
    return alert


def notification_for(alert: Alert, timing: Timing | None, now: datetime) -> Notification | None:
    """What to send about this alert now, if anything (silences are applied by the caller)."""
    if alert.state == RESOLVED:
        if alert.notified:
            return Notification("resolved", alert, alert.effective_severity, alert.connection)
        return None
    if alert.state != FIRING:
        return None
    if not alert.notified:
        return Notification("firing", alert, alert.effective_severity, alert.connection)
    if (
        timing is not None
        and timing.escalate_after is not None
        and alert.escalated_at is None
        and alert.firing_since is not None
        and now - alert.firing_since >= timing.escalate_after
    ):
        from analytics_ops.core.config_types import escalate

        # Escalation goes to the route of the severity above: the on-call, never the rule's own webhook.
        return Notification("escalation", alert, escalate(alert.severity), None)
    repeat = timing.repeat_interval if timing else None
    if repeat is not None and alert.last_notified_at and now - alert.last_notified_at >= repeat:
        return Notification("reminder", alert, alert.effective_severity, alert.connection)
    return None


def after_delivery(alert: Alert, note: Notification, now: datetime) -> Alert:
    """The alert once `note` reached Slack."""
    if note.kind == "resolved":
        return replace(alert, notified=False, last_notified_at=now)
    if note.kind == "escalation":
        return replace(alert, notified=True, escalated_at=now, last_notified_at=now)
    return replace(alert, notified=True, last_notified_at=now)


def step(
    open_alerts: list[Alert],
    verdicts: list[RuleVerdict],
    now: datetime,
    silenced_by: callable,  # (rule, labels, now) -> silence name or None
) -> Step:
    """One evaluation: the new state of every alert, and the notifications to send."""
    by_fingerprint = {alert.fingerprint: alert for alert in open_alerts}
    result = Step()
    seen: set[str] = set()
    timing_of: dict[str, Timing | None] = {}
    for verdict in verdicts:
        timing_of[verdict.rule] = verdict.timing
        for obs in verdict.observations:
            seen.add(obs.fingerprint)
            previous = by_fingerprint.get(obs.fingerprint)
            _settle(result, previous, transition(previous, obs, obs.timing, now), obs.timing, now, silenced_by)
    measured = {v.rule for v in verdicts if v.measured}
    known_rules = {v.rule for v in verdicts}
    for alert in open_alerts:
        if alert.fingerprint in seen:
            continue
        if alert.rule in measured:  # measured, and this label set is no longer among the results
            timing = timing_of[alert.rule]
            _settle(result, alert, transition(alert, None, timing, now), timing, now, silenced_by)
        elif alert.rule not in known_rules:  # the rule was removed from the config or deactivated
            _settle(result, alert, transition(alert, None, None, now), None, now, silenced_by)
        else:  # not measured this time: unchanged
            result.alerts.append(alert)
    return result


def _settle(result: Step, previous: Alert | None, alert: Alert | None, timing: Timing | None, now: datetime,
            silenced_by: callable) -> None:  # fmt: skip
    if alert is None:
        if previous is not None and previous.state == PENDING:
            result.dropped.append(previous)
        return
    silence = silenced_by(alert.rule, alert.labels, now) if alert.state != RESOLVED else None
    alert = replace(alert, silenced_by=silence)
    result.alerts.append(alert)
    if silence is None:
        note = notification_for(alert, timing, now)
        if note is not None:
            result.notifications.append(note)
