"""``gospublic check``: every rule's verdict for one page, from saved platform answers, offline.

``command`` is the command (its arguments and ``run``); ``inputs`` reads and judges the saved
files; ``vk_answers`` and ``other_answers`` turn them into the events a collector would publish;
``verdicts`` runs the evaluator's batch step on them and writes the table.
"""

from services.evaluator import rules as r

from .command import add_arguments, choose_profile, read_inputs, run
from .inputs import CHECK_ORG_ID, ApiError, InputError, Inputs, unwrap
from .other_answers import max_inputs, ok_inputs, tg_inputs
from .verdicts import MEASURED, WRAP, _value, table_en, table_ru, verdicts
from .vk_answers import build_events, vk_inputs

__all__ = [
    "CHECK_ORG_ID",
    "MEASURED",
    "WRAP",
    "ApiError",
    "InputError",
    "Inputs",
    "_value",
    "add_arguments",
    "build_events",
    "choose_profile",
    "max_inputs",
    "ok_inputs",
    "r",
    "read_inputs",
    "run",
    "table_en",
    "table_ru",
    "tg_inputs",
    "unwrap",
    "verdicts",
    "vk_inputs",
]
