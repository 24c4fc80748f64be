"""The open data's page: `/regies`, the labelled Régies, for anyone without signing in."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from labelflow import open_data
from labelflow.web.deps import SessionDep
from labelflow.web.open_data.present import regies_page
from labelflow.web.routing import public_page_router, render

router = public_page_router()


@router.get("/regies")
def regies(request: Request, session: SessionDep) -> Response:
    return render(request, "regies.html", regies_page(open_data.labelled_regies(session)))
