"""Make a held event small without changing any of its values.

The notifier holds hundreds of thousands of decoded events at once: every firing alert, every
organisation's latest scores and two weeks of resolutions. Decoding gives each event its own copies
of label values that repeat massively (municipality, founder, sphere, rule, the rule's basis...),
and pydantic gives every model instance its own ``__pydantic_fields_set__``: a set of 700-odd bytes,
two per alert (the event and its labels), more than all of the alert's label strings together.

:func:`compact` shares both, in place:

- the label values and the texts that repeat per rule are interned (``sys.intern``), so equal
  strings are one object however many alerts carry them;
- the fields set is replaced by one shared set per combination of field names. Only frozen models
  are touched: pydantic refuses assignment to them, the only path that adds to the set, and
  ``model_copy`` copies the set before it updates it, so the sharing is never visible.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

# Texts an alert shares with the other alerts of its rule; ids and measured values are not here,
# as they rarely repeat and interning a unique string only costs an entry in the intern table.
_REPEATED_TEXTS = ("schema_", "summary", "basis", "threshold")
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def compact(event: Model) -> Model:
    """Intern ``event``'s repeated texts and label values and share its fields sets; returns it."""
    if id(event.__pydantic_fields_set__) in _SHARED_IDS:
        return event  # compacted already, or built compact (``built``)
    _share(event, _REPEATED_TEXTS)
    labels = event.__dict__.get("labels")
    if isinstance(labels, BaseModel):
        _share(labels, tuple(labels.__dict__))
    return event


def built(cls: type[Model], values: dict) -> Model:
    """A frozen model of ``values`` that name every field with valid values, their texts interned
    as ``compact`` would: built unvalidated (as ``contracts.built``) with the shared fields set,
    so ``compact`` passes it by. The caller vouches for the values (``fastdecode`` does)."""
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", _shared_set(cls, values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


_set = object.__setattr__
_CLASS_SETS: dict[type, set[str]] = {}
# The ids of the shared sets: a model holding one of them is compact already.
_SHARED_IDS: set[int] = set()


def _shared_set(cls: type, values: dict) -> set[str]:
    shared = _CLASS_SETS.get(cls)
    if shared is None:
        if values.keys() != cls.model_fields.keys():
            raise TypeError(f"{cls.__name__} needs exactly {sorted(cls.model_fields)}")
        names = set(values)
        shared = _CLASS_SETS[cls] = _FIELDS_SETS.setdefault(frozenset(names), names)
        _SHARED_IDS.add(id(shared))
    return shared


def _share(model: BaseModel, names: tuple[str, ...]) -> None:
    if not model.model_config.get("frozen"):
        return
    values = model.__dict__
    for name in names:
        value = values.get(name)
        if type(value) is str:
            values[name] = sys.intern(value)
    fields_set = model.__pydantic_fields_set__
    shared = _FIELDS_SETS.setdefault(frozenset(fields_set), fields_set)
    _SHARED_IDS.add(id(shared))
    if shared is not fields_set:
        object.__setattr__(model, "__pydantic_fields_set__", shared)
