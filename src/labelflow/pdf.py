"""PDF documents (decision letters, expertise reports) rendered from Jinja templates.

WeasyPrint turns the HTML of `templates/pdf/*.html` into PDF; it needs Pango and HarfBuzz
from the system (Debian: libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0) and a font with
French glyphs (fonts-dejavu-core): the Makefile and .ci/run install them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape

from labelflow import dates, french


class FrenchTemplate(Template):
    """A template whose rendered text gets French typographic spaces (`french.typeset_html`)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        return french.typeset_html(super().render(*args, **kwargs))


def make_environment(templates_dir: Path, *, auto_reload: bool = False) -> Environment:
    """The one Jinja environment setup (autoescape, French date filters), for the pages and for
    PDFs made outside a request (demo data); the web layer adds its own globals on top."""
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(),
        auto_reload=auto_reload,
    )
    env.template_class = FrenchTemplate
    env.filters["french_date"] = dates.french_date
    env.filters["french_datetime"] = dates.french_datetime
    env.filters["plural"] = french.plural
    env.filters["typeset"] = french.typeset
    env.filters["de"] = french.de
    return env


def render_pdf(env: Environment, template: str, context: dict[str, Any]) -> bytes:
    """The PDF bytes of `template` rendered with `context` (no network access: no base URL)."""
    from weasyprint import HTML  # noqa: PLC0415  (heavy import, only when a PDF is made)

    html = env.get_template(template).render(**context)
    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]
