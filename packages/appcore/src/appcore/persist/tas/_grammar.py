"""What the TAS writer and reader agree on: the header, the magic line, the runtime names."""

from __future__ import annotations

HEADER = (
    "# appcore TAS 1: an application saved as Python source, one statement per object.\n"
    "# cls() names a registered class (and the version its objects were saved at), make()\n"
    "# builds an object from its saved state, shell() declares an object used before its\n"
    "# state is complete and fill() completes it.\n"
    "# appcore reads these statements without running them; a file with any other code is\n"
    "# trusted Python (like a .tac file) and loads only with --trust-source / trusted=True.\n"
)
MAGIC = "# appcore TAS "
RUNTIME_NAMES = frozenset({"cls", "make", "shell", "fill", "application", "list", "dict", "set"})
RESERVED = RUNTIME_NAMES | {"frozenset", "float", "None", "True", "False"}
