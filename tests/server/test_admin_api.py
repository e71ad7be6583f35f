"""The admin API (what the CLI calls): hardware, templates, workflows, retry, logs, apply."""

from __future__ import annotations

import pytest
import requests

from agent.provision.wire import ActionState as A
from server.cli.client import ClientError
from tests.server.fleet import Fleet, Run, action, task, template_text


def _refused(call: object, *args: object, **kwargs: object) -> ClientError:
    with pytest.raises(ClientError) as refused:
        call(*args, **kwargs)  # type: ignore[operator]
    return refused.value


def test_hardware_is_added_found_by_name_or_mac_replaced_and_removed(fleet: Fleet) -> None:
    mac, second = fleet.mac(), fleet.mac()
    name = "hw-" + mac.replace(":", "")
    iface = {"dhcp": {"mac": second.upper(), "ip": {"address": "10.1.2.3"}, "arch": "x86_64"}}
    view = fleet.admin.put_hardware(
        name,
        macs=[mac],
        disks=["/dev/nvme0n1"],
        interfaces=[iface],
        labels={"rack": "r1"},
        metadata={"facility": {"facility_code": "lab"}},
        user_data="#cloud-config\n",
    )
    assert view["macs"] == sorted([mac, second])
    assert view["disks"] == ["/dev/nvme0n1"]
    assert view["labels"] == {"rack": "r1"} and view["allow_netboot"]
    assert view["metadata"] == {"facility": {"facility_code": "lab"}}
    assert view["spec"]["userData"] == "#cloud-config\n"
    assert [i["dhcp"]["mac"] for i in view["interfaces"]] == [second, mac]  # written one way
    assert fleet.admin.hardware(second)["name"] == name
    assert name in {h["name"] for h in fleet.admin.hardware_list()}
    fleet.admin.put_hardware(name, macs=[mac], allow_netboot=False)
    replaced = fleet.admin.hardware(mac)
    assert replaced["macs"] == [mac] and not replaced["allow_netboot"]
    assert _refused(fleet.admin.hardware, second).status == 404
    assert fleet.admin.remove_hardware(mac) == {"deleted": name}
    assert _refused(fleet.admin.hardware, name).status == 404


def test_a_mac_belongs_to_one_hardware(fleet: Fleet) -> None:
    name, mac = fleet.machine()
    err = _refused(fleet.admin.put_hardware, name + "-twin", macs=[mac])
    assert err.status == 409 and name in str(err)


@pytest.mark.parametrize(
    "fields", [{"macs": []}, {"macs": ["zz:zz"]}, {"macs": ["52:54:00:00:00:01"], "colour": "red"}]
)
def test_bad_hardware_is_refused(fleet: Fleet, fields: dict[str, object]) -> None:
    err = _refused(fleet.admin.put_hardware, "bad-" + fleet.mac().replace(":", ""), **fields)
    assert err.status in (409, 422)


def test_a_name_with_a_space_is_refused(fleet: Fleet) -> None:
    assert _refused(fleet.admin.put_hardware, "two words", macs=[fleet.mac()]).status == 422


def test_hardware_with_a_workflow_to_run_is_kept(fleet: Fleet) -> None:
    run = fleet.run(action("a"))
    err = _refused(fleet.admin.remove_hardware, run.hardware)
    assert err.status == 409 and run.id in str(err)


def test_templates_are_added_listed_shown_and_removed(fleet: Fleet) -> None:
    _, mac = fleet.machine()
    text = template_text("tpl-" + mac.replace(":", ""), [task("os", mac, [action("a")])])
    assert fleet.admin.add_template(text)["name"] == "tpl-" + mac.replace(":", "")
    assert fleet.admin.add_template(text, name="other-" + mac.replace(":", ""))["data"] == text
    names = {t["name"] for t in fleet.admin.templates()}
    assert {"tpl-" + mac.replace(":", ""), "other-" + mac.replace(":", "")} <= names
    assert fleet.admin.template("tpl-" + mac.replace(":", ""))["data"] == text
    fleet.admin.remove_template("other-" + mac.replace(":", ""))
    assert _refused(fleet.admin.template, "other-" + mac.replace(":", "")).status == 404


def test_a_template_in_use_is_kept(fleet: Fleet) -> None:
    run = fleet.run(action("a"))
    name = run.view()["template"]
    assert _refused(fleet.admin.remove_template, name).status == 409


@pytest.mark.parametrize("text", ["tasks: [", "version: '0.1'\nname: x\ntasks: []\n"])
def test_an_unusable_template_is_refused_with_the_reason(fleet: Fleet, text: str) -> None:
    err = _refused(fleet.admin.add_template, text)
    assert err.status == 422 and err.code == "invalid_template"


def test_a_workflow_is_created_pending_with_its_actions(fleet: Fleet) -> None:
    name, mac = fleet.machine()
    tpl = fleet.template([task("os", mac, [action("a"), action("b", retries=2)])], 900)
    view = fleet.admin.create_workflow(tpl, {"device_1": mac}, name="wf-" + mac.replace(":", ""))
    assert view["id"].startswith("wf-") and view["state"] == "PENDING"
    assert (view["template"], view["hardware"], view["global_timeout"]) == (tpl, name, 900)
    assert view["hardware_map"] == {"device_1": mac}
    assert [(a["name"], a["retries"], a["state"], a["attempt"]) for a in view["actions"]] == [
        ("a", 0, "PENDING", 1),
        ("b", 2, "PENDING", 1),
    ]
    assert fleet.admin.workflow("wf-" + mac.replace(":", ""))["id"] == view["id"]
    assert view["id"] in {w["id"] for w in fleet.admin.workflows()}
    err = _refused(
        fleet.admin.create_workflow, tpl, {"device_1": mac}, name="wf-" + mac.replace(":", "")
    )
    assert err.status == 409
    assert fleet.admin.remove_workflow(view["id"]) == {"deleted": view["id"]}
    assert _refused(fleet.admin.workflow, view["id"]).status == 404


def test_a_workflow_needs_its_template_and_known_workers(fleet: Fleet) -> None:
    _, mac = fleet.machine()
    assert (
        _refused(fleet.admin.create_workflow, "no-such-template", {"device_1": mac}).status == 404
    )
    stranger = fleet.mac()
    tpl = fleet.template([task("os", stranger, [action("a")])])
    err = _refused(fleet.admin.create_workflow, tpl, {"device_1": mac})
    assert err.status == 422 and stranger in str(err)
    err = _refused(fleet.admin.create_workflow, tpl, {"device_1": stranger})
    assert err.status == 422 and "no known hardware" in str(err)


def _fail_second(fleet: Fleet) -> Run:
    run = fleet.run(action("one"), action("two"), action("three"))
    one = run.next_action()
    run.machine.report(one, A.RUNNING)
    run.machine.report(one, A.SUCCESS)
    two = run.next_action()
    run.machine.report(two, A.RUNNING)
    run.machine.report(two, A.FAILED, "no space")
    return run


def test_retry_runs_a_failed_workflow_again_from_the_failed_action(fleet: Fleet) -> None:
    run = _fail_second(fleet)
    assert run.state() == "FAILED"
    view = fleet.admin.retry(run.id)
    assert view["state"] == "PENDING" and "two" in view["message"]
    assert [(a["state"], a["attempt"]) for a in view["actions"]] == [
        ("SUCCESS", 1),
        ("PENDING", 2),
        ("PENDING", 1),
    ]
    two = run.next_action()
    assert (two.name, two.attempt) == ("two", 2)
    run.machine.report(two, A.RUNNING)
    assert run.view()["state"] == "RUNNING"
    assert _refused(fleet.admin.retry, run.id).status == 409


def test_retry_from_an_earlier_action(fleet: Fleet) -> None:
    run = _fail_second(fleet)
    view = fleet.admin.retry(run.id, "os/one")
    assert [(a["state"], a["attempt"]) for a in view["actions"]] == [
        ("PENDING", 2),
        ("PENDING", 2),
        ("PENDING", 1),
    ]
    assert _refused(fleet.admin.retry, "no-such-workflow").status == 404


def test_a_succeeded_workflow_is_retried_only_from_a_named_action(fleet: Fleet) -> None:
    run = fleet.run(action("only"))
    spec = run.next_action()
    run.machine.report(spec, A.RUNNING)
    run.machine.report(spec, A.SUCCESS)
    assert _refused(fleet.admin.retry, run.id).status == 409
    assert _refused(fleet.admin.retry, run.id, "missing").status == 404
    assert fleet.admin.retry(run.id, "only")["actions"][0]["attempt"] == 2


def test_logs_by_action_and_in_pages(fleet: Fleet) -> None:
    run = fleet.run(action("one"), action("two"))
    one = run.next_action()
    run.machine.report(one, A.RUNNING)
    run.machine.log(one, 0, [f"line {n}" for n in range(7)])
    run.machine.report(one, A.SUCCESS)
    two = run.next_action()
    run.machine.report(two, A.RUNNING)
    run.machine.log(two, 0, ["other"])
    page = requests.get(
        f"{fleet.served.url}/api/v1/workflows/{run.id}/logs",
        params={"limit": 3, "offset": 3},
        timeout=10,
        headers={"Authorization": f"Bearer {fleet.served.token}"},
    ).json()
    assert [x["text"] for x in page["lines"]] == ["line 3", "line 4", "line 5"]
    assert page["next_offset"] == 6
    assert [x["text"] for x in fleet.admin.all_logs(run.id, "two")] == ["other"]
    assert len(fleet.admin.all_logs(run.id)) == 8
