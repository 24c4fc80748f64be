"""The OpenAPI document, completed once:

- every refusal as the API answers it (`web/errors.py`: `{"error": {code, message, …}}`), not
  FastAPI's `{"detail": […]}`: the 422 of each operation and its `default` answer;
- the links from a response that names a project to the operations on that project (OpenAPI 3
  `links`), so that a client — or schemathesis' stateful phase — can chain them: the list or a
  created project, then its page, documents, messages, transitions…"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# The responses that name a project, and where its id is in their body (the first of a list):
# each role's way in — the list, a created project, a notification, an assignment, the agenda.
PROJECT_IDS = {
    ("/api/v1/projects", "post", "201"): "$response.body#/id",
    ("/api/v1/projects", "get", "200"): "$response.body#/items/0/id",
    ("/api/v1/projects/{project_id}", "get", "200"): "$response.body#/id",
    ("/api/v1/me/notifications", "get", "200"): "$response.body#/items/0/project_id",
    ("/api/v1/me/assignments", "get", "200"): "$response.body#/0/project/id",
    ("/api/v1/bureau/agenda", "get", "200"): "$response.body#/0/project/id",
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

ERROR_SCHEMA = {
    "title": "Error",
    "description": "Un refus : son code et son message en français ; selon le cas, les champs en "
    "cause (`fields`), les critères non remplis (`unmet`), les autres problèmes (`problems`).",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}
ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def install(app: FastAPI) -> None:
    """`app.openapi()` (and `/openapi.json`) answer FastAPI's document with the links."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document_errors(document)
            add_links(document)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def document_errors(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"] = ERROR_SCHEMA
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = {"description": "Requête invalide", **ERROR}
            responses["default"] = {"description": "Refus ou service indisponible", **ERROR}


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
