"""The stylesheet's colours, read from static/labelflow.css itself: the focus ring stands out
(WCAG 2.2, 1.4.11: at least 3:1) against every background it is drawn on."""

from __future__ import annotations

import re

import pytest

from labelflow.settings import PROJECT_ROOT

CSS = (PROJECT_ROOT / "static" / "labelflow.css").read_text(encoding="utf-8")


def variables() -> dict[str, str]:
    root = re.search(r":root\s*\{(.*?)\}", CSS, re.S)
    assert root is not None
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", root.group(1)))


def luminance(colour: str) -> float:
    """Relative luminance of an sRGB colour written #rrggbb (WCAG 2.2 definition)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_the_focus_ring_uses_the_focus_colours() -> None:
    assert re.search(r"(?m)^:focus-visible\s*\{[^}]*outline:[^;]*var\(--focus\)", CSS)
    assert re.search(r"\.site-header :focus-visible\s*\{[^}]*var\(--focus-on-dark\)", CSS)
    # No other rule draws a ring of another colour.
    for rule in re.findall(r"([^{}]*focus[^{}]*)\{([^}]*)\}", CSS):
        for colour in re.findall(r"outline(?:-color)?:([^;]*)", rule[1]):
            assert "var(--focus" in colour or colour.strip() in {"none", "0"}, rule


# The light backgrounds a focused element sits on: the page, cards, soft panels, alerts.
LIGHT = ["bg", "surface", "primary-soft", "success-soft", "warning-soft", "danger-soft"]


@pytest.mark.parametrize("background", LIGHT)
def test_the_focus_ring_stands_out_on_light_backgrounds(background: str) -> None:
    colours = variables()
    ratio = contrast(colours["focus"], colours[background])
    assert ratio >= 3, f"--focus sur --{background} : {ratio:.2f} à 1"


def test_the_focus_ring_stands_out_in_the_header() -> None:
    assert re.search(r"\.site-header\s*\{[^}]*background:\s*var\(--primary-dark\)", CSS)
    colours = variables()
    ratio = contrast(colours["focus-on-dark"], colours["primary-dark"])
    assert ratio >= 3, f"--focus-on-dark sur --primary-dark : {ratio:.2f} à 1"


def test_every_scrolling_box_can_be_reached_with_the_keyboard() -> None:
    """A box that scrolls sideways (overflow-x in the stylesheet) is focusable and named in
    every template, so that a keyboard user can scroll it and a screen reader says what it is."""
    scrolling = {"table-wrap", "diagram", "code"}
    assert re.search(r"\.table-wrap\s*\{[^}]*overflow-x:\s*auto", CSS)
    found = 0
    for template in sorted((PROJECT_ROOT / "templates").rglob("*.html")):
        html = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:div|pre)\b[^>]*>", html):
            classes = re.search(r'class="([^"]*)"', tag)
            if classes is None or not scrolling & set(classes.group(1).split()):
                continue
            found += 1
            assert 'tabindex="0"' in tag, f"{template.name} : {tag}"
            assert re.search(r'role="(region|group)"', tag), f"{template.name} : {tag}"
            assert re.search(r"aria-label(ledby)?=", tag), f"{template.name} : {tag}"
    assert found >= 15
