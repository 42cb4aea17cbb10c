"""Networking: endpoint strings, sockets, protocol factories, server and client services.

Public names are exported from :mod:`appcore`; the modules here are private.
"""
