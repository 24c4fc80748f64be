"""The OpenAPI document, completed once: the links from a response that names a project to the
operations on that project (OpenAPI 3 `links`), so that a client — or schemathesis' stateful
phase — can chain them: the list or a created project, then its page, documents, messages,
transitions…"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# The responses that name a project, and where its id is in their body.
PROJECT_IDS = {
    ("/api/v1/projects", "post", "201"): "$response.body#/id",
    ("/api/v1/projects", "get", "200"): "$response.body#/items/0/id",
    ("/api/v1/projects/{project_id}", "get", "200"): "$response.body#/id",
}
# The project's first action, fired at the version just read (the action may be refused: its
# criteria unmet, or not this caller's to fire).
FIRST_ACTION = {
    "parameters": {
        "project_id": "$response.body#/id",
        "header.If-Match": "$response.body#/version",
    },
    "requestBody": {"action": "$response.body#/actions/0/action"},
}
TRANSITIONS = ("/api/v1/projects/{project_id}/transitions", "post")


def install(app: FastAPI) -> None:
    """`app.openapi()` (and `/openapi.json`) answer FastAPI's document with the links."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_links(build())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def add_links(document: dict[str, Any]) -> None:
    paths = document["paths"]
    targets = [
        (path, method, operation["operationId"])
        for path, operations in paths.items()
        if _path_parameters(path) == ["project_id"]
        for method, operation in operations.items()
    ]
    for (path, method, status), expression in PROJECT_IDS.items():
        links = paths[path][method]["responses"][status].setdefault("links", {})
        for target_path, target_method, operation_id in targets:
            links[operation_id] = {
                "operationId": operation_id,
                "parameters": {"project_id": expression},
                "description": f"{target_method.upper()} {target_path} du projet",
            }
    path, method = TRANSITIONS
    operation_id = paths[path][method]["operationId"]
    page = paths["/api/v1/projects/{project_id}"]["get"]["responses"]["200"]["links"]
    page[f"{operation_id}_premiere_action"] = {
        "operationId": operation_id,
        **FIRST_ACTION,
        "description": "La première action du parcours, à la version lue",
    }


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
