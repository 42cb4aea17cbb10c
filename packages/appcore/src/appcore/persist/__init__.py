"""Persistence: the persistable contract, the object graph and the TAP, TAX, TAS formats.

``_persistent`` (what may be saved) and ``_graph`` (how a tree is walked and rebuilt) are the
base every format stands on; ``_census`` is what a text writer learns of a tree first
(sharing, cycles, and how far shared tuples would expand); ``_tap``, ``_tax`` and ``tas/``
are the three formats; ``_crypto`` encrypts any of them; ``_files`` reads and writes
application files, ``_input`` bounds what is read and ``_ceiling`` what the C unpickler may
allocate; ``_aliases`` maps class paths of older releases to today's. Public names are
exported from :mod:`appcore`.
"""
