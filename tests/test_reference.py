"""The API reference stays complete: every public name is on a docs/reference page, every public
member and every model field has the docstring that makes mkdocstrings show it, and docstrings
use Markdown cross-references, not Sphinx roles (which render as literal text).

mkdocstrings hides members without a docstring (``show_if_no_docstring`` is off), so "has a
docstring" is what "appears in the reference" means for a member. Model fields are checked in the
source (an attribute docstring: a string literal right after the annotated field), which is
what griffe reads.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

import amili_async
import amili_async.collection
import amili_async.endpoints
import amili_async.polling
import amili_async.webhooks
from amili_async.models.base import Model

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
PUBLIC_MODULES: tuple[ModuleType, ...] = (
    amili_async,
    amili_async.collection,
    amili_async.endpoints,
    amili_async.polling,
    amili_async.webhooks,
)
SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|mod|exc|data|obj):`")


@dataclass
class Injection:
    """One ``::: identifier`` block of a reference page and the options that pick its members."""

    page: str
    identifier: str
    members: list[str] | None = None
    excluded: list[re.Pattern[str]] = field(default_factory=list)


_BLOCK = re.compile(r"^::: (?P<id>\S+)\n(?P<options>(?:[ \t]+\S.*\n)*)", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s+- (?P<item>.+)$")


def _injections() -> list[Injection]:
    """Every ``:::`` block, with its ``members:`` list and its negative ``filters:``."""
    found = []
    for page in sorted(REFERENCE.glob("*.md")):
        for match in _BLOCK.finditer(page.read_text(encoding="utf-8")):
            injection = Injection(page.name, match["id"])
            current = None
            for line in match["options"].splitlines():
                key = line.strip()
                if key in ("members:", "filters:"):
                    current = key
                    if key == "members:":
                        injection.members = []
                elif (item := _LIST_ITEM.match(line)) and current is not None:
                    value = item["item"].strip().strip("\"'")
                    if current == "members:":
                        assert injection.members is not None
                        injection.members.append(value)
                    elif value.startswith("!") and value != "!^_":
                        injection.excluded.append(re.compile(value[1:]))
                elif not key.startswith("#"):
                    current = None
            found.append(injection)
    return found


def _resolve(path: str) -> Any:
    """The object at a dotted path: the longest importable module, then attributes."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            target = getattr(target, name)
        return target
    raise ImportError(path)


INJECTIONS = _injections()


def _documented() -> tuple[set[str], list[Any]]:
    """The dotted paths shown on the reference pages, and the objects behind them."""
    paths: set[str] = set()
    for injection in INJECTIONS:
        paths.add(injection.identifier)
        target = _resolve(injection.identifier)
        if inspect.ismodule(target):
            names = injection.members
            if names is None:
                names = list(getattr(target, "__all__", []))
            paths.update(f"{injection.identifier}.{name}" for name in names)
    return paths, [_resolve(path) for path in sorted(paths)]


DOCUMENTED_PATHS, DOCUMENTED_OBJECTS = _documented()


def _public_names() -> Iterator[tuple[str, str]]:
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            yield module.__name__, name


def _is_documented(module: str, name: str) -> bool:
    if f"{module}.{name}" in DOCUMENTED_PATHS:
        return True
    obj = getattr(importlib.import_module(module), name)
    # A re-export (amili_async.collection.Settlement is amili_async.Settlement) is documented
    # where the object is; constants and aliases are matched by path only.
    identifiable = inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)
    return identifiable and any(obj is shown for shown in DOCUMENTED_OBJECTS)


@pytest.mark.parametrize(("module", "name"), sorted(set(_public_names())))
def test_every_public_name_is_on_a_reference_page(module: str, name: str) -> None:
    assert _is_documented(module, name), (
        f"{module}.{name} is public but on no docs/reference page: add `::: {module}.{name}`"
    )


def test_the_reference_is_checked_at_all() -> None:
    """The parser above found the pages: an empty parse would make every check vacuous."""
    assert len(INJECTIONS) > 100
    assert "amili_async.AmiliClient" in DOCUMENTED_PATHS
    assert "amili_async.webhooks.DEFAULT_PATH" in DOCUMENTED_PATHS
    assert not _is_documented("amili_async.sandbox.generator", "DataGenerator")


def _own_public_members(cls: type) -> Iterator[tuple[str, Any]]:
    """Methods and properties a class defines itself (fields are checked apart)."""
    fields = set(getattr(cls, "__struct_fields__", ()))
    annotations = set(vars(cls).get("__annotations__", {}))
    for name, value in vars(cls).items():
        if name.startswith("_") or name in fields or name in annotations:
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            yield name, value


def _documented_classes() -> list[tuple[Injection, type]]:
    classes = []
    for injection in INJECTIONS:
        target = _resolve(injection.identifier)
        if inspect.isclass(target) and target.__module__.startswith("amili_async"):
            classes.append((injection, target))
    return classes


@pytest.mark.parametrize(
    ("injection", "cls"),
    _documented_classes(),
    ids=lambda value: value.identifier if isinstance(value, Injection) else "",
)
def test_every_public_method_of_a_documented_class_is_shown(
    injection: Injection, cls: type
) -> None:
    for name, member in _own_public_members(cls):
        if injection.members is not None and name not in injection.members:
            continue
        excluded = any(pattern.search(name) for pattern in injection.excluded)
        if excluded:
            # Filtered out of this block: then it must have a block of its own elsewhere.
            assert f"{injection.identifier}.{name}" in DOCUMENTED_PATHS, (
                f"{injection.identifier}.{name} is filtered out on {injection.page} and shown "
                "nowhere else"
            )
        doc = member.fget.__doc__ if isinstance(member, property) else member.__doc__
        assert doc and doc.strip(), f"{cls.__qualname__}.{name} has no docstring: it is hidden"


_ATTRIBUTES_SECTION = re.compile(r"\n\s*Attributes:\n(?P<body>.*?)(?:\n\s*\n|\Z)", re.DOTALL)
_ATTRIBUTE_ENTRY = re.compile(r"^\s+(?P<name>\w+)(?: \([^)]*\))?:", re.MULTILINE)


@pytest.mark.parametrize(
    ("injection", "cls"),
    [(i, cls) for i, cls in _documented_classes() if not issubclass(cls, msgspec.Struct)],
    ids=lambda value: value.identifier if isinstance(value, Injection) else "",
)
def test_every_public_attribute_of_a_documented_class_is_described(
    injection: Injection, cls: type
) -> None:
    """Dataclasses, protocols and TypedDicts: in the class's ``Attributes:`` section or at the
    attribute (model fields are checked below)."""
    section = _ATTRIBUTES_SECTION.search(cls.__doc__ or "")
    described = set(_ATTRIBUTE_ENTRY.findall(section["body"])) if section else set()
    described.update(name for name, doc in _field_docstrings(cls).items() if doc)
    annotated = [name for name in vars(cls).get("__annotations__", {}) if not name.startswith("_")]
    missing = [name for name in annotated if name not in described]
    assert not missing, f"{injection.identifier}: attributes not described: {missing}"


def _public_structs() -> list[type[msgspec.Struct]]:
    structs = {
        obj
        for obj in DOCUMENTED_OBJECTS
        if inspect.isclass(obj)
        and issubclass(obj, msgspec.Struct)
        and obj.__module__.startswith("amili_async")
    }
    for module, name in _public_names():
        obj = getattr(importlib.import_module(module), name)
        if inspect.isclass(obj) and issubclass(obj, msgspec.Struct):
            structs.add(obj)
    return sorted(structs, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _field_docstrings(cls: type) -> dict[str, str | None]:
    """Each field the class declares itself -> its attribute docstring (``None``: none)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    declared: dict[str, str | None] = {}
    for index, statement in enumerate(node.body):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            after = node.body[index + 1] if index + 1 < len(node.body) else None
            doc = None
            if (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                doc = after.value.value
            declared[statement.target.id] = doc
    return declared


PUBLIC_STRUCTS = _public_structs()


def test_the_models_are_found() -> None:
    names = {cls.__qualname__ for cls in PUBLIC_STRUCTS}
    assert {"Case", "Settlement", "BatchResult", "NewInvoice", "SettlementCreated"} <= names
    assert len(PUBLIC_STRUCTS) >= 40


@pytest.mark.parametrize(
    "cls", PUBLIC_STRUCTS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}"
)
def test_every_model_field_is_documented_at_the_field(cls: type[msgspec.Struct]) -> None:
    docs: dict[str, str | None] = {}
    for base in reversed(cls.__mro__):
        if base.__module__.startswith("amili_async") and issubclass(base, msgspec.Struct):
            docs.update(_field_docstrings(base))
    missing = [name for name in cls.__struct_fields__ if not (docs.get(name) or "").strip()]
    assert not missing, f"{cls.__qualname__}: fields without a docstring: {missing}"


@pytest.mark.parametrize(
    "cls",
    [cls for cls in PUBLIC_STRUCTS if issubclass(cls, Model)],
    ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
)
def test_a_wire_model_field_docstring_starts_with_its_wire_name(
    cls: type[msgspec.Struct],
) -> None:
    """The reference tells the wire name of each field (``idnumber`` for ``id_number``); it
    must be the name msgspec really uses."""
    docs: dict[str, str | None] = {}
    for base in reversed(cls.__mro__):
        if base.__module__.startswith("amili_async") and issubclass(base, msgspec.Struct):
            docs.update(_field_docstrings(base))
    for info in msgspec.structs.fields(cls):
        doc = docs.get(info.name) or ""
        assert doc.startswith(f"``{info.encode_name}``"), (
            f"{cls.__qualname__}.{info.name} is {info.encode_name!r} on the wire; its docstring "
            f"says {doc[:40]!r}"
        )


def _package_sources() -> Iterator[Path]:
    package = Path(amili_async.__file__).parent
    yield from sorted(package.rglob("*.py"))


def test_docstrings_use_markdown_cross_references_not_sphinx_roles() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _package_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SPHINX_ROLE.search(line)
    ]
    assert not offenders, f"Sphinx roles render as literal text in the reference: {offenders}"
