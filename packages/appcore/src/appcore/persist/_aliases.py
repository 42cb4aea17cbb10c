"""Class paths of earlier releases, and where those classes live now.

A saved application names each object's class as ``module:QualName``. Since appcore 0.2,
every persisted class is named by its public path (``appcore:Application``,
``appcore_web:Site``): the module that defines it may move without changing what files
say. Files written before that name private modules; this table, one entry per class and
one section per release that moved classes, keeps them loading. Loaders look every class
path up here before resolving it; writers always write today's names, so converting an old
file (``tapconvert``) upgrades it.

Never remove an entry: a file written once may be loaded at any later time.
"""

from __future__ import annotations

# appcore 0.1 (first round): classes were named by their defining, private module.
_CORE_0_1 = {
    "appcore._service": ("Service", "MultiService", "Application"),
    "appcore._timer": ("PeriodicAction", "TimerService"),
    "appcore._endpoints": (
        "Endpoint", "ServerEndpoint", "ClientEndpoint", "TCPServerEndpoint",
        "SSLServerEndpoint", "UNIXServerEndpoint", "UDPServerEndpoint",
        "SystemdServerEndpoint", "TCPClientEndpoint", "SSLClientEndpoint", "UNIXClientEndpoint",
    ),
    "appcore._protocols": ("Factory", "DatagramFactory", "EchoFactory", "EchoDatagramFactory"),
    "appcore._net_server": ("StreamServerService", "DatagramServerService"),
    "appcore._net_client": ("ReconnectingClientService",),
}  # fmt: skip

# appcore 0.1: the server types were built in; since 0.2 each is its own distribution.
_PLUGINS_0_1 = {
    ("appcore.web._site", "appcore_web"): ("Site", "WebService"),
    ("appcore.web._limits", "appcore_web"): ("Limits",),
    ("appcore.web._workers", "appcore_web"): ("WorkerPool",),
    ("appcore.servers.ftp", "appcore_ftp"): ("FTPFactory", "FTPServerService"),
    ("appcore.servers.irc", "appcore_irc"): ("IRCFactory", "IRCServerService"),
    ("appcore.servers.portforward", "appcore_portforward"): ("PortForwardFactory",),
    ("appcore.servers.manhole.telnet", "appcore_manhole"): (
        "TelnetManholeFactory", "TelnetManholeService",
    ),
    ("appcore.servers.manhole.ssh", "appcore_manhole"): ("SSHManholeService",),
    ("appcore.servers.inetd", "appcore_inetd"): ("InetdService",),
    ("appcore.servers.inetd._programs", "appcore_inetd"): ("ProgramService",),
    ("appcore.servers.inetd._internal", "appcore_inetd"): (
        "DiscardFactory", "DaytimeFactory", "TimeFactory", "ChargenFactory",
        "DiscardDatagramFactory", "DaytimeDatagramFactory", "TimeDatagramFactory",
        "ChargenDatagramFactory",
    ),
}  # fmt: skip

#: release that moved them -> {old class path: class path today}
MOVED: dict[str, dict[str, str]] = {
    "0.2": {
        **{
            f"{module}:{name}": f"{package}:{name}"
            for (module, package), names in _PLUGINS_0_1.items()
            for name in names
        },
        "appcore._net_server:_ListeningService": "appcore:ListeningService",
        **{
            f"{module}:{name}": f"appcore:{name}"
            for module, names in _CORE_0_1.items()
            for name in names
        },
    },
}

_CURRENT: dict[str, str] = {old: new for table in MOVED.values() for old, new in table.items()}


def current_path(path: str) -> str:
    """Today's name of the class an application file calls ``path``."""
    return _CURRENT.get(path, path)
