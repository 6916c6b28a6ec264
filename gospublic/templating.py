"""HTML from templates with autoescaping: the one way the project writes HTML a person reads.

Every value a template prints is escaped unless it is already markup (a macro's output), so text
from the register or a platform cannot become markup. The ``clean`` filter is
:func:`gospublic.display.clean` (controls and direction overrides out, whitespace collapsed, cut to
a length), for the text itself rather than its markup. Templates are package data, in a
``templates`` folder beside the package's modules.
"""

from __future__ import annotations

import functools

import jinja2

from gospublic import display


@functools.cache
def environment(package: str) -> jinja2.Environment:
    """The templates of ``package`` (its ``templates`` folder), compiled once per process."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, not prints ""
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["clean"] = display.clean
    return env


def render(package: str, template: str, **context: object) -> str:
    return environment(package).get_template(template).render(**context)
