"""``python -m tap2rpm``."""

from tap2rpm._cli import console_main

if __name__ == "__main__":
    console_main()
