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
    _share(event, _REPEATED_TEXTS)
    labels = event.__dict__.get("labels")
    if isinstance(labels, BaseModel):
        _share(labels, tuple(labels.__dict__))
    return event


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
    if shared is not fields_set:
        object.__setattr__(model, "__pydantic_fields_set__", shared)
