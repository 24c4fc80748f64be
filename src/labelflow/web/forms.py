"""HTML forms: what the browser posts, turned into the API's input models, and refusals
turned into messages shown beside the fields.

Every form field is a plain string with a default, so that a missing or empty value never
becomes a bare validation page: the schema models of `labelflow.schemas` judge the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from labelflow.errors import DomainError
from labelflow.schemas import (
    AssignmentEndIn,
    AttestationCreate,
    BoardMemberCreate,
    ConsultantIn,
    DeadlineMove,
    DecisionCreate,
    DeclarationsIn,
    MeetingCreate,
    MemberAdd,
    ProjectCreate,
    ProjectUpdate,
    RecusalCreate,
    ReviewIn,
    StakeholderCreate,
    TokenCreate,
    TransitionIn,
    UserCreate,
    UserUpdate,
)
from labelflow.web.errors import french_fields
from labelflow.web.etag import version_of

# Fields whose value is one entry per line in a <textarea>.
LINE_FIELDS = {"communes", "qpv"}


class FormRefused(Exception):
    """A value that cannot even be turned into the input model (for example a commune line)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_communes(text: str) -> list[dict[str, str]]:
    """'59512 Roubaix' per line → [{"insee": "59512", "name": "Roubaix"}]."""
    communes = []
    for number, line in enumerate(lines(text), start=1):
        insee, _, name = line.partition(" ")
        if not name.strip():
            raise FormRefused(
                "communes",
                f"Ligne {number} : indiquez le code INSEE puis le nom de la commune, "
                "par exemple « 59512 Roubaix ».",
            )
        communes.append({"insee": insee, "name": name.strip()})
    return communes


def communes_text(communes: list[dict[str, str]]) -> str:
    return "\n".join(f"{c['insee']} {c['name']}" for c in communes)


def _blank_to_none(value: str) -> str | None:
    return value.strip() or None


def _filled(values: dict[str, Any]) -> dict[str, Any]:
    """Leave out what the user left empty, so that the model says « obligatoire »."""
    return {
        k: v
        for k, v in values.items()
        if v is not None and v != [] and not (isinstance(v, str) and not v.strip())
    }


class PageForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = ""

    def if_match(self) -> int | None:
        return version_of(self.version)

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude={"version"})


class ProjectForm(PageForm):
    name: str = ""
    kind: str = ""
    communes: str = ""
    region: str = ""
    departement: str = ""
    qpv: str = ""
    initiator: str = ""

    def to_model(self) -> ProjectCreate:
        return ProjectCreate.model_validate(
            _filled(
                {
                    "name": self.name,
                    "kind": self.kind,
                    "communes": parse_communes(self.communes),
                    "region": self.region,
                    "initiator": self.initiator,
                    "departement": _blank_to_none(self.departement),
                    "qpv": lines(self.qpv),
                }
            )
        )


class ProjectEditForm(PageForm):
    name: str = ""
    communes: str = ""
    region: str = ""
    departement: str = ""
    qpv: str = ""
    association_name: str = ""
    rna_number: str = ""
    association_created_on: str = ""
    charge_mission_recruited_on: str = ""

    def to_model(self) -> ProjectUpdate:
        communes = parse_communes(self.communes)
        return ProjectUpdate.model_validate(
            {
                "name": _blank_to_none(self.name),
                "communes": communes or None,
                "region": _blank_to_none(self.region),
                "departement": _blank_to_none(self.departement),
                "qpv": lines(self.qpv),
                "association_name": _blank_to_none(self.association_name),
                "rna_number": _blank_to_none(self.rna_number),
                "association_created_on": _blank_to_none(self.association_created_on),
                "charge_mission_recruited_on": _blank_to_none(self.charge_mission_recruited_on),
            }
        )


class StaffOwnerForm(PageForm):
    staff_owner_id: str = ""

    def to_model(self) -> ProjectUpdate:
        return ProjectUpdate.model_validate({"staff_owner_id": _blank_to_none(self.staff_owner_id)})


class TransitionForm(PageForm):
    action: str = ""
    comment: str = ""

    def to_model(self) -> TransitionIn:
        return TransitionIn.model_validate(
            _filled({"action": self.action, "comment": _blank_to_none(self.comment)})
        )


class CommentForm(PageForm):
    comment: str = ""


class StakeholderForm(PageForm):
    name: str = ""
    college: str = ""
    engaged_on: str = ""
    contact: str = ""

    def to_model(self) -> StakeholderCreate:
        return StakeholderCreate.model_validate(
            _filled(
                {
                    "name": self.name,
                    "college": self.college,
                    "engaged_on": _blank_to_none(self.engaged_on),
                    "contact": _blank_to_none(self.contact),
                }
            )
        )


class BoardMemberForm(PageForm):
    name: str = ""
    college: str = ""
    is_president: str = ""

    def to_model(self) -> BoardMemberCreate:
        return BoardMemberCreate.model_validate(
            _filled(
                {
                    "name": self.name,
                    "college": self.college,
                    "is_president": bool(self.is_president),
                }
            )
        )


class AttestationForm(PageForm):
    code: str = ""
    date: str = ""
    comment: str = ""

    def to_model(self) -> AttestationCreate:
        return AttestationCreate.model_validate(
            _filled({"code": self.code, "date": _blank_to_none(self.date), "comment": self.comment})
        )


class ConsultantForm(PageForm):
    user_id: str = ""

    def to_model(self) -> ConsultantIn:
        return ConsultantIn.model_validate(_filled({"user_id": self.user_id.strip()}))


class DeclarationForm(PageForm):
    """The independence declaration: per stakeholder `link-<id>` (« oui » or « non ») and
    `details-<id>`; the names carry the stakeholder, so the fields are not declared here."""

    model_config = ConfigDict(extra="allow")

    def to_model(self) -> DeclarationsIn:
        extra = self.model_extra or {}
        declarations = []
        for key, answer in extra.items():
            if not key.startswith("link-") or not isinstance(answer, str) or not answer.strip():
                continue
            number = key.removeprefix("link-")
            if not number.isdigit() or len(number) > 9 or answer not in ("oui", "non"):
                raise FormRefused(key, "Réponse illisible : rechargez la page et recommencez.")
            details = extra.get(f"details-{number}")
            declarations.append(
                {
                    "stakeholder_id": int(number),
                    "has_link": answer == "oui",
                    "details": _blank_to_none(details) if isinstance(details, str) else None,
                }
            )
        return DeclarationsIn.model_validate({"declarations": declarations})


class AssignmentEndForm(PageForm):
    reason: str = ""

    def to_model(self) -> AssignmentEndIn:
        return AssignmentEndIn.model_validate(_filled({"reason": self.reason}))


class MemberForm(PageForm):
    user_id: str = ""

    def to_model(self) -> MemberAdd:
        return MemberAdd.model_validate(_filled({"user_id": self.user_id.strip()}))


class TokenForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = ""

    def to_model(self) -> TokenCreate:
        return TokenCreate.model_validate(_filled({"name": self.name}))

    def values(self) -> dict[str, Any]:
        return self.model_dump()


def _checked(value: str) -> bool:
    return value.strip().lower() in {"on", "true", "1", "oui"}


class UserForm(BaseModel):
    """Creation (every field) and change (no e-mail) of an account by an administrator."""

    model_config = ConfigDict(extra="ignore")

    email: str = ""
    name: str = ""
    role: str = ""
    is_admin: str = ""
    password: str = ""

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude={"password"})  # a password is never shown again

    def to_create(self) -> UserCreate:
        return UserCreate.model_validate(
            _filled(
                {
                    "email": self.email.strip(),
                    "name": self.name,
                    "role": self.role,
                    "is_admin": _checked(self.is_admin),
                    "password": self.password or None,
                }
            )
        )

    def to_update(self) -> UserUpdate:
        changes: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "is_admin": _checked(self.is_admin),
        }
        if self.password:
            changes["password"] = self.password
        return UserUpdate.model_validate(changes)


class DecisionForm(PageForm):
    meeting_id: str = ""
    outcome: str = ""
    motivation: str = ""
    # One select per Bureau member, each option "<user id>:<vote>"; blank: absent.
    votes: list[str] = []

    def to_model(self) -> DecisionCreate:
        votes = []
        for value in self.votes:
            user_id, _, vote = value.partition(":")
            if user_id.strip() and vote.strip():
                votes.append({"user_id": user_id.strip(), "vote": vote.strip()})
        return DecisionCreate.model_validate(
            _filled(
                {
                    "meeting_id": _blank_to_none(self.meeting_id),
                    "outcome": self.outcome,
                    "motivation": _blank_to_none(self.motivation),
                    "votes": votes,
                }
            )
            | {"votes": votes}
        )

    def vote_of(self, user_id: int) -> str:
        """The vote chosen for `user_id` (to show a refused form again)."""
        prefix = f"{user_id}:"
        return next((v[len(prefix) :] for v in self.votes if v.startswith(prefix)), "")


class MeetingForm(PageForm):
    held_on: str = ""
    attendee_ids: list[str] = []
    chair_id: str = ""
    notes: str = ""

    def to_model(self) -> MeetingCreate:
        return MeetingCreate.model_validate(
            _filled(
                {
                    "held_on": _blank_to_none(self.held_on),
                    "chair_id": _blank_to_none(self.chair_id),
                    "notes": _blank_to_none(self.notes),
                }
            )
            | {"attendee_ids": [a for a in self.attendee_ids if a.strip()]}
        )


class RecusalForm(PageForm):
    user_id: str = ""
    reason: str = ""
    return_to: str = ""

    def to_model(self) -> RecusalCreate:
        return RecusalCreate.model_validate(
            _filled({"user_id": _blank_to_none(self.user_id), "reason": self.reason})
        )


class DeadlineForm(PageForm):
    due_on: str = ""
    reason: str = ""

    def to_model(self) -> DeadlineMove:
        return DeadlineMove.model_validate(
            _filled({"due_on": _blank_to_none(self.due_on), "reason": self.reason})
        )


class ReviewForm(PageForm):
    status: str = ""
    comment: str = ""

    def to_model(self) -> ReviewIn:
        return ReviewIn.model_validate(
            _filled({"status": self.status, "comment": _blank_to_none(self.comment)})
        )


class DocumentForm(PageForm):
    type: str = ""


# --- refusals ----------------------------------------------------------------------------------


@dataclass
class FormState:
    """What a refused form shows again: the typed values and the messages beside the fields."""

    values: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)
    unmet: list[dict[str, str]] = field(default_factory=list)
    status: int = 200

    @property
    def refused(self) -> bool:
        return bool(self.message)

    def value(self, name: str, default: Any = "") -> Any:
        return self.values.get(name, default) if self.refused else default

    def errors(self, name: str) -> list[str]:
        return self.fields.get(name, [])


class Forms(dict[str, FormState]):
    """`forms["stakeholder"]` is the refused form of that name, or an empty state."""

    def __missing__(self, key: str) -> FormState:
        return FormState()


def _field_messages(items: list[dict[str, str]]) -> dict[str, list[str]]:
    """'communes.1.insee' → the `communes` field, message prefixed by its line number."""
    result: dict[str, list[str]] = {}
    for item in items:
        name, _, rest = item["field"].partition(".")
        message = item["message"]
        index = rest.split(".")[0]
        if name in LINE_FIELDS and index.isdigit():
            message = f"Ligne {int(index) + 1} : {message}"
        result.setdefault(name, []).append(message)
    return result


def refusal(exc: Exception, values: dict[str, Any]) -> FormState:
    """A refused form: its values kept, the French reasons sorted by field."""
    if isinstance(exc, ValidationError):
        fields = _field_messages(french_fields(exc.errors()))
        return FormState(
            values,
            "Certaines valeurs sont manquantes ou invalides : corrigez les champs signalés.",
            fields,
            status=422,
        )
    if isinstance(exc, FormRefused):
        return FormState(
            values,
            "Certaines valeurs sont manquantes ou invalides : corrigez les champs signalés.",
            {exc.field: [exc.message]},
            status=422,
        )
    assert isinstance(exc, DomainError)
    return FormState(
        values,
        exc.message,
        _field_messages(exc.extra.get("fields", [])),
        list(exc.extra.get("unmet", [])),
        status=exc.status,
    )


REFUSALS = (ValidationError, FormRefused, DomainError)
