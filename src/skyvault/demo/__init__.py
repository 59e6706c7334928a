"""The demo (``make demo``, ``python -m skyvault.demo``): skyvault end to end against the local lab.

It sits at the top, above the CLI: ``runner`` holds the shared context, the foundation steps and the step list;
``databases`` and ``ec2`` are the later steps. It drives the product as a user's script would (CLI state and
helpers, then engine and services), and nothing in the product imports it.
"""

from skyvault.demo.runner import STEPS, Demo, Step, main, run

__all__ = ["STEPS", "Demo", "Step", "main", "run"]
