"""Server-type plugins: ServiceMaker, options declared once, discovery, the echo example.

Public names are exported from :mod:`appcore`; the modules here are private.
"""
