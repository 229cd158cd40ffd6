"""The labeling configs of ``labeling_configs/``: list them, load one, fill in labels.

Each file is a valid Label Studio config on its own (with one label, "Object") and
starts with an XML comment that says when to use it. ``render`` replaces the labels of
every ``*Labels`` control with the user's, one colour per label shared by all controls,
so a smart keypoint "car" and the brush mask "car" look alike.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from samvid.errors import ConfigError
from samvid.settings import env_value

# labeling_configs/ sits at the repository root and installs as samvid.labeling_configs.
CONFIG_DIR = Path(env_value("SAMVID_CONFIG_DIR")
                  or Path(importlib.util.find_spec("samvid.labeling_configs").submodule_search_locations[0]))  # type: ignore[union-attr,index]  # ships with samvid: its spec and folder exist
DEFAULT_CONFIG = "brush"
# Distinct, readable on photos; repeats after 10 labels.
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
           "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990")


@dataclass(frozen=True)
class LabelingConfig:
    name: str
    path: Path
    xml: str
    description: str  # the leading comment, whitespace-normalised

    def render(self, labels: Sequence[str] | None = None) -> str:
        """The config with ``labels`` in every labels control (unchanged if None/empty)."""
        return render(self.xml, labels)

    @property
    def data_keys(self) -> list[str]:
        """Task data fields the config reads (``$image`` -> ``image``)."""
        # From the parsed tree, not the text: quotes and spacing around attributes vary.
        return sorted({match[1] for element in _parse(self.xml).iter()
                       for attribute in ("value", "valueList")
                       if (match := re.fullmatch(r"\$(\w+)", element.get(attribute, "")))})


def list_configs(directory: Path = CONFIG_DIR) -> list[LabelingConfig]:
    return [load_config(p) for p in sorted(directory.glob("*.xml"))]


def config_names(directory: Path = CONFIG_DIR) -> list[str]:
    return [p.stem for p in sorted(directory.glob("*.xml"))]


def load_config(name: str | Path, directory: Path = CONFIG_DIR) -> LabelingConfig:
    """A config by name (``brush``) or by path to an ``.xml`` file."""
    path = Path(name)
    if path.suffix != ".xml" or not path.exists():
        path = directory / f"{Path(name).stem}.xml"
    if not path.is_file():
        known = ", ".join(config_names(directory)) or f"none in {directory}"
        raise ConfigError(f"unknown labeling config {str(name)!r} (known: {known})")
    xml = path.read_text(encoding="utf-8")
    try:
        root = _parse(xml)
    except ET.ParseError as exc:
        raise ConfigError(f"{path}: not valid XML ({exc})") from exc
    comment = xml.split("<!--", 1)[1].split("-->", 1)[0] if "<!--" in xml else ""
    if root.tag != "View":
        raise ConfigError(f"{path}: the root element must be <View>, not <{root.tag}>")
    return LabelingConfig(path.stem, path, xml, " ".join(comment.split()))


def parse_labels(text: str | None) -> list[str]:
    """``"car, person"`` -> ``["car", "person"]``; rejects empty and duplicate names."""
    if text is None:
        return []
    labels = [label.strip() for label in text.split(",")]
    if any(not label for label in labels):
        raise ConfigError(f"--labels {text!r}: empty label name (use a,b,c)")
    unwritable = [label for label in labels if not _writable(label)]
    if unwritable:
        # XML cannot hold a control character (the rendered config would not parse), and
        # reads a tab or line break in an attribute as a space: another label than given.
        raise ConfigError(f"--labels {text!r}: label {unwritable[0]!r} holds a tab, line break or "
                          "control character; use letters, digits, spaces and punctuation")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ConfigError(f"--labels {text!r}: repeated label {', '.join(duplicates)}")
    return labels


def _writable(label: str) -> bool:
    """Whether an XML attribute holds ``label`` as given. Not ``str.isprintable``: that
    refuses the zero-width (non-)joiners of Persian words and emoji sequences and the
    no-break space, all of which XML holds."""
    return not any(unicodedata.category(c) in _UNWRITABLE or c in "\ufffe\uffff" for c in label)


# Control characters (a tab or line break included), surrogates, line/paragraph separators.
_UNWRITABLE = frozenset({"Cc", "Cs", "Zl", "Zp"})


def render(xml: str, labels: Sequence[str] | None) -> str:
    if not labels:
        return xml
    root = _parse(xml)
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    # Controls sit at any depth (the shipped configs group them in captioned <View>s).
    depth = {root: 0}
    for parent in root.iter():
        for child in parent:
            depth[child] = depth[parent] + 1
    for control in _without_labels(root):
        for label in labels:
            ET.SubElement(control, "Label", {"value": label, "background": colours[label]})
        ET.indent(control, space="  ", level=depth[control])
    # ElementTree drops the text before the root; keep the leading comment by hand.
    return xml[: _root_start(xml)] + ET.tostring(root, encoding="unicode") + "\n"


def _labels_controls(root: ET.Element) -> list[ET.Element]:
    """The labels controls of ``root`` (``<BrushLabels>``, ``<RectangleLabels>``, ...)."""
    # Any case: Label Studio's editor lowercases tag names (<brushlabels> works there).
    return [c for c in root.iter() if isinstance(c.tag, str) and c.tag.lower().endswith("labels")]


def _without_labels(root: ET.Element) -> list[ET.Element]:
    """The labels controls of ``root``, each with its <Label>s removed."""
    controls = []
    for control in _labels_controls(root):
        # At any depth: Label Studio also takes labels grouped in <View>s inside the control.
        for holder in list(control.iter()):
            for old in [child for child in holder if _is_label(child)]:
                holder.remove(old)
        controls.append(control)
    return controls


def labels_of(xml: str) -> frozenset[str]:
    """The labels of ``xml``'s labels controls: those ``render`` puts in, whatever the
    control (a boxes-only config's too, which no mask is made of); none where it does not parse."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return frozenset()
    return frozenset(label.get("value", "") for control in _labels_controls(root)
                     for label in control.iter() if _is_label(label))


def same_but_labels(xml: str, other: str) -> bool:
    """Whether two labeling configs differ at most in their labels (those ``render`` puts
    in): a config given again for a project made with it is no news, whatever labels each
    had. Comments, attribute order, tag case (Label Studio's editor lowercases tags) and
    the whitespace between tags (``render`` indents) do not count; a config that does not
    parse differs."""
    try:
        return _layout(xml) == _layout(other)
    except ET.ParseError:
        return False


def _layout(xml: str) -> str:
    root = ET.fromstring(xml)  # without its comments
    _without_labels(root)
    for element in root.iter():
        element.tag = element.tag.lower()
    return ET.canonicalize(ET.tostring(root, encoding="unicode"), strip_text=True)


def _is_label(element: ET.Element) -> bool:
    return isinstance(element.tag, str) and element.tag.lower() == "label"


def _root_start(xml: str) -> int:
    """Where the root <View> starts: not at a "<View" inside a comment before it (that
    would cut the comment open and turn the whole config into one)."""
    uncommented = re.sub(r"<!--.*?-->", lambda m: " " * len(m[0]), xml, flags=re.S)
    found = re.search(r"<View[\s>/]", uncommented)
    return found.start() if found else 0


def _parse(xml: str) -> ET.Element:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    return ET.fromstring(xml, parser=parser)
