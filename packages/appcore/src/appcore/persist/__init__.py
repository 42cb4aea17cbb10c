"""Persistence: the persistable contract, the object graph and the TAP, TAX, TAS formats.

``_persistent`` (what may be saved) and ``_graph`` (how a tree is walked and rebuilt) are the
base every format stands on; ``_tap``, ``_tax`` and ``tas/`` are the three formats;
``_crypto`` encrypts any of them; ``_files`` reads and writes application files; ``_aliases``
maps class paths of older releases to today's. Public names are exported from :mod:`appcore`.
"""
