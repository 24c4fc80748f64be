"""All tables (the one import Alembic needs)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Set before any table is defined so that constraint names are stable across databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns timezone-aware UTC datetimes on SQLite and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = False, **kw: Any) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=nullable, **kw))


def _fk(table: str, *, index: bool = True, nullable: bool = False) -> Any:
    return Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey(f"{table}.id", ondelete="CASCADE"),
            nullable=nullable,
            index=index,
        )
    )


def id_of(row: Any) -> int:
    """The id of a row already flushed (the type checker cannot know it is set)."""
    assert row.id is not None
    return int(row.id)


class WorkflowVersion(SQLModel, table=True):
    """Snapshot of every definition version ever loaded, so running projects keep theirs."""

    __tablename__ = "workflow_versions"
    __table_args__ = (
        sa.UniqueConstraint("key", "version", name="uq_workflow_versions_key_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=100)
    version: int
    sha256: str = Field(max_length=64)
    body: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    loaded_at: datetime = _ts()


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)  # stored lower-case
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)  # staff, consultant, porteur, bureau
    is_admin: bool = False
    active: bool = True
    # Argon2id; None: the account cannot sign in with a password (yet).
    password_hash: str | None = Field(default=None, max_length=255)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    last_login_at: datetime | None = _ts(nullable=True)
    # A regional staff account: the régions whose projects it sees and drives (empty: national,
    # every project). Only staff accounts have some (`accounts.update_user`).
    regions: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(sa.JSON, nullable=False, server_default=sa.text("'[]'")),
    )


class WebSession(SQLModel, table=True):
    """Server-side sessions: the cookie carries a random id, only its hash is stored."""

    __tablename__ = "web_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = _fk("users")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    expires_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _fk("users")
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)  # shown in lists to tell tokens apart
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class LoginAttempt(SQLModel, table=True):
    """Every sign-in attempt, so throttling holds across app processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        sa.Index("ix_login_attempts_email_at", "email", "at"),
        sa.Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    address: str = Field(max_length=64)
    at: datetime = _ts()
    success: bool = False


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    # The dashboard's counts per kind, definition version and state (suspended; a regional
    # team's régions) read this index, not the projects' whole rows.
    __table_args__ = (
        sa.Index(
            "ix_projects_pipeline_counts",
            "kind",
            "workflow_key",
            "workflow_version",
            "state",
            "suspended",
            "region",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20, index=True)
    communes: list[dict[str, str]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    region: str = Field(max_length=100, index=True)
    departement: str | None = Field(default=None, max_length=100)
    qpv: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    initiator: str = Field(max_length=20)
    # Lower-case, accent-free name, communes, association, porteurs and chargé·e de suivi, for
    # the `q` filter on every database (`pipeline.search_text`).
    search_text: str = Field(max_length=2000)
    workflow_key: str = Field(max_length=100)
    workflow_version: int
    state: str = Field(max_length=50, index=True)
    entered_state_at: datetime = _ts()
    suspended: bool = False
    suspended_at: datetime | None = _ts(nullable=True)
    version: int = 1
    # Indexed: the project list's default order (newest first) reads it, not every row.
    created_at: datetime = _ts(index=True)
    updated_at: datetime = _ts()
    association_name: str | None = Field(default=None, max_length=200)
    rna_number: str | None = Field(default=None, max_length=10)
    association_created_on: date | None = None
    charge_mission_recruited_on: date | None = None
    # The consultant account in charge of the expertise (access ends when it changes).
    consultant_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    # The staff member in charge (chargé·e de suivi): the porteurs' contact. Empty only for
    # projects older than the field whose creator the history does not know.
    staff_owner_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    label_number: str | None = Field(default=None, max_length=20, unique=True)
    label_date: date | None = None
    # Member of the network from the label date (attribution); None before.
    network_member_since: date | None = None


class Stakeholder(SQLModel, table=True):
    __tablename__ = "stakeholders"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    name: str = Field(max_length=200)
    college: str = Field(max_length=20)
    contact: str | None = Field(default=None, max_length=300)
    engaged_on: date | None = None
    created_at: datetime = _ts()


class BoardMember(SQLModel, table=True):
    __tablename__ = "board_members"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    name: str = Field(max_length=200)
    college: str = Field(max_length=20)
    is_president: bool = False
    created_at: datetime = _ts()


class Attestation(SQLModel, table=True):
    __tablename__ = "attestations"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    code: str = Field(max_length=50)
    attested_on: date
    comment: str = Field(max_length=2000)
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = _ts()


class Document(SQLModel, table=True):
    __tablename__ = "documents"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    type: str = Field(max_length=50)
    filename: str = Field(max_length=255)
    size: int
    media_type: str = Field(max_length=150)
    sha256: str = Field(max_length=64)
    uploaded_by: str = Field(max_length=200)
    uploaded_at: datetime = _ts()
    review_status: str = Field(default="en_attente", max_length=20)
    review_comment: str | None = Field(default=None, max_length=2000)
    reviewed_by: str | None = Field(default=None, max_length=200)
    reviewed_at: datetime | None = _ts(nullable=True)
    superseded_by_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("documents.id", ondelete="SET NULL"), nullable=True
        ),
    )


class Deadline(SQLModel, table=True):
    __tablename__ = "deadlines"
    # The overdue and due-soon conditions of the list and the dashboard probe each project's open
    # deadlines: answered from the index, without reading the rows.
    __table_args__ = (
        sa.Index("ix_deadlines_project_open_due", "project_id", "closed_on", "due_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    # "etape" (one pass through a step), "label" (the target label date) or "jalon" (a dated
    # milestone staff add: a visit, a committee, the report expected from the consultant).
    kind: str = Field(max_length=20)
    state: str | None = Field(default=None, max_length=50)
    due_on: date
    initial_due_on: date
    closed_on: date | None = None
    created_at: datetime = _ts()
    # A milestone's title and the person concerned (None for the other kinds).
    title: str | None = Field(default=None, max_length=200)
    user_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    # When a person last chose the due date (a milestone added or moved, a deadline moved): a
    # date chosen during a suspension already accounts for it and is not shifted on resumption.
    set_at: datetime | None = _ts(nullable=True)
    # Raised each time the due date moves: calendar clients take the new date (iCalendar
    # SEQUENCE, `feeds.py`).
    sequence: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )


class Decision(SQLModel, table=True):
    __tablename__ = "decisions"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    # The Bureau meeting that deliberated (None for decisions recorded before meetings existed).
    meeting_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("bureau_meetings.id", ondelete="SET NULL"),
            nullable=True,
            index=True,
        ),
    )
    meeting_on: date
    outcome: str = Field(max_length=20)
    motivation: str | None = Field(default=None, max_length=5000)
    votes_for: int = 0
    votes_against: int = 0
    votes_abstain: int = 0
    # When the project entered decision_bureau: ties the decision to one pass through the step.
    pass_started_at: datetime = _ts()
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = _ts()


class Event(SQLModel, table=True):
    """Append-only history: one row per fact."""

    __tablename__ = "events"
    __table_args__ = (
        # A chain's latest link (`chain.seal`), and the history in order of recording.
        sa.Index("ix_events_project_id_id", "project_id", "id"),
        # Two events after the same link would fork the chain: refused.
        sa.UniqueConstraint("previous_sha256", name="uq_events_previous_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Empty for the facts that are nobody's project history (accounts, Bureau meetings).
    project_id: int | None = _fk("projects", nullable=True, index=False)
    at: datetime = _ts()
    # The name as it was when the fact happened; the account, when there is one.
    actor: str = Field(max_length=200)
    actor_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
    )
    kind: str = Field(max_length=30)
    action: str | None = Field(default=None, max_length=50)
    from_state: str | None = Field(default=None, max_length=50)
    to_state: str | None = Field(default=None, max_length=50)
    comment: str | None = Field(default=None, max_length=5000)
    data: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # The hash chain (`labelflow.chain`): the digest of the previous event of the same chain
    # (empty for the first) and this one's, over its canonical content and the previous digest.
    previous_sha256: str | None = Field(default=None, max_length=64)
    sha256: str | None = Field(default=None, max_length=64, nullable=False)


class ProjectMember(SQLModel, table=True):
    """A porteur linked to a project."""

    __tablename__ = "project_members"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "user_id", name="uq_project_members_project_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    user_id: int = _fk("users")
    added_at: datetime = _ts()
    added_by: str = Field(max_length=200)


# --- expertise: assignment, independence, report ----------------------------------------------


class ConsultantAssignment(SQLModel, table=True):
    """A consultant asked to carry out a project's expertise.

    `en_attente` until the consultant declares their links with every stakeholder; then
    `active` (projects.consultant_id points to them) or `refusee` (a declared link); `terminee`
    when staff end it (access ends at once).
    """

    __tablename__ = "consultant_assignments"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    consultant_id: int = _fk("users")
    status: str = Field(default="en_attente", max_length=20, index=True)
    assigned_by: str = Field(max_length=200)
    created_at: datetime = _ts()
    decided_at: datetime | None = _ts(nullable=True)
    ended_at: datetime | None = _ts(nullable=True)
    ended_by: str | None = Field(default=None, max_length=200)


class ConflictDeclaration(SQLModel, table=True):
    """The consultant's declaration, for one stakeholder, of a link (or none) with it."""

    __tablename__ = "conflict_declarations"

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = _fk("consultant_assignments")
    stakeholder_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("stakeholders.id", ondelete="SET NULL"), nullable=True
        ),
    )
    stakeholder_name: str = Field(max_length=200)  # as it was when declared
    has_link: bool
    details: str | None = Field(default=None, max_length=2000)
    declared_at: datetime = _ts()


class ExpertiseReport(SQLModel, table=True):
    """The structured expertise report of one assignment (drafts, then submitted and locked)."""

    __tablename__ = "expertise_reports"
    __table_args__ = (
        # One current report per consultant and pass (reports.current_report): two first
        # autosaves at the same instant cannot both create it.
        sa.Index(
            "uq_expertise_reports_current",
            "project_id",
            "consultant_id",
            unique=True,
            sqlite_where=sa.text("transmitted_at IS NULL"),
            postgresql_where=sa.text("transmitted_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    assignment_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("consultant_assignments.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    consultant_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
    )
    status: str = Field(default="brouillon", max_length=20)  # brouillon, soumis
    revision: int = 1  # incremented when staff reopen a submitted report
    # {criterion_key: {"assessment": satisfaisant|a_consolider|insuffisant, "comment": str}}
    assessments: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    visit_dates: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    people_met: str | None = Field(default=None, max_length=5000)
    recommendation: str | None = Field(default=None, max_length=30)
    recommendations_text: str | None = Field(default=None, max_length=10000)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    submitted_at: datetime | None = _ts(nullable=True)
    # Set when the project moves to the Bureau: from then on the porteur may read it.
    transmitted_at: datetime | None = _ts(nullable=True)
    # Optimistic lock for autosaved drafts (two tabs must not overwrite each other silently).
    version: int = 1
    # The definition version whose grid the report follows: the project's when it was begun; a
    # draft moves to the new grid when its project migrates (`reports.on_migrated`), a submitted
    # report keeps its own.
    grid_version: int
    # The grid version a draft was carried from: the criteria it lacks are shown as new.
    carried_from_version: int | None = None


class ExpertiseReportVersion(SQLModel, table=True):
    """Every submitted revision, kept whole when staff reopen the report."""

    __tablename__ = "expertise_report_versions"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = _fk("expertise_reports")
    revision: int
    content: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    submitted_at: datetime = _ts()
    submitted_by: str = Field(max_length=200)


# --- the Bureau -------------------------------------------------------------------------------


class BureauMeeting(SQLModel, table=True):
    __tablename__ = "bureau_meetings"

    id: int | None = Field(default=None, primary_key=True)
    held_on: date
    chair_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
    )
    # Size of the Bureau on that day (active bureau accounts), the base of the quorum: counted
    # when the meeting is convened, counted again when its attendance is recorded.
    bureau_size: int
    notes: str | None = Field(default=None, max_length=5000)
    created_by: str = Field(max_length=200)
    created_at: datetime = _ts()
    # `convoquee` (convened ahead, no attendance yet), `tenue` (attendance and chair recorded:
    # it may deliberate), `annulee` (cancelled before it was held).
    status: str = Field(
        default="tenue",
        sa_column=sa.Column(sa.String(20), nullable=False, server_default="tenue"),
    )
    cancel_reason: str | None = Field(default=None, max_length=5000)


class MeetingAgendaItem(SQLModel, table=True):
    """A project on a meeting's agenda (ordre du jour), in the order it was put there."""

    __tablename__ = "meeting_agenda_items"
    __table_args__ = (
        sa.UniqueConstraint(
            "meeting_id", "project_id", name="uq_meeting_agenda_items_meeting_project"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = _fk("bureau_meetings")
    project_id: int = _fk("projects")


class MeetingAttendee(SQLModel, table=True):
    __tablename__ = "meeting_attendees"
    __table_args__ = (
        sa.UniqueConstraint("meeting_id", "user_id", name="uq_meeting_attendees_meeting_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = _fk("bureau_meetings")
    user_id: int = _fk("users")


class Recusal(SQLModel, table=True):
    """A Bureau member withdraws from the deliberation on one project (déport)."""

    __tablename__ = "recusals"
    __table_args__ = (
        sa.UniqueConstraint(
            "project_id", "user_id", "pass_started_at", name="uq_recusals_project_user_pass"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    user_id: int = _fk("users")
    # The pass through decision_bureau it applies to (a deferred project comes back).
    pass_started_at: datetime = _ts()
    reason: str = Field(max_length=2000)
    declared_by: str = Field(max_length=200)
    declared_at: datetime = _ts()


class Vote(SQLModel, table=True):
    """One member's vote on one decision."""

    __tablename__ = "votes"
    __table_args__ = (sa.UniqueConstraint("decision_id", "user_id", name="uq_votes_decision_user"),)

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = _fk("decisions")
    user_id: int = _fk("users")
    vote: str = Field(max_length=10)  # pour, contre, abstention


class LabelCounter(SQLModel, table=True):
    """Next label number per prefix and year (RQ-2027-003): incremented under a row lock."""

    __tablename__ = "label_counters"

    prefix: str = Field(primary_key=True, max_length=10)
    year: int = Field(primary_key=True)
    last: int = 0


# --- follow-up: jobs (the outbox), leases, notifications ----------------------------------------


class Job(SQLModel, table=True):
    """A piece of work to do after a commit (an e-mail to send...): the transactional outbox.

    Written in the transaction of the fact that causes it, so a rolled-back request leaves none
    and a committed one cannot lose it. `labelflow worker` claims and runs them (`jobs.py`).
    """

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_status_next_attempt_at", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # The same work asked twice (two overlapping reminder runs...) is one job.
    dedupe_key: str = Field(max_length=200, unique=True)
    # en_attente, en_cours, faite, abandonnee
    status: str = Field(default="en_attente", max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    # While en_cours: the worker holding it, until when (a killed worker's job is taken again).
    locked_by: str | None = Field(default=None, max_length=100)
    locked_until: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = _ts()
    done_at: datetime | None = _ts(nullable=True)


class Lease(SQLModel, table=True):
    """A named lease held by one worker at a time (the scheduler of periodic work)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=50)
    holder: str = Field(max_length=100)
    expires_at: datetime = _ts()


class Notification(SQLModel, table=True):
    """One thing one person is told, in the application and (by their preference) by e-mail."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_id_read_at", "user_id", "read_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _fk("users", index=False)
    kind: str = Field(max_length=30)
    project_id: int | None = _fk("projects", nullable=True)
    title: str = Field(max_length=300)
    body: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    # Relative to the site (`/projets/12`); e-mails make it absolute with LABELFLOW_BASE_URL.
    url: str = Field(max_length=500)
    # How it is delivered by e-mail, fixed when it is created: immediat, quotidien, application.
    delivery: str = Field(default="immediat", max_length=20)
    created_at: datetime = _ts()
    read_at: datetime | None = _ts(nullable=True)
    # When an e-mail carried it (at once or in a digest).
    emailed_at: datetime | None = _ts(nullable=True)


class NotificationPreference(SQLModel, table=True):
    """A person's choice for one kind of notification (absent: `immediat`)."""

    __tablename__ = "notification_preferences"

    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        )
    )
    kind: str = Field(primary_key=True, max_length=30)
    mode: str = Field(max_length=20)  # immediat, quotidien, application


class ProjectFollower(SQLModel, table=True):
    """A staff member who chose to follow a project (notified like its chargé·e de suivi)."""

    __tablename__ = "project_followers"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "user_id", name="uq_project_followers_project_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    user_id: int = _fk("users")
    created_at: datetime = _ts()


# --- messages ---------------------------------------------------------------------------------


class Message(SQLModel, table=True):
    """One message of a project's thread, for one audience (`projet`, `interne`, `expertise`)."""

    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    author_id: int = _fk("users")
    # The author's role when writing: who is waiting for whom reads it (`awaiting_reply_from`).
    author_role: str = Field(max_length=20)
    audience: str = Field(max_length=20)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    awaiting_reply: bool = False
    created_at: datetime = _ts()


class MessageDocument(SQLModel, table=True):
    """A document of the project attached to a message (a `piece_jointe` or any other)."""

    __tablename__ = "message_documents"
    __table_args__ = (
        sa.UniqueConstraint(
            "message_id", "document_id", name="uq_message_documents_message_document"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = _fk("messages")
    document_id: int = _fk("documents")


class MessageRead(SQLModel, table=True):
    """How far one user has read one project's thread (the unread counts)."""

    __tablename__ = "message_reads"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "user_id", name="uq_message_reads_project_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    user_id: int = _fk("users")
    last_read_message_id: int
    read_at: datetime = _ts()


# --- follow-up: reminders, accounts by e-mail -----------------------------------------------------


class ReminderSent(SQLModel, table=True):
    """One reminder of one deadline, identified by (deadline, kind, due date): written in the
    transaction of its notifications, so each is sent at most once whatever runs overlap."""

    __tablename__ = "reminders_sent"
    __table_args__ = (
        sa.UniqueConstraint(
            "deadline_id", "kind", "due_on", name="uq_reminders_sent_deadline_kind_due_on"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = _fk("deadlines", index=False)
    kind: str = Field(max_length=20)  # bientot, echeance, retard_7, retard_37...
    due_on: date
    created_at: datetime = _ts()


class AccountToken(SQLModel, table=True):
    """A single-use link sent by e-mail: an invitation (7 days) or a password reset (1 hour).

    Only the SHA-256 digest of the link's secret is stored (see `accounts.py`)."""

    __tablename__ = "account_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _fk("users")
    purpose: str = Field(max_length=20)  # invitation, reinitialisation
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True)


class ResetRequest(SQLModel, table=True):
    """A « mot de passe oublié » request, whether the address has an account or not: what the
    throttle counts, per e-mail and per network address."""

    __tablename__ = "reset_requests"
    __table_args__ = (
        sa.Index("ix_reset_requests_email_at", "email", "at"),
        sa.Index("ix_reset_requests_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    address: str = Field(max_length=64)
    at: datetime = _ts()


class StepPass(SQLModel, table=True):
    """One pass of a project through a state (derived from the history, kept by `stats`): when it
    entered and left it, and the time spent suspended meanwhile. A final state's pass stays open.

    `clock_day` and `paused_day` are Paris day numbers (`date.toordinal()`) so that the forecast
    can be computed, and sorted on, in SQL: `clock_day` is the day the pass began plus the days
    it spent suspended, `paused_day` the day its current suspension began."""

    __tablename__ = "step_passes"
    id: int | None = Field(default=None, primary_key=True)
    project_id: int = _fk("projects")
    state: str = Field(max_length=50)
    entered_at: datetime = _ts()
    left_at: datetime | None = _ts(nullable=True)
    paused_seconds: int = 0
    paused_since: datetime | None = _ts(nullable=True)
    clock_day: int
    paused_day: int | None = None


class FiguresVersion(SQLModel, table=True):
    """A token changed by every fact the network's figures follow (a project created, a step
    entered or left): what a process's cached figures are keyed by."""

    __tablename__ = "figures_versions"
    key: str = Field(primary_key=True, max_length=30)
    token: str = Field(max_length=32)


class CalendarFeed(SQLModel, table=True):
    """A person's private calendar feed: its secret address, kept as a digest (`feeds.py`)."""

    __tablename__ = "calendar_feeds"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()


class WebhookEndpoint(SQLModel, table=True):
    """An address administrators registered to receive some facts as signed JSON (`webhooks.py`)."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    # Among webhooks.EVENTS: transition, document, decision, message.
    events: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # The `whsec_…` signing secret, shown once at creation; kept as is, since signing needs it.
    secret: str = Field(max_length=100)
    active: bool = True
    created_by_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
    )
    created_at: datetime = _ts()
    # Since when every delivery has failed (None: the last one succeeded); 24 hours → disabled.
    failing_since: datetime | None = _ts(nullable=True)
    disabled_at: datetime | None = _ts(nullable=True)


class WebhookDelivery(SQLModel, table=True):
    """One event sent (or to send) to one endpoint: the delivery log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = _fk("webhook_endpoints", index=False)
    event_type: str = Field(max_length=20)
    # The `webhook-id` header: the same on every attempt, so that a receiver can skip repeats.
    message_id: str = Field(max_length=40, unique=True)
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # en_attente (a retry included), livree, abandonnee
    status: str = Field(default="en_attente", max_length=20)
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = _ts()
    last_attempt_at: datetime | None = _ts(nullable=True)
    delivered_at: datetime | None = _ts(nullable=True)
