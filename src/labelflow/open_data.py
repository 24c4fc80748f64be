"""The open data: the public list of labelled Régies (name, kind, communes with their INSEE
codes, région, label number and date), for anyone, without signing in.

Nothing personal is read: the query selects those columns only (no porteur, no chargé·e de
suivi, no association contact), and only for projects that received a label number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from labelflow.models import Project
from labelflow.projects import KIND_LABELS
from labelflow.spreadsheets import Table


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str


@dataclass(frozen=True)
class LabelledRegie:
    name: str
    kind: str
    communes: tuple[Commune, ...]
    region: str
    label_number: str
    labelled_on: date

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


def labelled_regies(session: Session) -> list[LabelledRegie]:
    """Every labelled Régie, the most recently labelled first (one query)."""
    # sqlmodel's exec() is typed for at most four columns; this query has six.
    rows = session.exec(  # type: ignore[call-overload]
        select(col(Project.name), col(Project.kind), col(Project.communes), col(Project.region))
        .add_columns(col(Project.label_number), col(Project.label_date))
        .where(col(Project.label_number).is_not(None), col(Project.label_date).is_not(None))
        .order_by(col(Project.label_date).desc(), col(Project.label_number).desc())
    ).all()
    return [
        LabelledRegie(
            name=name,
            kind=kind,
            communes=tuple(Commune(c.get("insee", ""), c.get("name", "")) for c in communes),
            region=region,
            label_number=number or "",
            labelled_on=labelled_on or date.min,
        )
        for name, kind, communes, region, number, labelled_on in rows
    ]


CSV_HEADER = (
    "name",
    "kind",
    "kind_label",
    "communes",
    "insee_codes",
    "region",
    "label_number",
    "labelled_on",
)


def regies_table(regies: Sequence[LabelledRegie]) -> Table:
    """The CSV's table: the JSON's fields, communes and their codes as two `;`-separated lists
    in the same order."""
    return Table(
        "Régies labellisées",
        CSV_HEADER,
        [
            [
                r.name,
                r.kind,
                r.kind_label,
                ";".join(c.name for c in r.communes),
                ";".join(c.insee for c in r.communes),
                r.region,
                r.label_number,
                r.labelled_on,
            ]
            for r in regies
        ],
    )
