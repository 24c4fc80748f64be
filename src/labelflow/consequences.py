"""Who follows which fact: the one place where subscribers are registered, once at start-up.

Each consequence lives with its own concept (the deadlines of a step with the deadlines, the end
of an assignment with the assignments...); this module only says which fact each one follows,
in the order they run.
"""

from __future__ import annotations

from labelflow import (
    accounts,
    assignments,
    deadlines,
    jobs,
    label,
    notifications,
    pipeline,
    reminders,
    report_document,
    reports,
    stats,
    webhooks,
)
from labelflow.events import KIND_LABELS, SUBSCRIBERS, Subscribers


def install(
    registry: Subscribers = SUBSCRIBERS,
    handlers: jobs.Handlers = jobs.HANDLERS,
    periodic: jobs.PeriodicWork = jobs.PERIODIC,
) -> None:
    """(Re)build the registries; idempotent, called by `create_app` and the CLI."""
    handlers.clear()
    # What the worker runs, by kind of job.
    handlers.register(notifications.EMAIL_JOB, notifications.send_notification_email, outside=True)
    handlers.register(notifications.DIGEST_JOB, notifications.send_digest, outside=True)
    handlers.register(accounts.ACCOUNT_EMAIL_JOB, accounts.send_account_email, outside=True)
    handlers.register(notifications.DIGESTS_JOB, notifications.plan_digests)
    handlers.register(jobs.REMINDERS_JOB, reminders.run_pass)
    handlers.register(webhooks.JOB, webhooks.deliver, outside=True)

    # Periodic work, enqueued once per slot by the worker holding the scheduler's lease.
    periodic.clear()
    periodic.register(notifications.DIGESTS_JOB, jobs.daily_at(notifications.DIGEST_HOUR))
    periodic.register(jobs.REMINDERS_JOB, jobs.hourly)

    registry.clear()
    registry.subscribe("creation", deadlines.on_project_created)
    registry.subscribe("reprise", deadlines.on_resumed)
    registry.subscribe("transition", deadlines.on_transition)
    registry.subscribe("transition", assignments.on_transition)
    registry.subscribe("transition", reports.on_transition)
    # After the report is marked transmitted: its PDF is what the Bureau receives.
    registry.subscribe("transition", report_document.on_transition)
    registry.subscribe("transition", label.on_transition)
    registry.subscribe("migration", deadlines.on_migrated)
    registry.subscribe("migration", reports.on_migrated)
    # The passes through each step: the network's figures and the forecasts.
    for kind in ("creation", "transition", "suspension", "reprise"):
        registry.subscribe(kind, stats.on_fact)
    registry.subscribe("migration", stats.on_migrated)
    # The search text holds names kept elsewhere: it follows each of them.
    registry.subscribe("creation", pipeline.on_project_fact)
    registry.subscribe("modification", pipeline.on_project_fact)
    registry.subscribe("membre", pipeline.on_project_fact)
    registry.subscribe("compte", pipeline.on_account_changed)
    # The lists and the dashboard cached by each process: any fact may change what they show.
    for kind in KIND_LABELS:
        registry.subscribe(kind, pipeline.on_fact)
    # Last: the people concerned are told of what the fact and its consequences did (§9).
    registry.subscribe("transition", notifications.on_transition)
    registry.subscribe("suspension", notifications.on_transition)
    registry.subscribe("reprise", notifications.on_transition)
    registry.subscribe("document", notifications.on_document)
    registry.subscribe("revue", notifications.on_review)
    registry.subscribe("consultant", notifications.on_consultant)
    registry.subscribe("rapport", notifications.on_report)
    registry.subscribe("reunion", notifications.on_meeting)
    registry.subscribe("decision", notifications.on_decision)
    registry.subscribe("echeance", notifications.on_deadline_moved)
    registry.subscribe("message", notifications.on_message)
    # Outside systems hear of the facts they chose, as they were committed (DESIGN §11).
    for kind in webhooks.FACT_EVENTS:
        registry.subscribe(kind, webhooks.on_fact)
    registry.installed = True
