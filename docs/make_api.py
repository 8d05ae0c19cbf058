"""Write ``docs/api.md``: the public API, from the code's own signatures and docstrings.

    python docs/make_api.py           # rewrite docs/api.md
    python docs/make_api.py --check   # exit 1 if docs/api.md is not what the code says now

Only what users are meant to hold is listed: every name ``import goesvfi_lab as gl`` exports, plus a few
modules the notebooks and README use directly. Each entry shows the signature and the docstring as the
code has it; public methods and properties of classes get their signature and first paragraph.
Nothing is written by hand here, so the page cannot drift from the code without ``--check`` noticing.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().with_name("api.md")

# (section title, module path, names); module None = the top-level package `gl`
SECTIONS: list[tuple[str, str | None, list[str]]] = [
    ("Batch queue", None, ["BatchQueue", "BatchJob", "JobPriority", "JobStatus", "Stats"]),
    ("Queue events", "goesvfi_lab.events", ["EVENTS"]),
    (
        "Finding files",
        None,
        ["FileFilter", "parse_goes_name", "GoesName", "group_sequences", "Sequence", "find_duplicates"],
    ),
    ("Interpolation", None, ["interpolate", "interpolate_sequence", "available_methods"]),
    ("Interpolation", "goesvfi_lab.interp", ["interpolate_times"]),
    ("Frames in and out", None, ["read_frame", "write_png", "write_video", "write_cube"]),
    ("Frames in and out", "goesvfi_lab.frames", ["read_netcdf", "render", "read_video", "count_video_frames"]),
    ("Frames in and out", "goesvfi_lab.frames", ["ReadOptions", "read_field"]),
    ("Notebook", None, ["lab", "panel"]),
    ("Geolocation", None, ["lonlat"]),
    ("NOAA archive", "goesvfi_lab.archive", ["find", "fetch"]),
    ("Sample data", "goesvfi_lab.sample", ["write_sample", "Scene"]),
    (
        "Dashboard page",
        "goesvfi_lab.engine.dashboard",
        ["attach_dashboard", "publish_snapshot", "queue_snapshot", "DashboardPublisher", "page_url"],
    ),
    ("Errors", None, ["FrameError", "PairError"]),
]


def clean(text: str) -> str:
    """Reprs that differ between runs or read badly: ``<JobPriority.NORMAL: 2>`` -> ``JobPriority.NORMAL``."""
    text = re.sub(r"<(\w+\.\w+): [^>]+>", r"\1", text)
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    return text


def own_doc(obj: object) -> str:
    """The object's own docstring (not one inherited from ``str`` or ``object``)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


class _Plain(str):
    """An annotation shown as written (inspect quotes plain strings)."""

    def __repr__(self) -> str:
        return str(self)


def _plain(annotation: object) -> object:
    if annotation is inspect.Parameter.empty:
        return annotation
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = re.sub(r"""(['"])(\w+)\1""", r"\2", text)  # forward references: "'BatchQueue'" -> BatchQueue
    text = re.sub(r"\b(?:goesvfi_lab|typing|collections\.abc|datetime|os)\.(?:\w+\.)*(?=[A-Z]\w*)", "", text)
    return _Plain(text)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def signature(name: str, obj: object, width: int = 100) -> str:
    """``name(params) -> ret``; one parameter per line when it would be wider than ``width``."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    sig = sig.replace(
        parameters=[p.replace(annotation=_plain(p.annotation)) for p in sig.parameters.values()],
        return_annotation=_plain(sig.return_annotation),
    )
    text = clean(f"{name}{sig}")
    if len(text) <= width:
        return text
    inner_start = len(name) + 1
    close = text.rfind(")", 0, len(text) - len(text.split(")")[-1]) + 1)
    params = _split_top_level(text[inner_start:close])
    if not params:
        return text
    return f"{name}(\n" + "".join(f"    {p},\n" for p in params) + text[close:]


def first_paragraph(doc: str) -> str:
    return doc.split("\n\n", 1)[0].replace("\n", " ") if doc else ""


def members(cls: type) -> list[str]:
    """Public methods and properties defined by the class itself (not dataclass fields or enum members)."""
    lines = []
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    for name, value in vars(cls).items():
        if name.startswith("_") or name in fields:
            continue
        if isinstance(value, property):
            lines.append(f"- `.{name}` — {first_paragraph(own_doc(value.fget)) or 'property'}")
        elif isinstance(value, (staticmethod, classmethod)) or inspect.isfunction(value):
            func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            sig = signature(name, func, width=10**6).replace("(self, ", "(").replace("(self)", "()")
            sig = sig.replace("(cls, ", "(")
            lines.append(f"- `.{sig}` — {first_paragraph(own_doc(func))}".rstrip(" —"))
    return lines


def entry(qualname: str, obj: object) -> list[str]:
    out = [f"### `{qualname}`", ""]
    if inspect.isclass(obj) and issubclass(obj, enum.Enum):
        out += [f"`{qualname}`: " + ", ".join(f"`{m.name}`" for m in obj), ""]
    elif callable(obj):
        out += ["```python", signature(qualname, obj), "```", ""]
    else:
        out += ["```python", clean(f"{qualname} = {obj!r}"), "```", ""]
    doc = own_doc(obj) if (inspect.isclass(obj) or callable(obj)) else ""
    if doc:
        out += [doc, ""]
    if inspect.isclass(obj) and not issubclass(obj, (enum.Enum, BaseException)):
        listed = members(obj)
        if listed:
            out += listed + [""]
    return out


def render() -> str:
    import goesvfi_lab as gl

    lines = [
        "# API reference",
        "",
        f"goesvfi-lab {gl.__version__}. Generated from the code's signatures and docstrings by "
        "`python docs/make_api.py`",
        "(do not edit by hand). `gl` is `import goesvfi_lab as gl`; other names give their module. Defaults of",
        "every setting are in [`goesvfi_lab/goesvfi.yaml`](../goesvfi_lab/goesvfi.yaml) "
        "(Dask config namespace `goesvfi`).",
        "",
    ]
    documented: set[str] = set()
    current = None
    for title, module, names in SECTIONS:
        if title != current:
            lines += [f"## {title}", ""]
            current = title
        mod = gl if module is None else importlib.import_module(module)
        for name in names:
            qualname = f"gl.{name}" if module is None else f"{module}.{name}"
            lines += entry(qualname, getattr(mod, name))
            if module is None:
                documented.add(name)
    missing = sorted(set(gl.__all__) - documented - {"__version__"})
    if missing:
        raise SystemExit(f"make_api.py: exported but not documented: {', '.join(missing)} (add them to SECTIONS)")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
