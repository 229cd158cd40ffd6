"""Label configs as admins write them, read as Label Studio 1.23 reads them: tag names in
any case (its editor lowercases them), and labels with an alias (saved as the alias, found
by alias or value)."""

from __future__ import annotations

import pytest

from samvid.errors import ConfigError
from samvid.studio.protocol import MaskControl, choose_label, image_targets, parse_config

IMAGE = '<Image name="image" value="$image"/>'


def test_lowercase_tag_names_are_read_as_label_studio_renders_them() -> None:
    config = ('<View><image name="image" value="$image"/><brushlabels name="mask" toName="image">'
              '<Label value="Car"/></brushlabels><number name="oid" toName="image" perRegion="true"/></View>')
    target = parse_config(config, "image")
    assert (target.image_key, target.mask_control, target.mask_type) == ("image", "mask", "brushlabels")
    assert target.object_id_control == "oid"
    assert choose_label(target, "Car") == "Car"


def test_click_naming_a_mask_label_by_its_value_gets_the_alias() -> None:
    config = (f'<View>{IMAGE}<KeyPointLabels name="kp" toName="image" smart="true">'
              '<Label value="Car"/><Label value="Person"/></KeyPointLabels>'
              '<BrushLabels name="mask" toName="image"><Label value="Car" alias="car"/>'
              '<Label value="Person" alias="person"/></BrushLabels></View>')
    target = parse_config(config, "image")
    assert choose_label(target, "Person") == "person"  # what Label Studio saves
    assert choose_label(target, "person") == "person"


def test_smart_label_alias_gets_the_mask_label_of_its_value() -> None:
    config = (f'<View>{IMAGE}<KeyPointLabels name="kp" toName="image" smart="true">'
              '<Label value="Car" alias="c"/><Label value="Person" alias="p"/></KeyPointLabels>'
              '<BrushLabels name="mask" toName="image"><Label value="Car"/><Label value="Person"/>'
              '</BrushLabels></View>')
    assert choose_label(parse_config(config, "image"), "p") == "Person"


def test_smart_alias_reaches_the_control_per_class_it_names() -> None:
    config = (f'<View>{IMAGE}<Labels name="smart" toName="image"><Label value="Car" alias="c"/>'
              '<Label value="Person" alias="p"/></Labels><KeyPoint name="pt" toName="image" smart="true"/>'
              '<BrushLabels name="cars" toName="image"><Label value="Car"/></BrushLabels>'
              '<PolygonLabels name="people" toName="image"><Label value="Person"/></PolygonLabels></View>')
    target = parse_config(config, "image")
    label = choose_label(target, "p")
    assert (label, target.control_for(label)) == ("Person", ("people", "polygonlabels"))


def test_label_of_no_mask_control_is_still_refused_with_aliases_around() -> None:
    config = (f'<View>{IMAGE}<KeyPointLabels name="kp" toName="image" smart="true">'
              '<Label value="Bus" alias="b"/></KeyPointLabels><BrushLabels name="mask" toName="image">'
              '<Label value="Car" alias="car"/><Label value="Person"/></BrushLabels></View>')
    with pytest.raises(ConfigError, match="not one of 'mask''s labels"):
        choose_label(parse_config(config, "image"), "b")


def test_repeater_config_is_refused_at_connect_saying_to_use_value_list() -> None:
    """Label Studio names a <Repeater>'s copies image_0, image_1, ...: accepted at connect,
    every click was refused with "send the project's current config"."""
    config = ('<View><Repeater on="$images" indexFlag="{{idx}}">'
              '<Image name="image_{{idx}}" value="$images[{{idx}}].url"/>'
              '<BrushLabels name="mask_{{idx}}" toName="image_{{idx}}"><Label value="Car"/></BrushLabels>'
              '</Repeater></View>')
    for drawn_on in (None, "image_1"):
        with pytest.raises(ConfigError, match=r'Repeater.*valueList="\$images"'):
            parse_config(config, drawn_on)



def test_lowercase_video_and_image_tags_are_read_by_box_tracking_and_import() -> None:
    from types import SimpleNamespace

    from samvid.studio.importer import check_project_config
    from samvid.studio.video import parse_video_config

    parse_video_config('<View><video name="v" value="$video"/><videorectangle name="box" toName="v"/></View>')
    check_project_config(SimpleNamespace(id=1, title="lower", label_config=(
        '<View><image name="image" value="$image"/><brushlabels name="m" toName="image">'
        '<Label value="Car"/></brushlabels></View>')))


def test_a_config_lowercased_throughout_keeps_its_labels() -> None:
    # The SDK counts <Label> alone: a config of <label>s had a mask control with no labels,
    # and every click was refused as naming none of them.
    config = ('<view><image name="image" value="$image"/><brushlabels name="mask" toName="image">'
              '<label value="Car"/><label value="Bus"></label></brushlabels></view>')
    target = parse_config(config, "image")
    assert target.labels == ("Car", "Bus") and choose_label(target, "Bus") == "Bus"


# Label Studio's separate-control form: a plain <Brush>/<Polygon> draws, a <Labels> names.
SEPARATE = (f'<View>{IMAGE}<Brush name="brush" toName="image" smart="true"/>'
            '<Labels name="labels" toName="image"><Label value="Car"/><Label value="Person" alias="p"/>'
            '</Labels><KeyPoint name="point" toName="image" smart="true"/></View>')


def test_plain_brush_with_a_labels_row_takes_masks_labelled_by_that_row() -> None:
    target = parse_config(SEPARATE)
    assert (target.mask_control, target.mask_type, target.label_rows) == ("brush", "brushlabels",
                                                                           (("labels", ("Car", "p")),))
    assert target.labels == target.all_labels == ("Car", "p")
    assert target.control_for("Car") == ("brush", "brushlabels")
    assert choose_label(target, "Person") == "p"  # saved as its alias, as Label Studio saves it
    assert parse_config(SEPARATE, "image") == target


def test_plain_polygon_with_a_labels_row_takes_polygon_masks() -> None:
    config = SEPARATE.replace('<Brush name="brush"', '<Polygon name="outline"')
    target = parse_config(config, "image")
    assert (target.mask_control, target.mask_type, target.separate_controls) == ("outline", "polygonlabels",
                                                                                  ("outline",))


def test_plain_brush_without_labels_on_its_image_is_refused_naming_the_fix() -> None:
    config = f'<View>{IMAGE}<Brush name="brush" toName="image"/></View>'
    with pytest.raises(ConfigError, match=r'<Brush name="brush">.*add <Labels name="labels" '
                                          r'toName="image">.*or use <BrushLabels>'):
        parse_config(config)


def test_a_config_without_any_mask_control_names_both_forms() -> None:
    with pytest.raises(ConfigError, match=r"no <BrushLabels> or <PolygonLabels>, nor a <Brush> or <Polygon>"):
        parse_config(f'<View>{IMAGE}<Labels name="labels" toName="image"><Label value="Car"/></Labels></View>')


def test_brushlabels_keeps_the_masks_when_a_plain_brush_sits_beside_it() -> None:
    config = SEPARATE.replace("</View>", '<BrushLabels name="mask" toName="image"><Label value="Car"/>'
                                         '</BrushLabels></View>')
    target = parse_config(config)
    assert (target.mask_control, target.labels, target.label_rows, target.separate_controls) == (
        "mask", ("Car",), (), ())
    assert [t.separate_controls for t in image_targets(config)] == [()]  # the plain <Brush> draws no mask here


def test_a_plain_polygon_beside_a_plain_brush_is_a_mask_control_with_the_same_labels() -> None:
    config = SEPARATE.replace("<KeyPoint", '<Polygon name="outline" toName="image"/><KeyPoint')
    target = parse_config(config)
    assert (target.mask_control, target.siblings) == ("brush", (MaskControl("outline", "polygonlabels", ("Car", "p")),))
    assert target.separate_controls == ("brush", "outline")
    assert target.control_for("p") == ("brush", "brushlabels")  # the first control, unless drawn in another


def test_every_labels_row_on_the_image_names_masks() -> None:
    config = SEPARATE.replace("<KeyPoint", '<Labels name="state" toName="image"><Label value="moving"/>'
                                           '<Label value="parked" alias="stopped"/></Labels><KeyPoint')
    target = parse_config(config)
    assert target.labels == target.all_labels == ("Car", "p", "moving", "stopped")
    assert target.label_rows == (("labels", ("Car", "p")), ("state", ("moving", "stopped")))
    assert choose_label(target, "moving") == "moving"
    assert choose_label(target, "parked") == "stopped"  # the second row's aliases count too


def test_the_shipped_smart_row_and_a_classes_row_both_label_a_plain_brush() -> None:
    # brush.xml with its <BrushLabels> replaced by a plain <Brush> and a <Labels> of classes:
    # a click labelled "Car" in the classes row is a Car, not the smart row's "Object".
    config = (f'<View>{IMAGE}<Labels name="smart" toName="image"><Label value="Object"/></Labels>'
              '<KeyPoint name="point" toName="image" smart="true" smartOnly="true"/>'
              '<Brush name="mask" toName="image"/><Labels name="classes" toName="image">'
              '<Label value="Car"/><Label value="Person"/></Labels></View>')
    target = parse_config(config)
    assert target.labels == ("Object", "Car", "Person")
    assert choose_label(target, "Car") == "Car"
    assert [(t.separate_controls, t.label_rows) for t in image_targets(config)] == [
        (("mask",), (("smart", ("Object",)), ("classes", ("Car", "Person"))))]


def test_one_mask_label_beside_two_plain_controls_takes_any_smart_label() -> None:
    config = (f'<View>{IMAGE}<Brush name="brush" toName="image"/><Polygon name="outline" toName="image"/>'
              '<Labels name="labels" toName="image"><Label value="Car"/></Labels></View>')
    assert choose_label(parse_config(config), "Object") == "Car"


def test_a_prompt_on_an_image_without_a_mask_control_names_both_forms() -> None:
    config = (f'<View>{IMAGE}<Image name="other" value="$other"/><Brush name="brush" toName="image"/>'
              '<Labels name="labels" toName="image"><Label value="Car"/></Labels></View>')
    with pytest.raises(ConfigError, match=r'no <BrushLabels> or <PolygonLabels>, nor a <Brush> or <Polygon> '
                                          r'with a <Labels>, has toName="other"'):
        parse_config(config, "other")


def test_image_targets_name_every_images_plain_controls_and_labels_rows() -> None:
    config = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
              '<Brush name="paint" toName="a"/><Polygon name="outline" toName="b"/>'
              '<Labels name="cars" toName="a"><Label value="Car"/></Labels>'
              '<Labels name="people" toName="b,a"><Label value="Person"/></Labels></View>')
    assert [(t.image_name, t.separate_controls, [name for name, _ in t.label_rows], t.all_labels)
            for t in image_targets(config)] == [("a", ("paint",), ["cars", "people"], ("Car", "Person")),
                                                ("b", ("outline",), ["people"], ("Person",))]


def test_image_targets_leave_out_a_plain_brush_on_an_image_without_labels() -> None:
    # A scribble pad beside the labelled image: a prompt there is refused, nothing tracks it.
    config = ('<View><Image name="a" value="$a"/><Image name="b" value="$b"/>'
              '<Brush name="paint" toName="a"/><Labels name="cars" toName="a"><Label value="Car"/></Labels>'
              '<Brush name="scribble" toName="b"/></View>')
    assert [(t.image_name, t.separate_controls) for t in image_targets(config)] == [("a", ("paint",))]
    with pytest.raises(ConfigError, match='no <Labels> has toName="b"'):
        parse_config(config, "b")
