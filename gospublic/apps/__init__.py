"""The programs: the ``gospublic`` command line and what its commands run.

``cli`` is the composition root (the command table); ``demo``, ``up``, ``report``, ``registry``
(import), ``scorecard_export`` and ``check`` are commands. Programs may import the kernel
(``gospublic`` outside this package) and the services; nothing in the kernel or in a service
imports a program (docs/DESIGN.md, "Layers"; tests/unit/test_layers.py).
"""
