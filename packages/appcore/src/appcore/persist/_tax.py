"""TAX: an object tree as XML that a person can read, edit and load again.

Every value is one element named after its type; a dict entry or an object attribute carries
its name in a ``key`` attribute::

    <object class="appcore:StreamServerService" id="3">
      <str key="name">echo</str>
      <object key="endpoint" class="appcore:TCPServerEndpoint" id="4">
        <int key="port">8080</int>
      </object>
      <ref key="parent" id="0"/>
    </object>

An instance, or a list, dict or set reached twice, carries an ``id`` where it first appears;
later mentions are ``<ref id="N"/>``. Floats spell ``inf``, ``-inf`` and ``nan``; bytes, and
strings XML cannot hold, are base64.

Loading is safe for hostile files: the parser is defusedxml with DTDs, entities and external
references forbidden, and only registered persistable classes are ever instantiated (see
:func:`appcore._graph.resolve_class`). Nothing in a TAX file runs as code.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appcore._errors import AppcoreError, DataError
from appcore.persist._census import Census
from appcore.persist._graph import (
    enum_member,
    float_text,
    int_text,
    new_instance,
    resolve_class,
    resolve_enum,
    set_state,
)
from appcore.persist._persistent import class_path

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

PROLOG = '<?xml version="1.0" encoding="utf-8"?>\n'
COMMENT = (
    "<!-- appcore TAX 1: an application saved as XML. Edit values in place (a port, a path)\n"
    "     and load it again. Every element is a value named after its type; key= names a\n"
    "     dict entry or attribute, id= marks an object referred to elsewhere by <ref id=>. -->\n"
)
ROOT_TAG = "tax"
FORMAT_VERSION = "1"

# Characters XML 1.0 cannot carry in a document, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    # \r is escaped so that the parser's line-end normalisation keeps it.
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


class _Writer:
    def __init__(self, root: object) -> None:
        self.census = Census(root)
        self.ids: dict[int, int] = {}
        self.out: list[str] = [PROLOG, COMMENT, f'<{ROOT_TAG} version="{FORMAT_VERSION}">\n']
        self.value(root, "  ", "")
        self.out.append(f"</{ROOT_TAG}>\n")

    def value(self, value: Any, pad: str, key: str) -> None:
        out = self.out
        kind = type(value)
        if kind is str:
            if _NOT_XML.search(value) is None:
                out.append(f"{pad}<str{key}>{_text(value)}</str>\n")
            else:
                raw = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode()
                out.append(f'{pad}<str{key} encoding="base64">{raw}</str>\n')
        elif kind is int:
            out.append(f"{pad}<int{key}>{int_text(value)}</int>\n")
        elif value is None:
            out.append(f"{pad}<none{key}/>\n")
        elif kind is bool:
            out.append(f"{pad}<{'true' if value else 'false'}{key}/>\n")
        elif kind is float:
            text = float_text(value) or ("nan" if value != value else str(value))
            out.append(f"{pad}<float{key}>{text}</float>\n")
        elif kind is bytes:
            out.append(f"{pad}<bytes{key}>{base64.b64encode(value).decode()}</bytes>\n")
        elif kind is tuple or kind is frozenset:
            self.sequence(kind.__name__, value, pad, key, "")
        else:
            self.node(value, pad, key)

    def sequence(self, tag: str, items: Any, pad: str, key: str, ident: str) -> None:
        if not items:
            self.out.append(f"{pad}<{tag}{key}{ident}/>\n")
            return
        self.out.append(f"{pad}<{tag}{key}{ident}>\n")
        inner = pad + "  "
        if tag in ("set", "frozenset"):
            items = _sorted_members(items)
        for item in items:
            self.value(item, inner, "")
        self.out.append(f"{pad}</{tag}>\n")

    def entries(self, mapping: dict[Any, Any], pad: str) -> None:
        for k, v in mapping.items():
            if type(k) is str and _NOT_XML.search(k) is None:
                self.value(v, pad, f' key="{_attr(k)}"')
            else:
                self.out.append(f"{pad}<item>\n")
                self.value(k, pad + "  ", "")
                self.value(v, pad + "  ", "")
                self.out.append(f"{pad}</item>\n")

    def node(self, value: Any, pad: str, key: str) -> None:
        import enum

        out = self.out
        if isinstance(value, enum.Enum):
            cls = _attr(class_path(type(value)))
            out.append(f'{pad}<enum{key} class="{cls}">{_text(value.name)}</enum>\n')
            return
        known = self.ids.get(id(value))
        if known is not None:
            out.append(f'{pad}<ref{key} id="{known}"/>\n')
            return
        kind = type(value)
        if kind is list or kind is set or kind is dict:
            ident = ""
            if self.census.shared(value):
                number = self.ids[id(value)] = len(self.ids)
                ident = f' id="{number}"'
            if kind is dict:
                if not value:
                    out.append(f"{pad}<dict{key}{ident}/>\n")
                    return
                out.append(f"{pad}<dict{key}{ident}>\n")
                self.entries(value, pad + "  ")
                out.append(f"{pad}</dict>\n")
            else:
                self.sequence(kind.__name__, value, pad, key, ident)
            return
        number = self.ids[id(value)] = len(self.ids)
        head = f'{pad}<object{key} class="{_attr(class_path(kind))}" id="{number}"'
        state = self.census.states[id(value)]
        if type(state) is dict and all(type(k) is str for k in state):
            if not state:
                out.append(f"{head}/>\n")
                return
            out.append(f"{head}>\n")
            self.entries(state, pad + "  ")
        else:
            out.append(f"{head}>\n")
            self.value(state, pad + "  ", "")
        out.append(f"{pad}</object>\n")


def _sorted_members(items: Any) -> list[Any]:
    """Set members in a stable order (by type name, then value), so output is deterministic."""
    try:
        return sorted(items, key=lambda x: (type(x).__name__, x))
    except TypeError:
        return sorted(items, key=lambda x: (type(x).__name__, repr(x)))


def dumps(root: object) -> bytes:
    """The TAX (XML, UTF-8) of a tree."""
    try:
        return "".join(_Writer(root).out).encode("utf-8")
    except RecursionError:
        raise DataError("the object tree is nested too deeply to save") from None


class _Reader:
    def __init__(self) -> None:
        self.ids: dict[str, Any] = {}
        self.decoders: dict[str, Callable[[Element], Any]] = {
            "str": self.string,
            "int": self.integer,
            "ref": self.ref,
            "none": lambda e: None,
            "true": lambda e: True,
            "false": lambda e: False,
            "float": self.real,
            "bytes": self.bytestring,
            "list": self.list,
            "tuple": lambda e: tuple(self.items(e)),
            "set": self.set,
            "frozenset": lambda e: frozenset(self.items(e)),
            "dict": self.dict,
            "object": self.object,
            "enum": self.enum,
        }

    def value(self, elem: Element) -> Any:
        decoder = self.decoders.get(elem.tag)
        if decoder is None:
            raise DataError(f"unknown element <{elem.tag}> in the TAX file")
        return decoder(elem)

    def items(self, elem: Element) -> list[Any]:
        return [self.value(child) for child in elem]

    def register(self, elem: Element, value: Any) -> None:
        ident = elem.get("id")
        if ident is not None:
            if ident in self.ids:
                raise DataError(f"id {ident} is defined twice in the TAX file")
            self.ids[ident] = value

    def string(self, elem: Element) -> str:
        text = elem.text or ""
        if elem.get("encoding") == "base64":
            try:
                return base64.b64decode(text, validate=True).decode("utf-8", "surrogatepass")
            except (binascii.Error, UnicodeDecodeError):
                raise DataError("bad base64 string in the TAX file") from None
        return text

    def integer(self, elem: Element) -> int:
        try:
            return int(elem.text or "")
        except ValueError:
            raise DataError(f"bad <int> value {elem.text!r} in the TAX file") from None

    def real(self, elem: Element) -> float:
        try:
            return float(elem.text or "")
        except ValueError:
            raise DataError(f"bad <float> value {elem.text!r} in the TAX file") from None

    def bytestring(self, elem: Element) -> bytes:
        try:
            return base64.b64decode("".join((elem.text or "").split()), validate=True)
        except binascii.Error:
            raise DataError("bad base64 in a <bytes> element of the TAX file") from None

    def ref(self, elem: Element) -> Any:
        ident = elem.get("id")
        try:
            return self.ids[ident]  # type: ignore[index]
        except KeyError:
            raise DataError(f"<ref id={ident!r}> names no object defined before it") from None

    def list(self, elem: Element) -> list[Any]:
        result: list[Any] = []
        self.register(elem, result)
        result.extend(self.value(child) for child in elem)
        return result

    def set(self, elem: Element) -> set[Any]:
        result: set[Any] = set()
        self.register(elem, result)
        try:
            result.update(self.value(child) for child in elem)
        except TypeError as err:
            raise DataError(f"bad <set> member in the TAX file: {err}") from None
        return result

    def entries(self, elem: Element, result: dict[Any, Any]) -> None:
        for child in elem:
            key = child.get("key")
            if key is not None:
                result[key] = self.value(child)
            elif child.tag == "item" and len(child) == 2:
                try:
                    result[self.value(child[0])] = self.value(child[1])
                except TypeError as err:
                    raise DataError(f"bad dict key in the TAX file: {err}") from None
            else:
                raise DataError(f"a <{child.tag}> inside a dict or object needs a key= attribute")

    def dict(self, elem: Element) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        self.register(elem, result)
        self.entries(elem, result)
        return result

    def object(self, elem: Element) -> Any:
        cls = resolve_class(elem.get("class") or "")
        obj = new_instance(cls)
        self.register(elem, obj)
        state: Any
        if len(elem) == 1 and elem[0].get("key") is None and elem[0].tag != "item":
            state = self.value(elem[0])
        else:
            state = {}
            self.entries(elem, state)
        set_state(obj, state)
        return obj

    def enum(self, elem: Element) -> Any:
        return enum_member(resolve_enum(elem.get("class") or ""), (elem.text or "").strip())


def loads(data: bytes) -> object:
    """Rebuild a tree from TAX bytes; hostile or broken XML is a :class:`DataError`."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise DataError(f"refusing unsafe XML: {type(err).__name__}") from None
    except Exception as err:  # ParseError, ValueError from expat
        raise DataError(f"not valid XML: {err}") from None
    if root.tag != ROOT_TAG:
        raise DataError(f"not a TAX file: the root element is <{root.tag}>, not <{ROOT_TAG}>")
    if root.get("version") != FORMAT_VERSION:
        raise DataError(f"unsupported TAX version {root.get('version')!r}")
    if len(root) != 1:
        raise DataError("a TAX file holds exactly one value inside <tax>")
    try:
        return _Reader().value(root[0])
    except AppcoreError:
        raise
    except RecursionError:
        raise DataError("the TAX file is nested too deeply") from None
    except Exception as err:
        raise DataError(f"bad TAX content: {type(err).__name__}: {err}") from None
