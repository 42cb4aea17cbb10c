"""TAX (XML): hostile documents, hand edits and the element vocabulary."""

from __future__ import annotations

import pytest

from appcore import Application, DataError, EchoFactory, StreamServerService, dumps, loads

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<tax version="1"><str>&lol3;</str></tax>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE tax [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<tax version="1"><str>&secret;</str></tax>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_dtd_tricks_are_refused(data: bytes) -> None:
    with pytest.raises(DataError, match="unsafe XML"):
        loads(data, "xml")


@pytest.mark.parametrize("name", ["os:system", "builtins:eval", "subprocess:Popen"])
def test_unregistered_classes_are_never_instantiated(name: str) -> None:
    data = f'<tax version="1"><object class="{name}" id="0"/></tax>'.encode()
    with pytest.raises(DataError, match="not a registered persistable class"):
        loads(data)


def test_a_person_can_edit_a_port() -> None:
    app = Application("web")
    StreamServerService("tcp:8080", EchoFactory(), name="echo").set_service_parent(app)
    text = dumps(app, "xml").decode()
    assert "8080" in text
    edited = text.replace("8080", "9090").encode()
    loaded = loads(edited)
    endpoint = loaded.get_service_named("echo").endpoint  # type: ignore[attr-defined]
    assert "9090" in repr(endpoint.__getstate__())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<tax version='1'><int>x</int></tax>", "bad <int>"),
        (b"<tax version='1'><ref id='9'/></tax>", "names no object"),
        (b"<tax version='1'><bogus/></tax>", "unknown element"),
        (b"<other/>", "not a TAX file"),
        (b"<tax version='1'><str>unclosed</tax>", "not valid XML"),
        (b"<tax version='2'><none/></tax>", "unsupported TAX version"),
        (b"<tax version='1'><dict><int>1</int></dict></tax>", "needs a key"),
        (b"<tax version='1'><set><list/></set></tax>", "bad <set> member"),
    ],
)
def test_broken_documents_give_one_line_errors(data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        loads(data, "xml")
    assert "\n" not in str(info.value)
