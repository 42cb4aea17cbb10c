"""Server-type plugins: :class:`ServiceMaker` and their discovery.

A server type is a :class:`ServiceMaker` declared in a *light* module: the declaration names
the type (``tapname``), describes it in one line, lists its :class:`~appcore.Options`, and
names the module holding the real server code. That module is imported only when a service
is made, so listing server types (``mktap --help``) never pays for, nor breaks on, their
server code.

Where server types come from, in this order (on a duplicate ``tapname`` the first wins and
the later one is reported):

1. **Installed distributions** registering an entry point in the group
   ``appcore.service_makers``; its name should be the tapname and its value a ServiceMaker::

       [project.entry-points."appcore.service_makers"]
       web = "mypkg.plugin:web"

   appcore's own built-in types come first, then other distributions sorted by name.

2. **Dropped-in plugin modules**: any ``appcore_plugins/`` folder on the Python path (a
   namespace package: the folder has *no* ``__init__.py``, so one such folder in each
   ``sys.path`` entry combines into one package). Every module (``.py`` file or sub-package)
   in it is imported and each module-level :class:`ServiceMaker` instance it defines
   contributes a server type. Modules whose name starts with ``_`` are skipped, so a plugin
   folder may hold private helpers. Folders are searched in ``sys.path`` order, modules
   alphabetically.

A plugin that raises on import, or whose entry point is not a ServiceMaker, is reported as a
:class:`PluginError` and hides nothing else.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from appcore._errors import AppcoreError, InternalError, UnavailableError
from appcore.plugins._options import Options

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from appcore.service._tree import Service

GROUP = "appcore.service_makers"
PLUGIN_PACKAGE = "appcore_plugins"


@dataclass(frozen=True)
class ServiceMaker:
    """A server type: its name, one-line description, options, and where its code lives.

    ``module`` is the dotted name of the module holding the server code; it must define
    ``make_service(options: dict) -> appcore.Service`` and is imported only by
    :meth:`make_service`. ``persistable_modules`` names the modules (prefixes) whose classes
    an application file of this type may hold; it defaults to ``(module,)``.
    """

    tapname: str
    description: str
    options: Options = field(default_factory=Options)
    module: str = ""
    persistable_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tapname or any(c.isspace() for c in self.tapname):
            raise ValueError(f"tapname must be one word: {self.tapname!r}")
        if not self.module:
            raise ValueError(f"server type {self.tapname!r}: module is required")
        if "\n" in self.description:
            raise ValueError(f"server type {self.tapname!r}: description must be one line")
        if not self.persistable_modules:
            object.__setattr__(self, "persistable_modules", (self.module,))
        else:
            object.__setattr__(self, "persistable_modules", tuple(self.persistable_modules))

    def make_service(self, options: Mapping[str, Any]) -> Service:
        """Validate ``options`` (defaults filled in), import the server module, make a service.

        Raises :class:`UsageError` for bad options and :class:`UnavailableError` when the
        server module cannot be imported.
        """
        from appcore.service._tree import IService

        values = self.options.validate(options)
        try:
            module = importlib.import_module(self.module)
        except Exception as err:
            raise UnavailableError(
                f"server type {self.tapname!r}: cannot import {self.module}: "
                f"{type(err).__name__}: {err}"
            ) from err
        make = getattr(module, "make_service", None)
        if not callable(make):
            raise UnavailableError(
                f"server type {self.tapname!r}: {self.module} defines no make_service()"
            )
        service = make(values)
        if not isinstance(service, IService):
            raise InternalError(
                f"server type {self.tapname!r}: make_service() returned "
                f"{type(service).__name__}, not a Service"
            )
        return service  # type: ignore[return-value]


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not be used: its name, where it came from, and why."""

    name: str
    source: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.source}): {self.message}"


@dataclass(frozen=True)
class Discovery:
    """The outcome of plugin discovery: usable server types and the problems found."""

    makers: dict[str, ServiceMaker]
    errors: list[PluginError]
    sources: dict[str, str] = field(default_factory=dict)


_cache: Discovery | None = None

# The project's server types: tapname -> (distribution to install, its ServiceMaker). echo is
# built in; the others are plugin distributions (a test keeps this in step with their entry
# points). A known type is looked up without an entry-point scan, which keeps `twistd web`
# quick to start, and a known type that is not installed is named with what to install.
KNOWN_MAKERS: dict[str, tuple[str, str]] = {
    "echo": ("appcore", "appcore.plugins._echo:echo"),
    "web": ("appcore-web", "appcore_web._maker:web"),
    "ftp": ("appcore-ftp", "appcore_ftp._maker:ftp"),
    "irc": ("appcore-irc", "appcore_irc._maker:irc"),
    "portforward": ("appcore-portforward", "appcore_portforward._maker:portforward"),
    "telnet": ("appcore-manhole", "appcore_manhole._maker:telnet"),
    "ssh-manhole": ("appcore-manhole[ssh]", "appcore_manhole._maker:ssh_manhole"),
    "inetd": ("appcore-inetd", "appcore_inetd._maker:inetd"),
}


def known_distribution(module: str) -> str | None:
    """The distribution of the project's that provides ``module``, if it is one of them."""
    top = module.partition(".")[0]
    for distribution, maker in KNOWN_MAKERS.values():
        if maker.partition(".")[0].partition(":")[0] == top and top != "appcore":
            return distribution.partition("[")[0]
    return None


def missing_server_types() -> dict[str, str]:
    """Known server types not installed here: tapname -> the ``pip install`` that adds it."""
    found = discover_service_makers()
    return {
        name: install_hint(distribution)
        for name, (distribution, _) in KNOWN_MAKERS.items()
        if name not in found.makers and not any(e.name == name for e in found.errors)
    }


def install_hint(distribution: str) -> str:
    return f"pip install '{distribution}'" if "[" in distribution else f"pip install {distribution}"


def _load_known(name: str) -> ServiceMaker | None:
    """The known server type ``name`` when its distribution is installed; else None."""
    module, _, attr = KNOWN_MAKERS[name][1].partition(":")
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and module.startswith(err.name):
            return None  # the distribution is not installed
        raise UnavailableError(f"server type {name!r} is broken: {_describe(err)}") from None
    except Exception as err:
        raise UnavailableError(f"server type {name!r} is broken: {_describe(err)}") from None
    maker: ServiceMaker = getattr(imported, attr)
    return maker


def discover_service_makers(*, refresh: bool = False) -> Discovery:
    """Find every server type (entry points, then dropped-in modules); cached per process."""
    global _cache
    if _cache is None or refresh:
        _cache = _discover()
    return _cache


def get_service_maker(name: str) -> ServiceMaker:
    """The server type named ``name``.

    Raises :class:`UnavailableError` naming the closest known names for an unknown type, or
    carrying the plugin's own error when that plugin is broken.
    """
    if _cache is None and name in KNOWN_MAKERS:
        known = _load_known(name)
        if known is not None:
            return known
    found = discover_service_makers()
    maker = found.makers.get(name)
    if maker is not None:
        return maker
    for error in found.errors:
        if error.name == name:
            raise UnavailableError(f"server type {name!r} is broken: {error.message}")
    if name in KNOWN_MAKERS:
        distribution = KNOWN_MAKERS[name][0]
        raise UnavailableError(
            f"server type {name!r} is in the {distribution.partition('[')[0]} distribution, "
            f"which is not installed: {install_hint(distribution)}"
        )
    close = difflib.get_close_matches(name, list(found.makers), n=3, cutoff=0.5)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    elif found.makers:
        hint = "available: " + ", ".join(sorted(found.makers))
    else:
        hint = "no server types are installed"
    raise UnavailableError(f"unknown server type {name!r}; {hint}")


def allowed_persistable_modules() -> frozenset[str]:
    """Module prefixes whose classes an application file may hold: appcore and every plugin's."""
    found = discover_service_makers()
    modules = {"appcore"}
    for maker in found.makers.values():
        modules.update(maker.persistable_modules)
    return frozenset(modules)


def _discover() -> Discovery:
    makers: dict[str, ServiceMaker] = {}
    sources: dict[str, str] = {}
    errors: list[PluginError] = []

    def add(maker: ServiceMaker, source: str) -> None:
        if maker.tapname in makers:
            if makers[maker.tapname] is not maker:
                errors.append(
                    PluginError(
                        maker.tapname,
                        source,
                        f"duplicate server type, already provided by {sources[maker.tapname]}",
                    )
                )
            return
        makers[maker.tapname] = maker
        sources[maker.tapname] = source

    for entry_point in _entry_points():
        source = _entry_point_source(entry_point)
        try:
            loaded = entry_point.load()
        except (Exception, SystemExit) as err:
            errors.append(PluginError(entry_point.name, source, _describe(err)))
            continue
        if not isinstance(loaded, ServiceMaker):
            message = f"{entry_point.value} is a {type(loaded).__name__}, not a ServiceMaker"
            errors.append(PluginError(entry_point.name, source, message))
            continue
        add(loaded, source)

    for _name, source, module_or_error in _plugin_modules():
        if isinstance(module_or_error, PluginError):
            errors.append(module_or_error)
            continue
        for value in list(vars(module_or_error).values()):
            if isinstance(value, ServiceMaker):
                add(value, source)
    return Discovery(makers, errors, sources)


def _entry_points() -> list[EntryPoint]:
    from importlib.metadata import entry_points

    found = list(entry_points(group=GROUP))

    def order(ep: EntryPoint) -> tuple[bool, str, str]:
        dist = ep.dist.name if ep.dist is not None else ""
        return (dist != "appcore", dist.lower(), ep.name)

    return sorted(found, key=order)


def _entry_point_source(entry_point: EntryPoint) -> str:
    dist = entry_point.dist
    where = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"{where}: {entry_point.name} = {entry_point.value}"


def _plugin_modules() -> list[tuple[str, str, ModuleType | PluginError]]:
    """Import every public module of the ``appcore_plugins`` namespace package."""
    import pkgutil

    try:
        package = importlib.import_module(PLUGIN_PACKAGE)
    except ModuleNotFoundError:
        return []
    except Exception as err:  # a stray appcore_plugins/__init__.py that raises
        return [(PLUGIN_PACKAGE, PLUGIN_PACKAGE, PluginError(PLUGIN_PACKAGE, "", _describe(err)))]
    results: list[tuple[str, str, ModuleType | PluginError]] = []
    seen: set[str] = set()
    for folder in list(getattr(package, "__path__", [])):
        for info in sorted(pkgutil.iter_modules([folder]), key=lambda m: m.name):
            # A module name in an earlier folder shadows the same name in a later one.
            if info.name.startswith("_") or info.name in seen:
                continue
            seen.add(info.name)
            qualified = f"{PLUGIN_PACKAGE}.{info.name}"
            source = f"{folder}/{info.name}{'' if info.ispkg else '.py'}"
            try:
                results.append((info.name, source, importlib.import_module(qualified)))
            except (Exception, SystemExit) as err:
                sys.modules.pop(qualified, None)
                results.append((info.name, source, PluginError(info.name, source, _describe(err))))
    return results


def _describe(err: BaseException) -> str:
    if isinstance(err, AppcoreError):
        return err.message
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
