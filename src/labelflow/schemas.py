"""API shapes (request bodies and responses). Never table models."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

Kind = Literal["quartier", "territoire"]
Initiator = Literal["habitants", "collectivite", "bailleur"]
College = Literal["habitants", "collectivite", "bailleur", "partenaire"]
Outcome = Literal["attribution", "refus", "ajournement"]
ReviewStatus = Literal["accepted", "rejected"]


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text: refuse it here rather than fail at the database.
    if "\x00" in value:
        raise ValueError("Ce texte contient un caractère non admis (caractère nul).")
    return value


NoNul = AfterValidator(_no_nul)
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
    association_created_on: date | None = None
    charge_mission_recruited_on: date | None = None

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


class ActionEvaluation(BaseModel):
    action: str
    label: str
    target: str
    comment_required: bool
    allowed: bool
    unmet: list[Unmet]


class DeadlinePublic(BaseModel):
    id: int
    kind: Literal["etape", "label"]
    state: str | None
    due_on: date
    initial_due_on: date
    closed_on: date | None
    status: Literal["a_venir", "bientot", "en_retard", "tenue", "suspendue"]


class ConsultantIn(Input):
    user_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class ConsultantPublic(BaseModel):
    user_id: int
    name: str
    email: str


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


class ProjectPublic(ProjectSummary):
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
    deadlines: list[DeadlinePublic]
    actions: list[ActionEvaluation]


class ProjectList(BaseModel):
    items: list[ProjectSummary]
    total: int
    limit: int
    offset: int


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
    engaged_on: date | None = None
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
    date: date
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


class ReviewIn(Input):
    status: ReviewStatus
    comment: OptionalText | None = None


class DeadlineMove(Input):
    due_on: date
    reason: LongText


class DecisionCreate(Input):
    meeting_on: date
    outcome: Outcome
    motivation: OptionalText | None = None


class DecisionPublic(BaseModel):
    id: int
    meeting_on: date
    outcome: Outcome
    motivation: str | None
    recorded_by: str
    recorded_at: datetime


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


class UserCreate(Input):
    email: EmailStr
    name: Text
    role: Role
    is_admin: bool = False
    # Omitted: the account cannot sign in until a password is set (see `labelflow users`).
    password: Password | None = None


class UserUpdate(Input):
    name: Text | None = None
    role: Role | None = None
    is_admin: bool | None = None
    active: bool | None = None
    password: Password | None = None


class UserPublic(BaseModel):
    id: int
    email: str
    name: str
    role: Role
    is_admin: bool
    active: bool
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
