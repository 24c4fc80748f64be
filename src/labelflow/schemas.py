"""API shapes (request bodies and responses). Never table models."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from labelflow import dates

Kind = Literal["quartier", "territoire"]
Initiator = Literal["habitants", "collectivite", "bailleur"]
College = Literal["habitants", "collectivite", "bailleur", "partenaire"]
Outcome = Literal["attribution", "refus", "ajournement"]
ReviewStatus = Literal["accepted", "rejected"]
# Who does what a criterion asks: the porteur (a document to give), the national team, the
# consultant, the Bureau.
DoneBy = Literal["porteur", "equipe", "consultant", "bureau"]


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text: refuse it here rather than fail at the database.
    if "\x00" in value:
        raise ValueError("Ce texte contient un caractère non admis (caractère nul).")
    return value


NoNul = AfterValidator(_no_nul)


def _typed_date(value: Any) -> Any:
    # A date as people type it (jj/mm/aaaa) or ISO, refused with what is wrong with it.
    return dates.parse_date(value) if isinstance(value, str) else value


# A date given by a user (JSON or form): « 15/03/2026 » or « 2026-03-15 ».
Day = Annotated[date, BeforeValidator(_typed_date)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), NoNul
]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), NoNul]

RNA_PATTERN = re.compile(r"^W\d{9}$")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommuneIn(Input):
    insee: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(\d{5}|2[AB]\d{3})$")]
    name: Text


class ProjectCreate(Input):
    name: Text
    kind: Kind
    communes: list[CommuneIn] = Field(min_length=1, max_length=50)
    region: Text
    initiator: Initiator
    departement: Text | None = None
    qpv: list[Text] = Field(default_factory=list, max_length=50)


class ProjectUpdate(Input):
    name: Text | None = None
    communes: list[CommuneIn] | None = Field(default=None, min_length=1, max_length=50)
    region: Text | None = None
    departement: Text | None = None
    qpv: list[Text] | None = Field(default=None, max_length=50)
    association_name: Text | None = None
    rna_number: str | None = None
    association_created_on: Day | None = None
    charge_mission_recruited_on: Day | None = None
    # The chargé·e de suivi: an active staff account.
    staff_owner_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None

    @field_validator("rna_number")
    @classmethod
    def _rna(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not RNA_PATTERN.match(value):
            raise ValueError("Le numéro RNA doit être la lettre W suivie de 9 chiffres.")
        return value


class Unmet(BaseModel):
    code: str
    message: str
    by: DoneBy


class ActionEvaluation(BaseModel):
    action: str
    label: str
    target: str
    comment_required: bool
    allowed: bool
    unmet: list[Unmet]


class DeadlinePerson(BaseModel):
    """The person a milestone concerns."""

    id: int
    name: str


class DeadlinePublic(BaseModel):
    id: int
    kind: Literal["etape", "label", "jalon"]
    state: str | None
    due_on: date
    initial_due_on: date
    closed_on: date | None
    status: Literal["a_venir", "bientot", "en_retard", "tenue", "suspendue"]
    # A milestone's (jalon) title and person concerned; null for the other kinds.
    title: str | None = None
    user: DeadlinePerson | None = None


class ConsultantIn(Input):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class ConsultantPublic(BaseModel):
    user_id: int
    name: str
    email: str


# --- consultant assignments and independence declarations --------------------------------------

AssignmentStatus = Literal["en_attente", "active", "refusee", "terminee"]


class DeclarationIn(Input):
    """The consultant's answer for one stakeholder: a link with it or not, and what link."""

    stakeholder_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    has_link: bool
    details: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), NoNul] | None
    ) = None


class DeclarationsIn(Input):
    declarations: list[DeclarationIn] = Field(max_length=500)


class AssignmentEndIn(Input):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), NoNul
    ]


class DeclarationPublic(BaseModel):
    stakeholder_id: int | None
    stakeholder_name: str
    has_link: bool
    details: str | None
    declared_at: datetime


class AssignmentPublic(BaseModel):
    id: int
    project_id: int
    status: AssignmentStatus
    status_label: str
    consultant: ConsultantPublic
    assigned_by: str
    created_at: datetime
    decided_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    # Why a declared link stopped the assignment (French, addressed to the consultant).
    explanation: str | None
    declarations: list[DeclarationPublic]


class AssignmentProject(BaseModel):
    id: int
    name: str
    communes: list[dict[str, str]]
    # The project page, once the assignment is active (before, the consultant may not see it).
    url: str | None


class StakeholderToDeclare(BaseModel):
    id: int
    name: str
    college: str
    college_label: str


class MyAssignmentPublic(AssignmentPublic):
    project: AssignmentProject
    # Pending assignments only: every stakeholder the declaration must cover.
    stakeholders: list[StakeholderToDeclare]


class StaffOwnerPublic(BaseModel):
    """The project's chargé·e de suivi, as every role that sees the project sees them."""

    id: int
    name: str


class ProjectSummary(BaseModel):
    id: int
    name: str
    kind: Kind
    communes: list[dict[str, str]]
    region: str
    departement: str | None
    state: str
    state_label: str
    step: int | None
    suspended: bool
    overdue: bool
    version: int
    created_at: datetime
    entered_state_at: datetime


class ForecastPublic(BaseModel):
    """The expected label date of a project under way (DESIGN §11)."""

    label_on: date = Field(description="Date de label attendue (médianes des étapes restantes)")
    low: date = Field(description="Au plus tôt (10e centile)")
    high: date = Field(description="Au plus tard (90e centile)")
    basis: Literal["historique", "cibles"] = Field(
        description="`historique` quand chaque étape restante compte au moins 5 passages "
        "terminés, sinon `cibles` (durées cibles de la définition)"
    )
    beyond_target: bool = Field(description="Au-delà de la date cible du label (36 mois)")


class ProjectListItem(ProjectSummary):
    staff_owner: StaffOwnerPublic | None
    forecast: ForecastPublic | None = None


class ProjectPublic(ProjectSummary):
    staff_owner: StaffOwnerPublic | None
    qpv: list[str]
    initiator: Initiator
    workflow_key: str
    workflow_version: int
    updated_at: datetime
    association_name: str | None
    rna_number: str | None
    association_created_on: date | None
    charge_mission_recruited_on: date | None
    consultant: ConsultantPublic | None
    label_number: str | None
    label_date: date | None
    network_member_since: date | None
    deadlines: list[DeadlinePublic]
    actions: list[ActionEvaluation]
    forecast: ForecastPublic | None = Field(
        default=None, description="Prévision pour un projet en cours, null s'il est clos"
    )
    unread_messages: int = Field(description="Messages du projet non lus par l'appelant")
    awaiting_reply_from: Literal["porteur", "equipe"] | None = Field(
        description="Qui doit répondre aux messages du projet (`porteur`, `equipe`) ou null"
    )
    # The documents the current step expects (none in a final state).
    expected_documents: list[ExpectedDocumentPublic] = []


class ProjectList(BaseModel):
    items: list[ProjectListItem]
    total: int
    limit: int
    offset: int


class CommunePublic(BaseModel):
    insee: str = Field(description="Code INSEE de la commune")
    name: str


class RegiePublic(BaseModel):
    """A labelled Régie, as the open data publishes it (nothing personal)."""

    name: str
    kind: Literal["quartier", "territoire"]
    kind_label: str = Field(description="« Régie de Quartier » ou « Régie de Territoire »")
    communes: list[CommunePublic]
    region: str
    label_number: str
    labelled_on: date


class RegieList(BaseModel):
    items: list[RegiePublic]
    total: int


class TransitionIn(Input):
    action: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    comment: OptionalText | None = None


class CommentIn(Input):
    comment: OptionalText | None = None


class EventPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    action: str | None
    from_state: str | None
    to_state: str | None
    comment: str | None
    data: dict[str, Any]


class StakeholderCreate(Input):
    name: Text
    college: College
    engaged_on: Day | None = None
    contact: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), NoNul] | None
    ) = None


class StakeholderPublic(BaseModel):
    id: int
    name: str
    college: str
    engaged_on: date | None
    contact: str | None
    engaged: bool


class BoardMemberCreate(Input):
    name: Text
    college: College
    is_president: bool = False


class BoardMemberPublic(BaseModel):
    id: int
    name: str
    college: str
    is_president: bool


class AttestationCreate(Input):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    date: Day
    comment: LongText


class AttestationPublic(BaseModel):
    id: int
    code: str
    label: str
    date: date
    comment: str
    recorded_by: str
    recorded_at: datetime


class DocumentPublic(BaseModel):
    id: int
    project_id: int
    type: str
    type_label: str
    filename: str
    size: int
    media_type: str
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    review_status: Literal["en_attente", "accepted", "rejected"]
    review_comment: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    superseded_by_id: int | None
    download_url: str


class ExpectedDocumentPublic(BaseModel):
    """A document the current step expects, and where it stands."""

    type: str
    label: str
    description: str
    multiple: bool
    needs: Literal["accepted", "given"]
    status: Literal["attendue", "deposee", "acceptee", "refusee"]
    document_ids: list[int]
    reason: str | None


class ReviewIn(Input):
    status: ReviewStatus
    comment: OptionalText | None = None


class DeadlineMove(Input):
    due_on: Day
    reason: LongText


class MilestoneCreate(Input):
    """A dated milestone (jalon) staff add to a project."""

    title: Text = Field(description="Ce qui est attendu : une visite, un comité, un rapport…")
    due_on: Day = Field(description="Sa date, pas avant la création du projet")
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        description="La personne concernée : un compte actif qui voit le projet"
    )


class MilestoneUpdate(Input):
    """Move, rename or hand a milestone to someone else; `done` marks it held (tenu) or open."""

    title: Text | None = None
    due_on: Day | None = None
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    done: bool | None = None


class PasswordChange(Input):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


VoteValue = Literal["pour", "contre", "abstention"]
UserId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class VoteIn(Input):
    user_id: UserId
    vote: VoteValue


class DecisionCreate(Input):
    """The Bureau's deliberation on one project, at one of its meetings."""

    meeting_id: UserId = Field(description="La réunion du Bureau qui a délibéré")
    outcome: Outcome
    motivation: OptionalText | None = Field(
        default=None,
        description="Motivation (refus) ou recommandations (ajournement) : obligatoire pour "
        "ces deux décisions ; recommandations facultatives pour une attribution",
    )
    votes: list[VoteIn] = Field(
        default_factory=list,
        max_length=200,
        description="Le vote de chaque membre présent et non déporté",
    )


class VotePublic(BaseModel):
    user_id: int
    name: str
    vote: VoteValue


class DecisionPublic(BaseModel):
    id: int
    meeting_id: int | None
    meeting_on: date
    outcome: Outcome
    motivation: str | None
    votes_for: int
    votes_against: int
    votes_abstain: int
    votes: list[VotePublic]
    recorded_by: str
    recorded_at: datetime


MeetingStatus = Literal["convoquee", "tenue", "annulee"]


class MeetingCreate(Input):
    """A meeting held (`held_on` today or past, with its attendees and chair), or convened ahead
    (`held_on` in the future, no attendees: every active Bureau member is notified)."""

    held_on: Day
    attendee_ids: list[UserId] = Field(
        default_factory=list,
        max_length=200,
        description="Les membres présents (vide pour une séance convoquée à l'avance)",
    )
    chair_id: UserId | None = Field(
        default=None, description="Qui préside la séance (parmi les présents)"
    )
    project_ids: list[UserId] | None = Field(
        default=None,
        max_length=200,
        description="L'ordre du jour : des projets à l'étape « Décision du Bureau » (omis pour "
        "une séance convoquée : tous ceux qui y sont)",
    )
    notes: OptionalText | None = None


class MeetingMove(Input):
    held_on: Day = Field(description="La nouvelle date de la séance convoquée")
    reason: OptionalText | None = None


class MeetingCancel(Input):
    reason: LongText


class MeetingAttendance(Input):
    attendee_ids: list[UserId] = Field(max_length=200, description="Les membres présents")
    chair_id: UserId = Field(description="Qui préside la séance (parmi les présents)")
    notes: OptionalText | None = None


class AgendaEntryPublic(BaseModel):
    project_id: int
    project_name: str
    url: str = Field(description="Le dossier de décision du projet")


class PersonPublic(BaseModel):
    user_id: int
    name: str


class MeetingDecisionPublic(BaseModel):
    decision_id: int
    project_id: int
    project_name: str
    outcome: Outcome


class MeetingPublic(BaseModel):
    id: int
    held_on: date
    status: MeetingStatus = Field(
        description="convoquee (à venir, présence non enregistrée), tenue, annulee"
    )
    agenda: list[AgendaEntryPublic] = Field(description="L'ordre du jour")
    cancel_reason: str | None
    chair: PersonPublic | None
    bureau_size: int = Field(description="Membres du Bureau ce jour-là (base du quorum)")
    attendees: list[PersonPublic]
    notes: str | None
    created_by: str
    created_at: datetime
    decisions: list[MeetingDecisionPublic] = Field(
        description="Décisions prises à cette réunion, sur les projets visibles de l'appelant"
    )


class RecusalCreate(Input):
    user_id: UserId | None = Field(
        default=None,
        description="Le membre qui se déporte : omis pour soi-même (membre du Bureau), "
        "obligatoire pour l'équipe nationale",
    )
    reason: LongText


class RecusalPublic(BaseModel):
    id: int
    project_id: int
    user_id: int
    name: str
    reason: str
    pass_started_at: datetime
    current: bool = Field(description="Vaut pour le passage actuel du projet devant le Bureau")
    declared_by: str
    declared_at: datetime


class AgendaDocument(BaseModel):
    id: int
    type: str
    type_label: str
    filename: str
    download_url: str


class AgendaItem(BaseModel):
    """One decision file: the project at the Bureau step and what the Bureau reads."""

    project: ProjectSummary
    association_name: str | None
    rna_number: str | None
    board_summary: str
    board: list[dict[str, Any]]
    report: AgendaDocument | None = Field(
        description="Le rapport d'expertise déposé comme pièce (anciens dossiers)"
    )
    report_url: str | None = Field(
        description="Le rapport d'expertise structuré, une fois soumis (sa version PDF)"
    )
    documents: list[AgendaDocument]
    recusals: list[RecusalPublic]
    decisions: list[DecisionPublic]


class PipelineStateCount(BaseModel):
    state: str
    label: str
    step: int | None = Field(description="Numéro d'étape (1 à 6) ; absent pour un état final")
    total: int
    quartier: int
    territoire: int


class PipelineProject(BaseModel):
    id: int
    name: str
    kind: Kind
    state: str
    state_label: str
    step: int | None
    due_on: date = Field(description="Échéance ouverte la plus proche")


class PipelinePublic(BaseModel):
    """Tableau de bord : projets par étape, par état final, suspendus, en retard, bientôt dus."""

    today: date
    total: int
    running: int = Field(description="Projets en cours (étapes 1 à 6)")
    steps: list[PipelineStateCount]
    finals: list[PipelineStateCount]
    suspended: int
    overdue: int = Field(description="Échéance ouverte dépassée, projet non suspendu")
    due_soon: int = Field(
        description="Échéance ouverte dans les `due_soon_days` jours, aucune en retard"
    )
    due_soon_days: int
    overdue_projects: list[PipelineProject] = Field(description="Les 10 plus en retard")
    due_soon_projects: list[PipelineProject] = Field(description="Les 10 prochaines échéances")


Role = Literal["staff", "consultant", "porteur", "bureau"]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


Region = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NoNul
]
# A regional staff account's régions (empty: national); each written as the projects write it.
Regions = Annotated[list[Region], Field(max_length=30)]


def _distinct(regions: list[str] | None) -> list[str] | None:
    return None if regions is None else list(dict.fromkeys(regions))


class UserCreate(Input):
    email: EmailStr
    name: Text
    role: Role
    is_admin: bool = False
    # Omitted: the account cannot sign in until a password is set (see `labelflow users`).
    password: Password | None = None
    regions: Regions = []

    _distinct_regions = field_validator("regions", mode="after")(_distinct)


class UserUpdate(Input):
    name: Text | None = None
    role: Role | None = None
    is_admin: bool | None = None
    active: bool | None = None
    password: Password | None = None
    regions: Regions | None = None

    _distinct_regions = field_validator("regions", mode="after")(_distinct)


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_admin: bool
    active: bool
    # A regional staff account's régions: it sees and drives their projects only (empty: all).
    regions: list[str] = []
    created_at: datetime
    last_login_at: datetime | None


class TokenCreate(Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TokenPublic(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str  # shown once


class MemberAdd(Input):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


# --- the expertise report ---------------------------------------------------------------------

Assessment = Literal["satisfaisant", "a_consolider", "insuffisant"]
Recommendation = Literal["favorable", "favorable_avec_reserves", "defavorable"]
GridKey = Annotated[str, StringConstraints(min_length=1, max_length=50)]


class AssessmentIn(Input):
    assessment: Assessment | None = None
    comment: OptionalText = ""


class ReportDraft(Input):
    """A draft of the report: any part may still be missing (checked at submission)."""

    assessments: dict[GridKey, AssessmentIn] = Field(default_factory=dict, max_length=200)
    visit_dates: list[Day] = Field(default_factory=list, max_length=30)
    people_met: OptionalText | None = None
    recommendation: Recommendation | None = None
    recommendations_text: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000), NoNul] | None
    ) = None


class ReportCriterionPublic(BaseModel):
    key: str
    label: str
    guidance: str
    shows: str | None
    assessment: Assessment | None
    assessment_label: str | None
    comment: str
    # A criterion the draft had no answer for when its project moved to a new definition.
    new: bool = False


class ReportThemePublic(BaseModel):
    key: str
    label: str
    criteria: list[ReportCriterionPublic]


class CollegeCount(BaseModel):
    college: str
    label: str
    count: int


class BoardComposition(BaseModel):
    """The board as recorded, shown next to the governance criterion."""

    summary: str
    members: int
    colleges: list[CollegeCount]
    habitants_majority: bool
    habitant_president: bool


class ReportPublic(BaseModel):
    id: int | None  # None: nothing saved yet (the consultant's blank form)
    project_id: int
    status: Literal["brouillon", "soumis"]
    revision: int
    version: int
    consultant_id: int | None
    consultant_name: str | None
    themes: list[ReportThemePublic]
    assessments: dict[str, dict[str, Any]]
    visit_dates: list[date]
    people_met: str | None
    recommendation: Recommendation | None
    recommendation_label: str | None
    recommendations_text: str | None
    board: BoardComposition
    missing: list[str]  # labels of the criteria not assessed yet
    editable: bool  # whether the caller may save the draft now
    created_at: datetime | None
    updated_at: datetime | None
    submitted_at: datetime | None
    transmitted_at: datetime | None


class ReportVersionPublic(BaseModel):
    revision: int
    submitted_at: datetime
    submitted_by: str
    content: dict[str, Any]


# --- messages ---------------------------------------------------------------------------------

DocumentId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class MessageIn(Input):
    # Bounds of the request only: the service strips the body and refuses it empty or beyond
    # 10 000 characters, and an unknown audience, with their own French messages.
    body: Annotated[str, StringConstraints(max_length=20_000), NoNul]
    # Omitted: the first the role writes in (`projet`; `expertise` for the consultant).
    audience: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoNul] | None
    ) = None
    awaiting_reply: bool = False
    document_ids: Annotated[list[DocumentId], Field(max_length=100)] = []


class MessageAuthor(BaseModel):
    id: int
    name: str
    role: Role


class MessagePublic(BaseModel):
    id: int
    project_id: int
    author: MessageAuthor
    audience: Literal["projet", "interne", "expertise"]
    body: str
    awaiting_reply: bool
    document_ids: list[int]
    created_at: datetime


# --- accounts by e-mail -------------------------------------------------------------------------


class PasswordResetAsk(Input):
    # Any text: a malformed address gets the same 202 as an unknown one.
    email: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320), NoNul
    ]


class LinkConfirm(Input):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul]
    # The password rules are the service's (`accounts.set_password`), after the link is checked.
    new_password: Annotated[str, StringConstraints(max_length=4096)]


# --- notifications (DESIGN §9, §13) ---------------------------------------------------------------

# The keys of `notifications.KINDS` and `notifications.MODES` (a test keeps them the same).
NotificationKind = Literal[
    "transition",
    "echeance",
    "rappel",
    "document_depose",
    "document_refuse",
    "message",
    "affectation",
    "declaration",
    "rapport",
    "seance",
    "decision",
    "webhook",
    "invitation",
    "mot_de_passe",
]
NotificationMode = Literal["immediat", "quotidien", "application"]


class NotificationPublic(BaseModel):
    id: int
    kind: NotificationKind
    project_id: int | None
    title: str
    url: str
    created_at: datetime
    read_at: datetime | None


class NotificationsPage(BaseModel):
    items: list[NotificationPublic]
    unread: int
    total: int
    limit: int
    offset: int


class ReadAllPublic(BaseModel):
    marked: int  # how many were unread
    unread: int


class PreferencesPublic(BaseModel):
    notifications: dict[str, NotificationMode]


class PreferencesIn(Input):
    notifications: dict[NotificationKind, NotificationMode]


class FollowingPublic(BaseModel):
    project_id: int
    following: bool


JobStatus = Literal["en_attente", "en_cours", "faite", "abandonnee"]


class JobPublic(BaseModel):
    id: int
    kind: str
    status: JobStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    done_at: datetime | None


class JobList(BaseModel):
    items: list[JobPublic]
    total: int
    limit: int
    offset: int


# --- the network's figures (`GET /api/v1/stats/network`) ---------------------------------------


class YearFigurePublic(BaseModel):
    year: int
    kind: Kind
    labelled_total: int = Field(description="Régies labellisées à la fin de l'année (cumul)")
    labelled_in_year: int = Field(description="Régies labellisées dans l'année")
    in_progress: int = Field(description="Projets en cours à la fin de l'année")


class CohortPublic(BaseModel):
    year: int = Field(description="Année de début des projets")
    kind: Kind
    started: int
    in_progress: int
    labelled: int
    refused: int
    abandoned: int


class FunnelStepPublic(BaseModel):
    state: str
    label: str
    step: int | None
    reached: int = Field(description="Projets entrés au moins une fois dans cet état")
    by_kind: dict[str, int]


class StepDurationPublic(BaseModel):
    state: str
    label: str
    step: int
    kind: Kind
    n: int = Field(description="Passages terminés (hors suspensions)")
    median_days: float | None
    p10_days: float | None
    p90_days: float | None
    target_days: int | None = Field(description="Durée cible de la définition, en jours")


class RatesPublic(BaseModel):
    abandon: float | None = Field(description="Part des projets clos qui ont été abandonnés")
    refusal: float | None = Field(description="Part des projets clos dont le label a été refusé")
    closed: int
    abandoned: int
    refused: int
    labelled: int


class NetworkStatsPublic(BaseModel):
    generated_at: datetime
    by_year: list[YearFigurePublic]
    cohorts: list[CohortPublic]
    funnel: list[FunnelStepPublic]
    steps: list[StepDurationPublic]
    rates: RatesPublic


# --- data out: calendar feeds and webhooks (DESIGN §11) -------------------------------------------


class CalendarFeedCreated(BaseModel):
    url: str  # absolute; the secret in it is shown once


WebhookEvent = Literal["transition", "document", "decision", "message"]


class WebhookCreate(Input):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    # Checked by the service (French message naming the unknown ones), not by a Literal here.
    events: Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=10)]


class WebhookPublic(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None


class WebhookCreated(WebhookPublic):
    secret: str  # `whsec_…`, shown once


WebhookDeliveryStatus = Literal["en_attente", "livree", "abandonnee"]


class WebhookDeliveryPublic(BaseModel):
    id: int
    event_type: str
    message_id: str
    status: WebhookDeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryPublic]
    total: int
    limit: int
    offset: int


# --- moving running projects to a newer definition version ------------------------------------

MigrationVersion = Annotated[int, Field(ge=1, le=2**31 - 1)]
MigrationProjectId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class MigrationPlanRequest(Input):
    """The dry run: every project of the key not yet on `to_version`, or those named."""

    to_version: MigrationVersion
    project_ids: Annotated[list[MigrationProjectId], Field(max_length=1000)] = []


class MigrationProjectRef(Input):
    id: MigrationProjectId
    # The project's `version` the dry run read: a project changed since is skipped.
    version: MigrationVersion


class MigrationApply(Input):
    to_version: MigrationVersion
    projects: Annotated[list[MigrationProjectRef], Field(min_length=1, max_length=1000)]


class MigrationCriterionPublic(BaseModel):
    action_label: str
    code: str
    message: str


class MigrationDeadlinePublic(BaseModel):
    deadline_id: int
    kind: str
    state_before: str | None
    state_after: str | None
    due_before: date
    due_after: date


class MigrationReportPublic(BaseModel):
    """A draft report carried to the new grid: answers kept, new criteria, answers dropped."""

    report_id: int
    from_grid: int
    to_grid: int
    carried: list[str]
    new: list[str]
    dropped: list[str]


class MigrationProjectPublic(BaseModel):
    project_id: int
    name: str
    region: str
    version: int
    from_version: int
    to_version: int
    state_before: str
    state_before_label: str
    state_after: str | None
    state_after_label: str | None
    refused: str | None
    became_unmet: list[MigrationCriterionPublic]
    became_met: list[MigrationCriterionPublic]
    deadlines: list[MigrationDeadlinePublic]
    report: MigrationReportPublic | None


class MigrationPlanPublic(BaseModel):
    key: str
    label: str
    to_version: int
    movable: int
    refused: int
    projects: list[MigrationProjectPublic]


class MigrationOutcomePublic(BaseModel):
    project_id: int
    name: str
    status: Literal["migre", "ignore", "refuse"]
    reason: str | None
    state_after: str | None


class MigrationResultPublic(BaseModel):
    key: str
    to_version: int
    migrated: int
    skipped: int
    refused: int
    items: list[MigrationOutcomePublic]
