"""The project list's exports in the JSON API (staff): the list's filters, every project they
select, as CSV or XLSX."""

from __future__ import annotations

from fastapi import Depends
from fastapi.responses import Response

from labelflow import dates, exports, spreadsheets
from labelflow.permissions import PROJECTS_EXPORT
from labelflow.web.deps import (
    ActorDep,
    EngineDep,
    ListSortDep,
    ProjectFiltersDep,
    SessionDep,
    known_filters_only,
    permit,
)
from labelflow.web.routing import api_router

router = api_router()

# The role first (403), then the filters' names (422).
GUARDS = [permit(PROJECTS_EXPORT), Depends(known_filters_only)]
FILTERS_HELP = (
    " Les filtres et l'ordre (`sort`) sont ceux de `GET /api/v1/projects` (sans `limit` ni "
    "`offset` : toute la liste) ; un filtre inconnu, un état ou un type inexistant est "
    "refusé (422). Aucun projet : un fichier avec la seule ligne d'en-tête."
)


def _attachment(extension: str) -> dict[str, str]:
    name = f"projets-{dates.today().isoformat()}.{extension}"
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get(
    "/exports/projects.csv",
    tags=["exports"],
    summary="Exporter la liste des projets (CSV)",
    description="Une ligne par projet, cellules séparées par « ; », UTF-8 avec BOM." + FILTERS_HELP,
    dependencies=GUARDS,
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "Le fichier CSV"}},
)
def export_csv(
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    filters: ProjectFiltersDep,
    sort: ListSortDep = "recent",
) -> Response:
    table = exports.project_table(session, engine=engine, actor=actor, filters=filters, sort=sort)
    return Response(
        spreadsheets.csv_bytes(table),
        media_type=spreadsheets.CSV_MEDIA_TYPE,
        headers=_attachment("csv"),
    )


@router.get(
    "/exports/projects.xlsx",
    tags=["exports"],
    summary="Exporter la liste des projets (XLSX)",
    description="Une ligne par projet, une feuille « Projets »." + FILTERS_HELP,
    dependencies=GUARDS,
    response_class=Response,
    responses={
        200: {"content": {spreadsheets.XLSX_MEDIA_TYPE: {}}, "description": "Le classeur XLSX"}
    },
)
def export_xlsx(
    session: SessionDep,
    engine: EngineDep,
    actor: ActorDep,
    filters: ProjectFiltersDep,
    sort: ListSortDep = "recent",
) -> Response:
    table = exports.project_table(session, engine=engine, actor=actor, filters=filters, sort=sort)
    return Response(
        spreadsheets.xlsx_bytes(table),
        media_type=spreadsheets.XLSX_MEDIA_TYPE,
        headers=_attachment("xlsx"),
    )
