"""Taiji's import rules that import-linter's built-in contracts cannot say.

The two contract types here are registered in ``pyproject.toml`` (``[tool.importlinter]
contract_types``); ``lint-imports`` puts the working folder on ``sys.path``, so this file is found
when it runs from the repository root.

- ``public_faces``: another module reaches module B only as ``taiji.modules.B`` (its package),
  ``taiji.modules.B.services`` (module or package, public submodules) or
  ``taiji.modules.B.events``, and never a name starting with ``_`` in them. It is an allow-list,
  generated when it runs for every code of ``LAYERS`` — also for modules that do not exist yet —
  and a package under ``taiji.modules`` that is not one of the codes fails it. The built-in
  ``forbidden`` and ``protected`` contracts can only list what is closed (a deny-list, where a
  new file such as ``models_external.py`` is open until someone adds it), and they see modules,
  not the names imported from them.
- ``standalone``: a package (the participant SDK ``taiji.tx``) imports only itself, the standard
  library and the external packages it names — nothing of the server.

``LAYERS`` is DESIGN.md's layering; the ``layers`` contract in ``pyproject.toml`` is generated from
it (``python -m tools.import_rules`` prints it) and a test fails when the two differ.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output

# DESIGN.md, "Layering", top to bottom. A code may import the codes of lower layers (through their
# public faces); codes in one layer never import each other. `tx` is the transaction engine's
# console and API; its core is the kernel's `taiji.platform.tx`.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("mkt",),
    ("cicd", "srm", "umc", "qaf"),
    ("scm", "sem", "vcs", "bpr", "dpr", "pm", "im", "tx"),
    ("spm",),
    ("tm",),
    ("iam",),
)
CODES: tuple[str, ...] = tuple(code for layer in LAYERS for code in layer)
CONTAINER = "taiji.modules"
KERNEL = "taiji.platform"


def layers_contract() -> dict:
    """The ``layers`` contract for ``pyproject.toml``, as TOML would load it.

    Every code is optional (in parentheses): a module that is not written yet has its place the
    day its folder lands. ``public_faces`` fails on a folder that is not one of the codes, so an
    optional layer cannot hide a misspelt module.
    """
    return {
        "name": "Layers of the subsystems (DESIGN.md): higher calls lower; siblings never call each other",
        "type": "layers",
        "layers": [" | ".join(f"({CONTAINER}.{code})" for code in layer) for layer in LAYERS] + [KERNEL],
    }


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class PublicFacesContract(Contract):
    """Another module is reached only through its package, its services or its events.

    Options: ``container`` (the package holding the modules, ``taiji.modules``) and ``faces``
    (the submodules open to the others besides the package itself: ``services``, ``events``).
    The codes are ``LAYERS``.
    """

    container = fields.StringField()
    faces = fields.ListField(subfield=fields.StringField())

    def _code(self, name: str) -> str | None:
        prefix = self.container + "."
        return name[len(prefix):].split(".", 1)[0] if name.startswith(prefix) else None

    def _open(self, name: str) -> bool:
        """Whether ``name`` (a module of some code) may be imported by another code."""
        rest = name[len(self.container) + 1:].split(".")[1:]
        return not rest or (rest[0] in self.faces and not any(_private(part) for part in rest))

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        broken: list[dict] = []
        children = graph.find_children(self.container) if self.container in graph.modules else set()
        for child in sorted(children):
            if self._code(child) not in CODES:
                broken.append({"importer": child, "imported": "", "lines": (),
                               "why": "is not a code of DESIGN.md (tools/import_rules.py LAYERS)"})
        modules = sorted(graph.find_descendants(self.container)) if children else []
        for importer in modules:
            own = self._code(importer)
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                other = self._code(imported)
                if other is None or other == own or self._open(imported):
                    continue
                lines = tuple(sorted(d["line_number"] for d in graph.get_import_details(
                    importer=importer, imported=imported)))
                broken.append({"importer": importer, "imported": imported, "lines": lines,
                               "why": f"is not {self.container}.{other}, nor its {' or '.join(self.faces)}"})
        root = self.container.split(".")[0]
        spec = importlib.util.find_spec(root)
        folder = Path(spec.origin).parent if spec and spec.origin else None
        known = set(graph.modules)
        for importer in modules if folder else []:
            source = _source_file(folder, root, importer)
            if source is not None:
                broken.extend(_PrivateReach(self, importer, source, known).run())
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        _render(check, f"Another module reaches {self.container}.<code> only as the package, "
                       f"{', '.join(self.faces)}, and none of their _private names:")


def _source_file(folder: Path, root: str, module: str) -> tuple[Path, bool] | None:
    relative = Path(*module.split(".")[1:]) if module != root else Path()
    package = folder / relative / "__init__.py"
    if package.is_file():
        return package, True
    plain = (folder / relative).with_suffix(".py")
    return (plain, False) if plain.is_file() else None


class _PrivateReach(ast.NodeVisitor):
    """Finds, in one file, names reached in another module that the import graph cannot show:
    ``from taiji.modules.b.services import _helper``, ``services._helper(...)`` on an imported
    services module, and ``b.models.Thing`` reached as an attribute of an imported package."""

    def __init__(self, contract: PublicFacesContract, module: str, source: tuple[Path, bool],
                 graph_modules: set[str]) -> None:
        self.contract, self.module, self.graph_modules = contract, module, graph_modules
        self.path, self.is_package = source
        self.own = contract._code(module)
        self.scopes: list[dict[str, str]] = [{}]
        self.found: list[dict] = []

    def run(self) -> list[dict]:
        text = self.path.read_text(encoding="utf-8")
        if self._may_reach_out(text):
            self.visit(ast.parse(text, filename=str(self.path)))
        return self.found

    def _may_reach_out(self, text: str) -> bool:
        """Parsing every file of every module costs seconds; only a file that names another
        module, or whose relative imports climb out of its own, can reach into one."""
        container = re.escape(self.contract.container)
        for match in re.finditer(rf"{container}(?:\.(\w+)|\s+import\b)", text):
            if match.group(1) != self.own:
                return True
        depth = self.module.count(".") - self.contract.container.count(".") - (0 if self.is_package else 1)
        return any(len(dots) > depth for dots in re.findall(r"^\s*from\s+(\.+)", text, re.MULTILINE))

    # -- bindings: which local names stand for a dotted name elsewhere ---------------------------

    def _bind(self, name: str, target: str) -> None:
        self.scopes[-1][name] = target

    def _lookup(self, name: str) -> str | None:
        return self.scopes[-1].get(name)

    def _scoped(self, node: ast.AST) -> None:
        self.scopes.append(dict(self.scopes[-1]))
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scoped

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self._bind(alias.asname, alias.name)
            else:
                top = alias.name.split(".")[0]
                self._bind(top, top)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node.module, node.level)
        for alias in node.names:
            if alias.name == "*":
                continue
            target = f"{base}.{alias.name}"
            if _private(alias.name):
                self._report(target, node.lineno, "imports a _private name of another module")
            self._bind(alias.asname or alias.name, target)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts: list[str] = []
        current: ast.AST = node
        while isinstance(current, ast.Attribute):
            parts.insert(0, current.attr)
            current = current.value
        bound = self._lookup(current.id) if isinstance(current, ast.Name) else None
        if bound is None:
            self.generic_visit(node)
            return
        target = ".".join([bound, *parts])
        other = self.contract._code(target)
        if other is None or other == self.own:
            return
        # Only what follows the module path can be new here; the import itself is the graph's.
        if any(_private(part) for part in parts):
            self._report(target, node.lineno, "uses a _private name of another module")
        else:
            names = target.split(".")
            reached = next((prefix for prefix in (".".join(names[:n]) for n in range(len(names), 0, -1))
                            if prefix in self.graph_modules), None)
            if reached and not self.contract._open(reached):
                self._report(reached, node.lineno, "reaches a closed submodule as an attribute")

    def _absolute(self, module: str | None, level: int) -> str:
        if not level:
            return module or ""
        package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
        base = package[: len(package) - (level - 1)]
        return ".".join(base + ([module] if module else []))

    def _report(self, target: str, line: int, why: str) -> None:
        other = self.contract._code(target)
        if other is None or other == self.own:
            return
        self.found.append({"importer": self.module, "imported": target, "lines": (line,), "why": why})


class StandaloneContract(Contract):
    """A package that imports only itself, the standard library and the external packages named
    in ``allowed_external`` (needs ``include_external_packages = true``, or the graph would not
    show the external imports at all)."""

    package = fields.StringField()
    allowed_external = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        broken: list[dict] = []
        # The TOML and INI readers both hand the session options over as text.
        if str(self.session_options.get("include_external_packages")) not in ("True", "true"):
            broken.append({"importer": self.package, "imported": "", "lines": (),
                           "why": "cannot be checked without include_external_packages = true"})
        allowed = set(self.allowed_external or ())
        inside = set()
        if self.package in graph.modules:
            inside = {self.package} | graph.find_descendants(self.package)
        for importer in sorted(inside):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                top = imported.split(".")[0]
                if imported in inside or top in sys.stdlib_module_names or top in allowed:
                    continue
                lines = tuple(sorted(d["line_number"] for d in graph.get_import_details(
                    importer=importer, imported=imported)))
                if top == self.package.split(".")[0]:
                    why = f"belongs to the server, outside {self.package}"
                else:
                    why = f"is neither the standard library nor {', '.join(sorted(allowed)) or 'allowed'}"
                broken.append({"importer": importer, "imported": imported, "lines": lines, "why": why})
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        _render(check, f"{self.package} imports only itself, the standard library and "
                       f"{', '.join(self.allowed_external or ()) or 'nothing else'}:")


def _render(check: ContractCheck, heading: str) -> None:
    output.print_error(heading, bold=False)
    output.new_line()
    for item in check.metadata["broken"]:
        where = f" (l.{', '.join(map(str, item['lines']))})" if item["lines"] else ""
        arrow = f" -> {item['imported']}" if item["imported"] else ""
        output.print_error(f"- {item['importer']}{arrow}{where} {item['why']}", bold=False)
    output.new_line()


if __name__ == "__main__":
    # Prints the layers contract to paste into pyproject.toml after LAYERS changed.
    contract = layers_contract()
    print("[[tool.importlinter.contracts]]")
    print(f'name = "{contract["name"]}"')
    print(f'type = "{contract["type"]}"')
    print("layers = [")
    for layer in contract["layers"]:
        print(f'    "{layer}",')
    print("]")
