"""Optimistic locking at the edge: the version sent as `ETag`, read back from `If-Match`
(the API) or from the hidden `version` field (the pages' forms)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Response

from labelflow.errors import PreconditionFailed

# 3, "3" or W/"3"; quotes come in pairs.
_VERSION = re.compile(r'^\s*(?:(\d{1,9})|(?:W/)?"(\d{1,9})")\s*$')


def set_etag(response: Response, version: int) -> None:
    """The version the caller sends back in `If-Match` to change the object."""
    response.headers["ETag"] = f'"{version}"'


async def if_match(
    value: Annotated[
        str | None,
        Header(alias="If-Match", description='Version du projet lue par l\'appelant : 3 ou "3"'),
    ] = None,
) -> int | None:
    if value is None or value.strip() == "*":
        return None
    match = _VERSION.match(value)
    if match is None:
        raise PreconditionFailed(
            'L\'en-tête If-Match est mal formé : indiquez la version du projet, par exemple "3".'
        )
    return int(match.group(1) or match.group(2))


IfMatchDep = Annotated[int | None, Depends(if_match)]


def version_of(value: str) -> int | None:
    """The hidden `version` field of a page's form, used as the API's If-Match header."""
    value = value.strip().strip('"')
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise PreconditionFailed(
            "La version du projet envoyée par le formulaire est illisible : "
            "rechargez la page et réessayez."
        )
    return int(value)
