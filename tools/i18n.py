"""`make i18n`: extract the console's strings and merge them into the Chinese catalogues.

The platform's catalogue is ``taiji/translations``; a module may keep its own beside its code
(``taiji/modules/<code>/translations``, Module.translations), so that a new module never edits a
shared file. A string found only in such a module's folder goes to its catalogue; any other string
to the platform's. Each catalogue keeps its translations, gains the new strings untranslated, drops
what no code uses any more, and is compiled. Translate the new entries, then run again.

    python -m tools.i18n           extract, update, compile
    python -m tools.i18n --compile only compile (after translating by hand)
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = ROOT / "taiji" / "translations"
LOCALE = "zh_Hans"


def _catalog_dirs() -> dict[str, Path]:
    """Folder prefix (relative to ROOT) -> the catalogue directory its strings go to."""
    owned = {}
    for translations in sorted((ROOT / "taiji" / "modules").glob("*/translations")):
        owned[translations.parent.relative_to(ROOT).as_posix() + "/"] = translations
    return owned


def _po(directory: Path) -> Path:
    return directory / LOCALE / "LC_MESSAGES" / "messages.po"


def extract() -> dict[Path, Catalog]:
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    owned = _catalog_dirs()
    templates = {PLATFORM: Catalog(locale=None)} | {d: Catalog(locale=None) for d in owned.values()}
    found: dict[tuple, set[Path]] = {}
    places: dict[tuple, list] = {}
    for filename, lineno, message, comments, context in extract_from_dir(str(ROOT), method_map, options_map):
        key = (message, context)
        target = next((d for prefix, d in owned.items() if filename.startswith(prefix)), PLATFORM)
        found.setdefault(key, set()).add(target)
        places.setdefault(key, []).append((filename, lineno, comments))
    for key, targets in found.items():
        # Used by the platform or by two modules: the platform's catalogue serves it to all.
        target = next(iter(targets)) if len(targets) == 1 else PLATFORM
        message, context = key
        for filename, lineno, comments in places[key]:
            templates[target].add(message, locations=[(filename, lineno)], auto_comments=comments,
                                  context=context)
    return templates


def update(templates: dict[Path, Catalog]) -> None:
    for directory, template in templates.items():
        path = _po(directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "rb") as fh:
                catalog = read_po(fh, locale=LOCALE)
        else:
            catalog = Catalog(locale=LOCALE, project="Taiji")
        catalog.update(template, no_fuzzy_matching=True)
        with open(path, "wb") as fh:
            write_po(fh, catalog, ignore_obsolete=True)


def compile_all() -> None:
    for directory in [PLATFORM, *_catalog_dirs().values()]:
        path = _po(directory)
        if not path.exists():
            continue
        with open(path, "rb") as fh:
            catalog = read_po(fh, locale=LOCALE)
        with open(path.with_suffix(".mo"), "wb") as fh:
            write_mo(fh, catalog)


def main(argv: list[str]) -> int:
    if "--compile" not in argv:
        update(extract())
    compile_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
