"""Experiment plumbing, one module per chapter, above the concept modules it calls.

The concept modules of ``equinotes`` (``models``, ``registration``, ``dnfa``, ...) hold the ideas a
chapter teaches. The modules here hold what a chapter needs to *run its experiments*: seed streams,
replication loops, caches and result tables, each documented and tested, so that a notebook cell runs an
experiment in one line and the page keeps the lesson in front. Import a chapter's module by name, e.g.
``from equinotes.experiments import basics``.
"""
