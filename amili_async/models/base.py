"""The base Structs every model derives from: the msgspec configuration, declared once.

Every model is frozen (server data is not edited in place), ``gc=False`` (models never form
reference cycles, and keeping millions of them out of the cyclic garbage collector is what keeps
decoding a large batch fast while the application holds the previous one) and keyword-only. The
bases differ only in how attribute names map to wire names:

* [`Model`][amili_async.models.base.Model]: names given field by field (``msgspec.field(name=...)``);
* [`LegacyModel`][amili_async.models.base.LegacyModel]: the legacy API's lowercase names, the
  snake_case attribute without underscores (``id_number`` -> ``idnumber``);
* [`CamelModel`][amili_async.models.base.CamelModel]: camelCase (``payment_amount`` ->
  ``paymentAmount``), as the settlement and Collection API shapes use.

msgspec passes these options on to subclasses, so a new model is a subclass and its fields.
"""

from __future__ import annotations

from typing import Any, dataclass_transform

import msgspec

__all__ = ["CamelModel", "LegacyModel", "Model", "legacy_name"]


def legacy_name(attribute: str) -> str:
    """The legacy API's wire name: the snake_case attribute without underscores (``id_number`` ->
    ``idnumber``)."""
    return attribute.replace("_", "")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(msgspec.field,))
class _ModelMeta(msgspec.StructMeta):
    """msgspec inherits ``frozen``, ``gc`` and ``rename`` but not ``kw_only`` (it is about the
    class's own fields): make it the default of every model class too."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        **options: Any,
    ) -> _ModelMeta:
        options.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, namespace, **options)


class Model(msgspec.Struct, metaclass=_ModelMeta, frozen=True, gc=False):
    """Base of every model: frozen, out of the cyclic GC, keyword-only."""


class LegacyModel(Model, rename=legacy_name):
    """A model of the legacy API's lowercase wire names."""


class CamelModel(Model, rename="camel"):
    """A model of camelCase wire names."""
