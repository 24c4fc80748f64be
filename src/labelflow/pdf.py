"""PDF documents (decision letters, expertise reports) rendered from Jinja templates.

WeasyPrint turns the HTML of `templates/pdf/*.html` into PDF; it needs Pango and HarfBuzz
from the system (Debian: libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0) and a font with
French glyphs (fonts-dejavu-core): the Makefile and .ci/run install them.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment


def render_pdf(env: Environment, template: str, context: dict[str, Any]) -> bytes:
    """The PDF bytes of `template` rendered with `context` (no network access: no base URL)."""
    from weasyprint import HTML  # noqa: PLC0415  (heavy import, only when a PDF is made)

    html = env.get_template(template).render(**context)
    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]
