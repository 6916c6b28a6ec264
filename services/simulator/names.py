"""Names for a synthetic region: presets, municipalities and the institutions in them.

Realistic Russian names (``МБОУ СОШ № 3 г. Борисоглебска``, ``МКОУ Никольская СОШ Аннинского
муниципального района``) with their founders, built from a municipality's name and a seeded
random stream. Only the simulator uses them.

The presets and municipalities live in :mod:`services.simulator.municipalities`, the bodies and
institutions in :mod:`services.simulator.institutions`; this module keeps every name importable.
"""

from __future__ import annotations

from services.simulator.institutions import (
    FILL_DISTRICT,
    FILL_URBAN,
    REGIONAL_BODIES,
    REGIONAL_INSTITUTIONS,
    MunicipalBodies,
    Namer,
    agree_gender,
)
from services.simulator.municipalities import (
    DATA_DIR,
    PRESETS,
    Municipality,
    Preset,
    load_municipalities,
    slugify,
)

__all__ = [
    "DATA_DIR",
    "FILL_DISTRICT",
    "FILL_URBAN",
    "PRESETS",
    "REGIONAL_BODIES",
    "REGIONAL_INSTITUTIONS",
    "MunicipalBodies",
    "Municipality",
    "Namer",
    "Preset",
    "agree_gender",
    "load_municipalities",
    "slugify",
]
