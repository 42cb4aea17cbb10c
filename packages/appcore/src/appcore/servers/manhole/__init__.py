"""Manholes: a Python prompt inside the running application, over telnet or SSH."""
