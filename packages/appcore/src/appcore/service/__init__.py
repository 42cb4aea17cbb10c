"""The service tree: Service, MultiService, Application, and the timer service.

Public names are exported from :mod:`appcore`; the modules here are private.
"""
