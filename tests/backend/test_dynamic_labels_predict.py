"""POST /predict with Label Studio's dynamic labels: a mask control (or the <Labels> beside a
plain <Brush>) with value="$labels" takes its labels from the task's data, a list of options
[{"value": "Car"}, {"value": "Person", "background": "red"}]; a smart click labelled with one
of them is that label's mask."""

from __future__ import annotations

import pytest
from ls_requests import keypoint, predict_body, rectangle, shared_row, write_png

from samvid.studio.protocol import MaskTarget, choose_label, parse_config

IMG = '<Image name="image" value="$image"/>'
DYNAMIC = (f'<View>{IMG}<BrushLabels name="tag" toName="image" value="$labels"/>'
           '<KeyPointLabels name="kp" toName="image" smart="true" value="$labels"/>'
           '<RectangleLabels name="rect" toName="image" smart="true" value="$labels"/></View>')
# A static label of the config comes first, the task's after it.
WITH_STATIC = DYNAMIC.replace('value="$labels"/>', 'value="$labels"><Label value="Background"/></BrushLabels>', 1)
SEPARATE = (f'<View>{IMG}<Labels name="smart" toName="image" value="$labels"/>'
            '<KeyPoint name="point" toName="image" smart="true" smartOnly="true"/>'
            '<Rectangle name="box" toName="image" smart="true" smartOnly="true"/>'
            '<Brush name="brush" toName="image"/></View>')
LABELS = [{"value": "Car"}, {"value": "Person", "background": "red"}]


def _post(client, images, items, config=DYNAMIC, labels=LABELS, **data):
    path = write_png(images / "f.png", 40, 30)
    body = predict_body(str(path), items, config)
    if labels is not None:
        body["tasks"][0]["data"]["labels"] = labels
    body["tasks"][0]["data"].update(data)
    return client.post("/predict", json=body)


def _labels_of(resp) -> list:
    assert resp.status_code == 200, resp.get_json()
    return [r["value"].get("brushlabels") or r["value"].get("labels") for r in resp.get_json()["results"][0]["result"]]


@pytest.mark.parametrize("label", ["Car", "Person"])
def test_a_click_with_a_label_of_the_tasks_list_gives_a_mask_with_that_label(client, images, label):
    assert _labels_of(_post(client, images, [keypoint(20, 15, 40, 30, label=label)])) == [[label]]


def test_a_box_with_a_label_of_the_tasks_list_gives_a_mask_with_that_label(client, images):
    item = rectangle(5, 5, 30, 25, 40, 30, label="Person")
    assert _labels_of(_post(client, images, [item])) == [["Person"]]


def test_a_click_with_a_label_of_plain_strings_in_the_task_list_gives_its_mask(client, images):
    resp = _post(client, images, [keypoint(20, 15, 40, 30, label="Truck")], labels=["Car", "Truck"])
    assert _labels_of(resp) == [["Truck"]]


def test_a_separate_labels_row_with_dynamic_labels_labels_the_brush_mask_twin(client, images):
    items = shared_row(keypoint(20, 15, 40, 30, label="Person"))
    for item in items:  # the plain tools of the shared-row layout
        item["from_name"], item["type"] = ("smart", "labels") if item["type"] == "labels" else ("point", "keypoint")
    geometry, twin = _labels_of(_post(client, images, items, SEPARATE))
    assert (geometry, twin) == (None, ["Person"])


def test_a_click_with_a_label_outside_the_tasks_list_is_refused_naming_the_tasks_labels(client, images):
    resp = _post(client, images, [keypoint(20, 15, 40, 30, label="Bus")])
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert "'Bus'" in error and "['Car', 'Person']" in error and "task data 'labels'" in error


@pytest.mark.parametrize("labels", [None, "Car", {"value": "Car"}, []])
def test_a_task_that_gives_no_labels_is_refused_naming_the_key_and_what_it_should_hold(client, images, labels):
    resp = _post(client, images, [keypoint(20, 15, 40, 30)], labels=labels)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert "this task gives no labels" in error and "task data 'labels'" in error and '[{"value": "Car"}' in error


def test_a_task_without_its_list_still_offers_the_configs_own_labels(client, images):
    # Label Studio shows such a task the config's <Label>s: a click with one was refused.
    resp = _post(client, images, [keypoint(20, 15, 40, 30, label="Background")], config=WITH_STATIC, labels=None)
    assert _labels_of(resp) == [["Background"]]


def test_an_item_of_the_task_list_that_is_no_label_is_passed_over_and_the_others_offered(client, images):
    # Label Studio passes over such an item: every click on the task was refused.
    labels = [{"value": "Car"}, {"color": "red"}, {"value": ""}, 7]
    assert _labels_of(_post(client, images, [keypoint(20, 15, 40, 30, label="Car")], labels=labels)) == [["Car"]]


def test_a_list_under_a_dotted_data_path_is_read_as_label_studio_reads_it(client, images):
    config = DYNAMIC.replace("$labels", "$meta.labels")
    resp = _post(client, images, [keypoint(20, 15, 40, 30, label="Person")], config=config, labels=None,
                 meta={"labels": LABELS})
    assert _labels_of(resp) == [["Person"]]


def test_the_configs_own_labels_come_before_the_tasks_and_both_are_offered():
    target = parse_config(WITH_STATIC).for_task({"labels": LABELS})
    assert target.labels == ("Background", "Car", "Person")
    assert target.all_labels == target.project_labels == ("Background", "Car", "Person")
    assert choose_label(target, None) == "Background"
    assert choose_label(target, "Person") == "Person"


def test_a_dynamic_sibling_control_takes_the_masks_of_its_tasks_labels():
    config = (f'<View>{IMG}<BrushLabels name="cars" toName="image"><Label value="Car"/></BrushLabels>'
              '<PolygonLabels name="people" toName="image" value="$people"/></View>')
    target = parse_config(config).for_task({"people": [{"value": "Person"}]})
    assert target.control_for("Person") == ("people", "polygonlabels")
    assert target.all_labels == ("Car", "Person")


def test_an_option_with_an_alias_is_the_label_label_studio_saves_its_alias():
    from samvid.studio.protocol import task_labels

    assert task_labels({"l": [{"value": "Car", "alias": "car"}, {"value": "Car"}, "Car"]}, "l") == ("car", "Car")


def test_a_static_config_is_its_own_target_for_every_task():
    target = parse_config(WITH_STATIC.replace(' value="$labels"', ""))
    assert target.labels_keys == ()
    assert target.for_task({"labels": LABELS}) is target
    assert target.for_task(None) is target


def test_a_target_read_without_a_task_offers_the_configs_labels_alone():
    target = parse_config(DYNAMIC)
    assert isinstance(target, MaskTarget)
    assert (target.labels, target.labels_keys) == ((), (("tag", "labels"),))


def test_automatic_masks_on_open_take_each_tasks_first_label_and_a_task_without_its_list_gets_none(tmp_path):
    import time

    from PIL import Image
    from test_automatic import _auto_client, synthetic_frame

    labels, _ = synthetic_frame()
    Image.fromarray((labels * 60).astype("uint8")).convert("RGB").save(tmp_path / "f.png")
    client = _auto_client(tmp_path, labels)
    tasks = [{"id": 1, "data": {"image": str(tmp_path / "f.png"), "labels": [{"value": "Dog"}, {"value": "Car"}]}},
             {"id": 2, "data": {"image": str(tmp_path / "f.png")}}]
    body = {"tasks": tasks, "project": "1.1700000000", "label_config": DYNAMIC, "params": {"context": None}}
    deadline = time.monotonic() + 30
    while (resp := client.post("/predict", json=body)).status_code == 200 and resp.get_json()["results"][0] == []:
        assert time.monotonic() < deadline  # the first task's masks are computed meanwhile
        time.sleep(0.05)
    assert resp.status_code == 200, resp.get_json()
    first, second = resp.get_json()["results"]
    assert {tuple(r["value"]["brushlabels"]) for r in first["result"]} == {("Dog",)}
    assert second == []
