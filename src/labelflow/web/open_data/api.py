"""The open data in the JSON API and as CSV: public, no sign-in (`public_router`,
`files_router`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from labelflow import open_data, spreadsheets
from labelflow.schemas import RegieList
from labelflow.web.deps import SessionDep
from labelflow.web.open_data.present import regie_list
from labelflow.web.routing import API_PREFIX

# Before any sign-in: the open data is anyone's.
public_router = APIRouter(prefix=API_PREFIX, tags=["données ouvertes"])
# The page's file twin, beside it out of the API (the schema documents `/api/` only).
files_router = APIRouter(include_in_schema=False)


@public_router.get(
    "/open-data/regies",
    summary="Les Régies labellisées (données ouvertes, sans authentification)",
    description="Les plus récemment labellisées d'abord. Les mêmes données en CSV : "
    "`GET /open-data/regies.csv` (UTF-8, cellules séparées par des virgules, une ligne par "
    "Régie ; les communes et leurs codes INSEE en deux listes séparées par « ; », dans le même "
    "ordre) ; en page : `/regies`.",
)
def list_regies(session: SessionDep) -> RegieList:
    return regie_list(open_data.labelled_regies(session))


@files_router.get("/open-data/regies.csv")
def regies_csv(session: SessionDep) -> Response:
    table = open_data.regies_table(open_data.labelled_regies(session))
    return Response(
        spreadsheets.csv_bytes(table, delimiter=",", bom=False),
        media_type=spreadsheets.CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="regies-labellisees.csv"'},
    )
