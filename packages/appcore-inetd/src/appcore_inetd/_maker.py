"""The inetd server type declaration: names, options and where the code lives.

Light on purpose: listing server types imports this, never the server code.
"""

from __future__ import annotations

from pathlib import Path

from appcore import Option, Options, ServiceMaker

inetd = ServiceMaker(
    tapname="inetd",
    description="An inetd replacement: programs and internal services (echo, discard, "
    "daytime, time, chargen) from an inetd.conf file.",
    options=Options(
        Option(
            "file",
            Path,
            default="/etc/inetd.conf",
            help="the inetd.conf file to read",
            short="f",
            metavar="FILE",
        ),
        Option(
            "interface",
            str,
            default="127.0.0.1",
            help="address every service listens on (0.0.0.0 for all)",
            short="i",
            metavar="ADDRESS",
        ),
    ),
    module="appcore_inetd._service",
    persistable_modules=("appcore_inetd",),
)
