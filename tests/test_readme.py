"""Every setting is documented in the README's configuration table."""

from labelflow.settings import PROJECT_ROOT, Settings


def test_every_setting_is_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"LABELFLOW_{name.upper()}"
        for name in Settings.model_fields
        if f"`LABELFLOW_{name.upper()}`" not in readme
    ]
    assert missing == []
