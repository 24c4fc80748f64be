"""Irreversible actions ask before acting, and every success says so.

A form of an irreversible action carries `data-confirm` (the consequence, `consequence()`):
`static/confirm.js` opens a `<dialog>` naming it, and its « Confirmer » submits with `confirm=1`.
Without JavaScript the form arrives without `confirm=1`: the route answers `ask()`, a page
naming the consequence with the same fields, instead of acting.

After a success the redirect carries `?fait=<key>`, a key of `NOTICES` (never text from the
URL: an unknown key shows nothing). A query parameter rather than a signed cookie: nothing to
sign or clear, it survives a page reload the way the page does, and only known keys are shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fastapi import Request
from fastapi.responses import Response

from labelflow.web.routing import render

# key: (what the page's title says after « Confirmer : », the consequence).
CONFIRMATIONS: dict[str, tuple[str, str]] = {
    "transition": (
        "{action}",
        "Le projet passera à l'étape « {target} ». Ce changement est inscrit à l'historique "
        "et ne peut pas être annulé.",
    ),
    "closing": (
        "{action}",
        "Le projet sera clos (« {target} ») : il ne pourra plus être modifié ni changer d'étape.",
    ),
    "stakeholder_delete": (
        "retirer une partie prenante",
        "Cette partie prenante ne figurera plus dans le dossier du projet ; son retrait est "
        "inscrit à l'historique.",
    ),
    "board_delete": (
        "retirer un membre du conseil d'administration",
        "Ce membre ne figurera plus dans le conseil d'administration du projet ; son retrait est "
        "inscrit à l'historique.",
    ),
    "report_submit": (
        "soumettre le rapport d'expertise",
        "Le rapport sera transmis à l'équipe nationale : vous ne pourrez plus le modifier, "
        "sauf si l'équipe le rouvre.",
    ),
    "recusal": (
        "déclarer un déport",
        "Le membre déporté ne pourra pas voter sur ce dossier. Le déport est inscrit à "
        "l'historique et ne peut pas être retiré.",
    ),
    "assignment_end": (
        "mettre fin à la mission",
        "La ou le consultant·e ne sera plus affecté·e à ce projet et ne pourra plus y rédiger "
        "le rapport ; une nouvelle affectation sera nécessaire.",
    ),
    "milestone_delete": (
        "supprimer un jalon",
        "Ce jalon ne figurera plus parmi les échéances du projet ; sa suppression est inscrite "
        "à l'historique.",
    ),
    "user_deactivate": (
        "désactiver le compte",
        "Ce compte ne pourra plus se connecter ; ses sessions et ses jetons d'API cessent de "
        "fonctionner dès sa prochaine requête.",
    ),
}


def consequence(key: str, **names: object) -> str:
    return CONFIRMATIONS[key][1].format(**names)


def title(key: str, **names: object) -> str:
    return CONFIRMATIONS[key][0].format(**names)


def confirmed(value: object) -> bool:
    return value == "1"


def hidden_fields(values: Mapping[str, object]) -> list[tuple[str, str]]:
    """A form's values as the (name, value) pairs of hidden fields (a list: one per item)."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if name in ("confirm", "csrf_token"):
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, "" if item is None else str(item)))
    return pairs


def ask(
    request: Request,
    *,
    key: str,
    fields: Iterable[tuple[str, str]],
    cancel: str,
    **names: object,
) -> Response:
    """The page that asks first, without JavaScript: the same form, confirmed."""
    return render(
        request,
        "confirm.html",
        {
            "title": title(key, **names),
            "consequence": consequence(key, **names),
            "action": request.url.path,
            "fields": list(fields),
            "cancel": cancel,
        },
    )


# What a success says at the top of the page it comes back to (`?fait=<key>`).
NOTICES: dict[str, str] = {
    "message_envoye": "Message envoyé.",
    "piece_deposee": "Pièce déposée.",
    "piece_revue": "Revue de la pièce enregistrée.",
    "projet_modifie": "Les informations du projet sont enregistrées.",
    "suivi_change": "Le ou la chargé·e de suivi est changé·e.",
    "partie_prenante_ajoutee": "Partie prenante ajoutée.",
    "partie_prenante_retiree": "Partie prenante retirée.",
    "membre_ajoute": "Membre du conseil d'administration ajouté.",
    "membre_retire": "Membre du conseil d'administration retiré.",
    "attestation_enregistree": "Attestation enregistrée.",
    "consultant_designe": "Consultant·e désigné·e.",
    "mission_terminee": "La mission est terminée.",
    "deport_declare": "Déport déclaré.",
    "decision_enregistree": "Décision du Bureau enregistrée.",
    "suspendu": "Le projet est suspendu.",
    "repris": "Le projet a repris.",
    "echeance_deplacee": "Échéance déplacée.",
    "jalon_ajoute": "Jalon ajouté.",
    "jalon_deplace": "Jalon déplacé.",
    "jalon_tenu": "Jalon marqué comme tenu.",
    "jalon_rouvert": "Jalon rouvert.",
    "jalon_supprime": "Jalon supprimé.",
    "mot_de_passe_change": "Votre mot de passe est changé. Vos autres sessions sont fermées.",
    "agenda_revoque": "L'adresse de votre agenda est révoquée : elle ne donne plus rien.",
    "porteur_lie": "Compte de porteur lié au projet.",
    "porteur_retire": "Compte de porteur retiré du projet.",
    "projet_suivi": "Vous suivez ce projet : vous en serez notifié·e comme son ou sa chargé·e.",
    "projet_plus_suivi": "Vous ne suivez plus ce projet.",
}


def notice(key: str) -> str:
    """The message of a known key; nothing for any other."""
    return NOTICES.get(key, "")
