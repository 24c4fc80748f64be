"""French wording: plurals, elision and typographic spaces, for the messages and the templates.

The spaces French typography wants are one consistent choice: a no-break space (U+00A0) inside
« » and before the colon, a narrow no-break space (U+202F) before ; ! and ?. Sources keep plain
spaces; `typeset` (plain text) and `typeset_html` (every rendered template, see
`pdf.make_environment`) put the right ones in.
"""

from __future__ import annotations

import re

NBSP = "\u00a0"
NNBSP = "\u202f"

_VOWELS = "aàâäeéèêëiîïoôöuùûüyœæh"
# Words starting with an aspirated h take no elision (« de Hautmont », « le Havre »).
_ASPIRATED_H = ("hautmont", "havre", "haut", "haute", "hauts", "hénin", "hazebrouck", "houdain")


def plural(n: int, singular: str, plural: str | None = None) -> str:
    """'1 projet suspendu', '8 critères': French takes the singular below 2.

    Without `plural`, every word of `singular` takes an s (unless it ends in s, x or z): give
    `plural` for words that do not (« critère non rempli »).
    """
    if abs(n) < 2:
        return f"{n} {singular}"
    if plural is None:
        plural = " ".join(w if w[-1:] in ("s", "x", "z") else w + "s" for w in singular.split(" "))
    return f"{n} {plural}"


def _elides(word: str) -> bool:
    lowered = word.lower()
    if not lowered or lowered[0] not in _VOWELS:
        return False
    return not (lowered[0] == "h" and lowered.startswith(_ASPIRATED_H))


def de(name: str) -> str:
    """« de » before a name: « d'Amiens », « de Lille », « du Havre », « des Ulis »."""
    first, _, rest = name.partition(" ")
    match first:
        case "Le" | "le":
            return f"du {rest}"
        case "Les" | "les":
            return f"des {rest}"
        case "La" | "la":
            return f"de {name}"
    if first.lower().startswith(("l'", "l’")):
        return f"de {name}"
    return f"d'{name}" if _elides(name) else f"de {name}"


def elide(text: str) -> str:
    """Repairs what gluing words made: « de le Havre » → « du Havre », « de le Alma » → « de
    l'Alma », « Ville de Amiens » → « Ville d'Amiens », « à les » → « aux »."""
    text = re.sub(r"\b([lL])[ea] (?=(\w+))", _elided, text)
    text = re.sub(r"\b([dD])e le (?=\w)", r"\1u ", text)
    text = re.sub(r"\b([dD])e les\b", r"\1es", text)
    text = re.sub(r"(?<!\w)([àÀ]) le (?=\w)", lambda m: "au " if m.group(1) == "à" else "Au ", text)
    text = re.sub(r"(?<!\w)à les\b", "aux", text)
    return re.sub(r"\b([dD]e|[qQ]ue) (?=(\w+))", _elided, text)


def _elided(match: re.Match[str]) -> str:
    if not _elides(match.group(2)):
        return match.group(0)
    return match.group(0)[:-2] + "'"  # "le " → "l'", "de " → "d'", "que " → "qu'"


_BEFORE_COLON = re.compile(r"[ \t\u00a0\u202f]+:(?=\s|$)")
_BEFORE_TALL = re.compile(r"[ \t\u00a0\u202f]+([;!?])")
_OPENING = re.compile(r"«[ \t\u00a0\u202f]*")
_CLOSING = re.compile(r"[ \t\u00a0\u202f]*»")


def typeset(text: str) -> str:
    """Plain spaces before ; : ! ? and inside « » become no-break ones (added inside « »)."""
    if not any(c in text for c in ":;!?«»"):
        return text
    text = _BEFORE_COLON.sub(NBSP + ":", text)
    text = _BEFORE_TALL.sub(NNBSP + r"\1", text)
    text = _OPENING.sub("«" + NBSP, text)
    return _CLOSING.sub(NBSP + "»", text)


# Elements whose text is code or what the user typed (kept as it is), and comments.
_VERBATIM = re.compile(
    r"<(script|style|textarea|pre|code)\b.*?</\1\s*>|<!--.*?-->", re.DOTALL | re.IGNORECASE
)
_PUNCTUATION = re.compile("[:;!?«»]")
_SPACE_CHARS = " \t\u00a0\u202f"


def _in_tag(html: str, index: int) -> bool:
    """Whether `index` is inside a tag: the next angle bracket ahead is a closing one (a '>' in
    text is escaped as &gt;)."""
    closing = html.find(">", index)
    opening = html.find("<", index)
    return closing != -1 and (opening == -1 or closing < opening)


def _typeset_markup(html: str) -> str:
    """`typeset` on markup without verbatim elements. It runs on every page, so it walks the
    (rare) punctuation marks rather than every space."""
    out: list[str] = []
    done = 0  # html[:done] is in `out`
    for match in _PUNCTUATION.finditer(html):
        index = match.start()
        if index < done or _in_tag(html, index):
            continue
        mark = html[index]
        if mark == "«":
            after = index + 1
            while after < len(html) and html[after] in _SPACE_CHARS:
                after += 1
            out += [html[done:index], "«" + NBSP]
            done = after
            continue
        if mark == ":" and not (index + 1 == len(html) or html[index + 1] in " \t\r\n<"):
            continue  # 12:30, https://
        start = index
        while start > done and html[start - 1] in _SPACE_CHARS:
            start -= 1
        if start == index and mark != "»":
            continue  # no space before it: nothing to add (« ; » glued to a word stays so)
        space = NNBSP if mark in ";!?" else NBSP
        if mark == "»" and start == done and out and out[-1] == "«" + NBSP:
            space = ""  # « » empty: one space between them
        out += [html[done:start], space + mark]
        done = index + 1
    out.append(html[done:])
    return "".join(out)


def typeset_html(html: str) -> str:
    """`typeset` on the text of an HTML document, leaving tags, attributes, scripts, styles and
    text areas alone (a few regular expressions over the whole page: it runs on every page)."""
    out: list[str] = []
    position = 0
    for match in _VERBATIM.finditer(html):
        out.append(_typeset_markup(html[position : match.start()]))
        out.append(match.group(0))
        position = match.end()
    out.append(_typeset_markup(html[position:]))
    return "".join(out)
