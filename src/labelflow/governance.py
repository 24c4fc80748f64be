"""The governance rule of a Régie: habitants hold a majority of the board (strictly more than
half of its members) and the presidency. Written once: the criterion and the report use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labelflow.french import plural
from labelflow.models import BoardMember
from labelflow.workflow import COLLEGE_LABELS

HABITANTS = "habitants"


@dataclass(frozen=True)
class Governance:
    members: int
    habitants: int
    presidents: list[BoardMember]

    @property
    def habitants_majority(self) -> bool:
        return self.habitants * 2 > self.members

    @property
    def habitant_president(self) -> bool:
        return len(self.presidents) == 1 and self.presidents[0].college == HABITANTS


def governance_of(board: Sequence[BoardMember]) -> Governance:
    return Governance(
        members=len(board),
        habitants=sum(1 for m in board if m.college == HABITANTS),
        presidents=[m for m in board if m.is_president],
    )


def board_summary(board: Sequence[BoardMember]) -> str:
    """'5 membres dont 3 habitants ; présidence : habitants'."""
    if not board:
        return "Aucun membre enregistré."
    rule = governance_of(board)
    presidency = (
        f"présidence : {rule.presidents[0].name} ({COLLEGE_LABELS[rule.presidents[0].college]})"
        if len(rule.presidents) == 1
        else "présidence non désignée"
    )
    members = plural(rule.members, "membre")
    return f"{members} dont {plural(rule.habitants, 'habitant')} ; {presidency}."
