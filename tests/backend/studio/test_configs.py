"""labeling_configs/: every config loads into a real Label Studio project; labels are
filled in; the multi-object config's per-region object id round-trips through LS."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from samvid.errors import ConfigError, StudioError
from samvid.studio.client import Studio
from samvid.studio.configs import (
    CONFIG_DIR,
    config_names,
    list_configs,
    load_config,
    parse_labels,
    same_but_labels,
)

EXPECTED = {"brush", "polygon", "multi_object", "video_boxes"}


def test_configs_are_listed_and_documented() -> None:
    assert EXPECTED <= set(config_names())
    for config in list_configs():
        assert config.description.startswith(f"{config.name}:"), config.path
        assert "Use it" in config.description


def test_labels_are_filled_in_every_control() -> None:
    xml = load_config("multi_object").render(["car", "person"])
    assert xml.lstrip().startswith("<!--")  # the "when to use" comment survives
    for control in ["BrushLabels", "Labels"]:  # the mask control and the smart tools' row
        block = xml.split(f"<{control}", 1)[1].split(f"</{control}>", 1)[0]
        assert 'value="car"' in block and 'value="person"' in block
        assert 'value="Object"' not in block
    assert 'smart="true"' in xml and 'perRegion="true"' in xml
    assert load_config("brush").render(None) == load_config("brush").xml


def test_data_keys_reads_single_quoted_and_spaced_attributes(tmp_path: Path) -> None:
    path = tmp_path / "mine.xml"
    path.write_text("<View>\n  <Image name='image' value='$image'/>\n"
                    '  <Text name="caption" value = "$caption"/>\n'
                    "  <Paragraphs name='p' value=\"$dialogue\" valueList='$frames'/>\n"
                    "  <Header value='Frame $n'/>\n"  # text around a variable: not a data key
                    "</View>\n", encoding="utf-8")
    assert load_config(path).data_keys == ["caption", "dialogue", "frames", "image"]


def test_render_keeps_leading_comment_that_mentions_view(tmp_path: Path) -> None:
    path = tmp_path / "commented.xml"
    path.write_text("<!-- my project: one <View> with an image and a brush -->\n<View>\n"
                    '  <Image name="image" value="$image"/>\n'
                    '  <BrushLabels name="tag" toName="image"><Label value="Object"/></BrushLabels>\n'
                    "</View>\n", encoding="utf-8")
    xml = load_config(path).render(["car"])
    assert xml.startswith("<!-- my project: one <View> with an image and a brush -->\n<View>")
    root = ET.fromstring(xml)  # the config itself, not swallowed by the comment
    assert [label.get("value") for label in root.iter("Label")] == ["car"]


def test_parse_labels_and_unknown_configs() -> None:
    assert parse_labels(" car, person ") == ["car", "person"]
    assert parse_labels(None) == []
    with pytest.raises(ConfigError, match="empty label"):
        parse_labels("car,,person")
    with pytest.raises(ConfigError, match="repeated label car"):
        parse_labels("car,person,car")
    with pytest.raises(ConfigError, match="unknown labeling config 'nope'"):
        load_config("nope")
    assert load_config(CONFIG_DIR / "polygon.xml").name == "polygon"


@pytest.mark.studio
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_into_label_studio(label_studio, name: str) -> None:
    studio = Studio(label_studio.url, label_studio.token)
    xml = load_config(name).render(["car", "person"])
    project, created = studio.get_or_create_project(f"config {name}", xml)
    assert created
    stored = studio.sdk.projects.get(project.id).label_config
    assert 'value="person"' in stored


@pytest.mark.studio
def test_label_studio_rejects_a_broken_config(label_studio) -> None:
    studio = Studio(label_studio.url, label_studio.token)
    broken = '<View><BrushLabels name="m" toName="nowhere"><Label value="a"/></BrushLabels></View>'
    with pytest.raises(StudioError, match="create project"):
        studio.get_or_create_project("broken config", broken)


@pytest.mark.studio
def test_multi_object_id_round_trips(label_studio) -> None:
    """The shape docs/import.md documents: the id is a second result of the region (same
    ``id``), type ``number``, ``value.number``, beside the region's own geometry."""
    import numpy as np
    from label_studio_sdk.converter.brush import mask2rle

    studio = Studio(label_studio.url, label_studio.token)
    project, _ = studio.get_or_create_project(
        "multi object ids", load_config("multi_object").render(["car"]))
    [task_id] = studio.create_tasks(project.id, [{"image": "/x.jpg", "frame": 0, "time": 0.0,
                                                  "clip": "c", "video": "/v.mp4"}])
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:15] = 255
    geometry = {"format": "rle", "rle": mask2rle(mask)}
    common = {"id": "reg1", "to_name": "image", "original_width": 30, "original_height": 20,
              "image_rotation": 0, "origin": "manual"}
    result = [
        {**common, "from_name": "mask", "type": "brushlabels",
         "value": {**geometry, "brushlabels": ["car"]}},
        {**common, "from_name": "object_id", "type": "number", "value": {**geometry, "number": 7}},
    ]
    studio.sdk.annotations.create(id=task_id, result=result)
    [annotation] = studio.sdk.annotations.list(id=task_id)
    ids = {(r["from_name"], r["id"]): r for r in annotation.result}
    assert ids[("object_id", "reg1")]["value"]["number"] == 7
    assert ids[("mask", "reg1")]["value"]["brushlabels"] == ["car"]


@pytest.mark.parametrize("text", ["car,a\x01b", "car,left\tside"])
def test_a_label_xml_cannot_hold_as_given_is_refused_naming_it(text: str) -> None:
    """A control character made the rendered config unparsable; a tab became a space in
    Label Studio, a label other than the one asked for."""
    with pytest.raises(ConfigError, match="holds a tab, line break or control character"):
        load_config("brush").render(parse_labels(text))


@pytest.mark.parametrize("label", ["کتاب\u200cخانه", "\U0001f469\u200d\U0001f52c scientist", "a\u00a0b"])
def test_a_label_with_a_zero_width_joiner_or_no_break_space_renders_as_given(label: str) -> None:
    """Persian words hold a zero-width non-joiner and emoji sequences a joiner: XML holds
    them, but they were refused as control characters."""
    xml = load_config("brush").render(parse_labels(f"car, {label}"))
    control = next(c for c in ET.fromstring(xml).iter() if c.tag.endswith("Labels"))
    assert [item.get("value") for item in control.iter("Label")] == ["car", label]


def test_labels_with_xml_special_characters_render_as_given() -> None:
    labels = parse_labels('a<b, "c&d", é')
    xml = load_config("brush").render(labels)
    control = next(c for c in ET.fromstring(xml).iter() if c.tag.endswith("Labels"))
    assert [label.get("value") for label in control.iter("Label")] == ['a<b', '"c&d"', "é"]


@pytest.mark.parametrize("control", [
    '<BrushLabels name="mask" toName="image"><View style="display: flex"><Label value="Object"/>'
    "</View></BrushLabels>",  # labels grouped in a <View>, as Label Studio lays out many
    '<brushlabels name="mask" toName="image"><Label value="Object"/></brushlabels>',  # LS takes any case
])
def test_own_config_gets_exactly_the_labels_given(tmp_path: Path, control: str) -> None:
    path = tmp_path / "mine.xml"
    path.write_text(f'<View><Image name="image" value="$image"/>{control}</View>', encoding="utf-8")
    xml = load_config(path).render(["car", "person"])
    mask = next(c for c in ET.fromstring(xml).iter() if c.tag.lower() == "brushlabels")
    assert [label.get("value") for label in mask.iter("Label")] == ["car", "person"]


def test_a_config_given_again_with_other_labels_or_as_label_studio_keeps_it_is_the_same_config() -> None:
    # What samvid import compares a --config given for an existing project with: only a
    # config other than the project's is said to be ignored, its labels are said apart.
    brush = load_config("brush")
    made = brush.render(["car", "person"])
    assert same_but_labels(brush.render(), made)  # its "Object" placeholder: no --labels given
    assert same_but_labels(brush.render(["truck"]), made)
    # Label Studio's editor lowercases tags; comments, attribute order and indentation do not show.
    edited = ('<view><!-- mine --><image value="$image" name="image"/><brushlabels toName="image" '
              'name="mask"><label value="x"/></brushlabels></view>')
    assert same_but_labels('<View><Image name="image" value="$image"/>\n  <BrushLabels name="mask" '
                           'toName="image"><Label value="car"/></BrushLabels></View>', edited)
    assert not same_but_labels(load_config("polygon").render(["car", "person"]), made)
    assert not same_but_labels(made, "<View><Image")  # a config that does not parse differs
