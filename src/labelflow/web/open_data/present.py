"""The open data as shown: the JSON shapes of the labelled Régies and the page's context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelflow.french import plural
from labelflow.open_data import LabelledRegie
from labelflow.projects import KIND_LABELS
from labelflow.schemas import CommunePublic, RegieList, RegiePublic

JSON_URL = "/api/v1/open-data/regies"
CSV_URL = "/open-data/regies.csv"


def regie_public(regie: LabelledRegie) -> RegiePublic:
    return RegiePublic(
        name=regie.name,
        kind=regie.kind,
        kind_label=regie.kind_label,
        communes=[CommunePublic(insee=c.insee, name=c.name) for c in regie.communes],
        region=regie.region,
        label_number=regie.label_number,
        labelled_on=regie.labelled_on,
    )


def regie_list(regies: Sequence[LabelledRegie]) -> RegieList:
    return RegieList(items=[regie_public(r) for r in regies], total=len(regies))


def summary(regies: Sequence[LabelledRegie]) -> str:
    """'3 Régies labellisées par le Mouvement des Régies : 2 Régies de Quartier et 1 Régie de
    Territoire.' (the kinds that have none left out)."""
    counts = [(sum(1 for r in regies if r.kind == k), label) for k, label in KIND_LABELS.items()]
    parts = [plural(n, label, label.replace("Régie ", "Régies ", 1)) for n, label in counts if n]
    text = f"{plural(len(regies), 'Régie labellisée')} par le Mouvement des Régies"
    return f"{text} : {' et '.join(parts)}." if parts else f"{text}."


def regies_page(regies: Sequence[LabelledRegie]) -> dict[str, Any]:
    return {
        "regies": regies,
        "summary": summary(regies),
        "json_url": JSON_URL,
        "csv_url": CSV_URL,
    }
