"""``python -m tap2deb``."""

from tap2deb._cli import console_main

if __name__ == "__main__":
    console_main()
