"""Who follows which fact: the one place where subscribers are registered, once at start-up.

Each consequence lives with its own concept (the deadlines of a step with the deadlines, the end
of an assignment with the assignments...); this module only says which fact each one follows,
in the order they run. The notifications and webhooks to come subscribe here too.
"""

from __future__ import annotations

from labelflow import (
    assignments,
    deadlines,
    jobs,
    label,
    notifications,
    pipeline,
    report_document,
    reports,
)
from labelflow.events import SUBSCRIBERS, Subscribers


def install(
    registry: Subscribers = SUBSCRIBERS,
    handlers: jobs.Handlers = jobs.HANDLERS,
    periodic: jobs.PeriodicWork = jobs.PERIODIC,
) -> None:
    """(Re)build the registries; idempotent, called by `create_app` and the CLI."""
    handlers.clear()
    # What the worker runs, by kind of job.
    handlers.register(notifications.EMAIL_JOB, notifications.send_notification_email)
    handlers.register(notifications.DIGEST_JOB, notifications.send_digest)
    handlers.register(notifications.DIGESTS_JOB, notifications.plan_digests)

    # Periodic work, enqueued once per slot by the worker holding the scheduler's lease.
    periodic.clear()
    periodic.register(notifications.DIGESTS_JOB, jobs.daily_at(notifications.DIGEST_HOUR))
    # The reminder pass (DESIGN §9) is the job kind `jobs.REMINDERS_JOB`, hourly; its handler
    # is `reminders.remind` (another branch): register both together, never the slot alone
    # (a job kind without its handler is abandoned at once):
    #   handlers.register(jobs.REMINDERS_JOB, <handler calling reminders.remind(ctx.session,
    #                     today=dates.today())>)
    #   periodic.register(jobs.REMINDERS_JOB, jobs.hourly)

    registry.clear()
    registry.subscribe("creation", deadlines.on_project_created)
    registry.subscribe("reprise", deadlines.on_resumed)
    registry.subscribe("transition", deadlines.on_transition)
    registry.subscribe("transition", assignments.on_transition)
    registry.subscribe("transition", reports.on_transition)
    # After the report is marked transmitted: its PDF is what the Bureau receives.
    registry.subscribe("transition", report_document.on_transition)
    registry.subscribe("transition", label.on_transition)
    # The search text holds names kept elsewhere: it follows each of them.
    registry.subscribe("creation", pipeline.on_project_fact)
    registry.subscribe("modification", pipeline.on_project_fact)
    registry.subscribe("membre", pipeline.on_project_fact)
    registry.subscribe("compte", pipeline.on_account_changed)
    registry.installed = True
