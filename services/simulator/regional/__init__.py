"""The synthetic region, split by responsibility; ``services.simulator.region`` is its front door.

``rules`` holds the rule thresholds the ground truth follows, ``planting`` the deterministic draws
and the rates defects are planted at, ``model`` the records, ``state`` the :class:`Region` itself
(clock and lookups) composed of the ``profile``, ``wall``, ``comments``, ``scorecard`` and
``truth`` parts, and ``generate`` builds a region from a preset and a seed.
"""
