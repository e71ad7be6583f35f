"""The machine API against a real `metalinit serve` (SQLite and PostgreSQL): lookup, next,
report, heartbeat and log, and every state transition they cause."""

from __future__ import annotations

import pytest

from agent.provision import wire
from agent.provision.wire import ActionState as A
from agent.provision.wire import NextKind
from tests.server.fleet import Fleet, action, task
from tests.server.serving import Refused


def test_lookup_gives_a_machine_token_and_the_timings(fleet: Fleet) -> None:
    name, mac = fleet.machine()
    reply = fleet.served.machine().lookup([mac])
    assert reply.hardware == name
    assert reply.token.startswith("mt_") and len(reply.token) >= 3 + 43  # 32 bytes, base64
    assert reply.heartbeat_seconds == 10.0
    assert reply.poll_seconds == 0.2


def test_lookup_by_any_mac_in_any_spelling(fleet: Fleet) -> None:
    name, mac = fleet.machine()
    other = fleet.mac()
    fleet.admin.put_hardware(name, macs=[mac, other])
    spelled = other.upper().replace(":", "-")
    assert fleet.served.machine().lookup(["02:00:00:00:00:99", spelled]).hardware == name


def test_lookup_stores_the_inventory_and_where_it_came_from(fleet: Fleet) -> None:
    name, mac = fleet.machine()
    inventory = {"cpu": {"count": 2, "model": "QEMU"}, "memory": {"total": 2 << 30}}
    fleet.served.machine().lookup([mac], inventory)
    view = fleet.admin.hardware(name)
    assert view["inventory"] == inventory
    assert view["agent_version"] == "test"
    assert view["address"] == "127.0.0.1"
    assert view["last_seen_at"] is not None


def test_an_unknown_mac_is_told_to_retry_and_recorded(fleet: Fleet) -> None:
    mac, second = fleet.mac(), fleet.mac()
    client = fleet.served.machine()
    for _ in range(2):
        with pytest.raises(Refused) as refused:
            client.lookup([mac, second], {"cpu": {"count": 4}})
        assert refused.value.status == 404
        assert refused.value.problem.code == wire.UNKNOWN_MACHINE
        assert refused.value.problem.retry_after and refused.value.problem.retry_after > 0
        assert "metalinit hw add" in refused.value.problem.detail
    unknown = {u["mac"]: u for u in fleet.admin.unknown()}
    assert unknown[mac]["lookups"] == 2
    assert unknown[mac]["macs"] == [mac, second]
    assert unknown[mac]["inventory"] == {"cpu": {"count": 4}}
    fleet.admin.put_hardware("adopted-" + mac.replace(":", ""), macs=[mac])
    assert mac not in {u["mac"] for u in fleet.admin.unknown()}
    assert client.lookup([mac]).hardware == "adopted-" + mac.replace(":", "")


def test_a_mac_that_is_no_mac_is_refused(fleet: Fleet) -> None:
    with pytest.raises(Refused) as refused:
        fleet.served.machine().lookup(["not-a-mac"])
    assert refused.value.status == 422
    assert "not-a-mac" in refused.value.problem.detail


def test_no_workflow_means_wait(fleet: Fleet) -> None:
    _, mac = fleet.machine()
    client = fleet.served.machine()
    client.lookup([mac])
    reply = client.next()
    assert reply.kind is NextKind.WAIT
    assert reply.retry_after == 0.2
    assert "no workflow" in reply.message


def test_the_action_is_served_as_rendered(fleet: Fleet) -> None:
    run = fleet.run(
        action(
            "write",
            image="quay.io/tinkerbell/actions/image2disk:v1.0.0",
            timeout=90,
            retries=2,
            command=["/bin/sh", "-c", "true"],
            pid="host",
            volumes=["/b:/b"],
            environment={"DEST_DISK": "/dev/vda", "MODE": "0600"},
        ),
        task_extra={"volumes": ["/a:/a"], "environment": {"MODE": "0755", "ONLY_TASK": "1"}},
    )
    spec = run.next_action()
    assert (spec.workflow, spec.task, spec.name) == (run.id, "os", "write")
    assert spec.image == "quay.io/tinkerbell/actions/image2disk:v1.0.0"
    assert (spec.timeout, spec.retries, spec.attempt, spec.pid) == (90, 2, 1, "host")
    assert spec.command == ("/bin/sh", "-c", "true")
    assert spec.volumes == ("/a:/a", "/b:/b")  # task volumes first
    assert spec.environment == {"DEST_DISK": "/dev/vda", "MODE": "0600", "ONLY_TASK": "1"}


def test_a_workflow_runs_to_success(fleet: Fleet) -> None:
    run = fleet.run(action("one"), action("kexec", image="kexec"))
    assert run.state() == "PENDING"
    first = run.next_action()
    assert run.machine.report(first, A.RUNNING).workflow_state is wire.WorkflowState.RUNNING
    view = run.view()
    assert view["state"] == "RUNNING" and view["started_at"] is not None
    assert view["actions"][0]["state"] == "RUNNING"
    assert run.machine.next().action == first  # asked again: the same attempt
    reply = run.machine.report(first, A.SUCCESS, "written", seconds=2.5)
    assert (reply.stored, reply.workflow_state, reply.retry) == (
        True,
        wire.WorkflowState.RUNNING,
        False,
    )
    last = run.next_action()
    assert last.name == "kexec"
    run.machine.report(last, A.RUNNING)
    # a terminal action reports SUCCESS before the machine goes down: that ends the workflow
    assert run.machine.report(last, A.SUCCESS).workflow_state is wire.WorkflowState.SUCCESS
    assert run.machine.next().kind is NextKind.DONE
    view = run.view()
    assert view["state"] == "SUCCESS" and view["stopped_at"] >= view["started_at"]
    done = view["actions"][0]
    assert (done["state"], done["seconds"], done["message"]) == ("SUCCESS", 2.5, "written")
    assert done["stopped_at"] >= done["started_at"]


def test_the_same_report_twice_is_stored_once(fleet: Fleet) -> None:
    run = fleet.run(action("one"), action("two"))
    spec = run.next_action()
    assert run.machine.report(spec, A.RUNNING).stored
    assert not run.machine.report(spec, A.RUNNING).stored
    assert run.machine.report(spec, A.SUCCESS).stored
    again = run.machine.report(spec, A.SUCCESS)
    assert not again.stored and again.workflow_state is wire.WorkflowState.RUNNING
    assert [(r["attempt"], r["state"]) for r in run.view()["actions"][0]["reports"]] == [
        (1, "RUNNING"),
        (1, "SUCCESS"),
    ]


@pytest.mark.parametrize("failure", [A.FAILED, A.TIMEOUT])
def test_a_failed_attempt_with_retries_left_comes_again(fleet: Fleet, failure: A) -> None:
    run = fleet.run(action("flaky", retries=1))
    first = run.next_action()
    run.machine.report(first, A.RUNNING)
    reply = run.machine.report(first, failure, "disk busy")
    assert reply.retry and reply.workflow_state is wire.WorkflowState.RUNNING
    assert not run.machine.report(first, failure, "disk busy").stored  # and says retry again
    assert run.machine.report(first, failure, "disk busy").retry
    second = run.next_action()
    assert (second.id, second.attempt) == (first.id, 2)
    assert run.view()["actions"][0]["message"].startswith(f"attempt 1 {failure.value}")
    run.machine.report(second, A.RUNNING)
    reply = run.machine.report(second, failure, "disk still busy")
    assert not reply.retry
    assert reply.workflow_state.value == ("TIMEOUT" if failure is A.TIMEOUT else "FAILED")
    ended = run.machine.next()
    assert ended.kind is NextKind.FAILED and "disk still busy" in ended.message
    view = run.view()
    assert view["actions"][0]["state"] == failure.value
    assert "os/flaky" in view["message"]


@pytest.mark.parametrize(
    ("steps", "bad", "why"),
    [
        ([], (2, A.RUNNING), "has not been served"),
        ([(1, A.RUNNING), (1, A.SUCCESS)], (1, A.FAILED), "cannot become FAILED"),
        ([(1, A.RUNNING), (1, A.SUCCESS)], (1, A.TIMEOUT), "cannot become TIMEOUT"),
        ([(1, A.RUNNING), (1, A.FAILED)], (1, A.SUCCESS), "attempt 1 is over"),
    ],
)
def test_a_report_that_contradicts_the_record_is_409(
    fleet: Fleet, steps: list[tuple[int, A]], bad: tuple[int, A], why: str
) -> None:
    run = fleet.run(action("one", retries=1), action("two"))
    spec = run.next_action()
    for attempt, state in steps:
        run.machine.report(spec, state, attempt=attempt)
    with pytest.raises(Refused) as refused:
        run.machine.report(spec, bad[1], attempt=bad[0])
    assert refused.value.status == 409 and why in refused.value.problem.detail


def test_a_lookup_during_an_action_means_the_machine_restarted(fleet: Fleet) -> None:
    run = fleet.run(action("write", retries=1))
    first = run.next_action()
    run.machine.report(first, A.RUNNING)
    run.machine.lookup([run.mac])  # rebooted
    act = run.view()["actions"][0]
    assert (act["state"], act["attempt"]) == ("PENDING", 2)
    restart = act["reports"][-1]
    assert (restart["state"], restart["message"], restart["by_server"]) == (
        "FAILED",
        "machine restarted during the action",
        True,
    )
    with pytest.raises(Refused) as late:  # the old attempt's report after the reboot
        run.machine.report(first, A.SUCCESS)
    assert late.value.status == 409
    second = run.next_action()
    assert second.attempt == 2
    run.machine.report(second, A.RUNNING)
    run.machine.lookup([run.mac])  # again, and no retries left: the workflow fails
    assert run.state() == "FAILED"
    assert "machine restarted during the action" in run.view()["message"]
    assert run.machine.next().kind is NextKind.FAILED


def test_heartbeat_progress_is_kept_on_the_action(fleet: Fleet) -> None:
    run = fleet.run(action("write"))
    spec = run.next_action()
    assert run.machine.heartbeat() == wire.HeartbeatReply()
    run.machine.report(spec, A.RUNNING)
    assert not run.machine.heartbeat(spec, 512 << 20, 2 << 30).cancel
    act = run.view()["actions"][0]
    assert act["progress"] == {"done": 512 << 20, "total": 2 << 30, "unit": "bytes"}
    assert act["heartbeat_at"] is not None


def test_log_lines_are_numbered_and_a_batch_sent_twice_is_stored_once(fleet: Fleet) -> None:
    run = fleet.run(action("write", retries=1))
    spec = run.next_action()
    run.machine.report(spec, A.RUNNING)
    assert run.machine.log(spec, 0, ["one", "two"]).stored == 2
    assert run.machine.log(spec, 0, ["one", "two"]).stored == 0
    assert run.machine.log(spec, 1, ["two", "three"]).stored == 1
    run.machine.report(spec, A.FAILED, "x")
    second = run.next_action()
    assert run.machine.log(second, 0, ["again"]).stored == 1
    lines = fleet.admin.all_logs(run.id)
    assert [(x["attempt"], x["n"], x["text"]) for x in lines] == [
        (1, 0, "one"),
        (1, 1, "two"),
        (1, 2, "three"),
        (2, 0, "again"),
    ]
    with pytest.raises(Refused) as refused:
        run.machine.log(wire.ActionSpec(**{**second.__dict__, "attempt": 3}), 0, ["x"])
    assert refused.value.status == 409


def test_tasks_on_two_machines_run_in_order(fleet: Fleet) -> None:
    a_name, a_mac = fleet.machine()
    b_name, b_mac = fleet.machine()
    tpl = fleet.template(
        [task("first", a_mac, [action("a1")]), task("second", b_mac, [action("b1")])]
    )
    wf = fleet.admin.create_workflow(tpl, {"device_1": a_mac, "device_2": b_mac})
    a, b = fleet.served.machine(), fleet.served.machine()
    a.lookup([a_mac])
    b.lookup([b_mac])
    waiting = b.next()
    assert waiting.kind is NextKind.WAIT and waiting.workflow == wf["id"]
    assert "first" in waiting.message
    a1 = a.next().action
    assert a1 is not None
    a.report(a1, A.RUNNING)
    with pytest.raises(Refused) as refused:  # B may not report A's action
        b.report(a1, A.SUCCESS)
    assert refused.value.status == 403
    a.report(a1, A.SUCCESS)
    assert a.next().kind is NextKind.WAIT
    b1 = b.next().action
    assert b1 is not None and b1.task == "second"
    b.report(b1, A.RUNNING)
    assert b.report(b1, A.SUCCESS).workflow_state is wire.WorkflowState.SUCCESS
    assert a.next().kind is NextKind.DONE and b.next().kind is NextKind.DONE
    view = fleet.admin.workflow(wf["id"])
    assert [x["hardware"] for x in view["actions"]] == [a_name, b_name]


def test_the_oldest_open_workflow_is_served_first(fleet: Fleet) -> None:
    run = fleet.run(action("first-flow"))
    tpl = fleet.template([task("os", run.mac, [action("second-flow")])])
    later = fleet.admin.create_workflow(tpl, {"device_1": run.mac})
    spec = run.next_action()
    assert spec.name == "first-flow"
    run.machine.report(spec, A.RUNNING)
    run.machine.report(spec, A.SUCCESS)
    spec = run.next_action()
    assert (spec.name, spec.workflow) == ("second-flow", later["id"])


def test_toggle_allow_netboot_turns_netboot_off_on_success(fleet: Fleet) -> None:
    name, mac = fleet.machine()
    tpl = fleet.template([task("os", mac, [action("only")])])
    wf = fleet.admin.create_workflow(tpl, {"device_1": mac}, toggle_allow_netboot=True)
    client = fleet.served.machine()
    client.lookup([mac])
    spec = client.next().action
    assert spec is not None and spec.workflow == wf["id"]
    assert fleet.admin.hardware(name)["allow_netboot"]
    client.report(spec, A.RUNNING)
    client.report(spec, A.SUCCESS)
    assert not fleet.admin.hardware(name)["allow_netboot"]


def test_action_environments_never_reach_the_server_log(fleet: Fleet) -> None:
    secret = "s3cr3t-" + fleet.mac().replace(":", "")
    run = fleet.run(action("write", environment={"REGISTRY_PASSWORD": secret}))
    spec = run.next_action()
    assert spec.environment["REGISTRY_PASSWORD"] == secret
    run.machine.report(spec, A.RUNNING)
    run.machine.report(spec, A.SUCCESS)
    assert "REGISTRY_PASSWORD" in run.view()["actions"][0]["environment_keys"]
    assert secret not in str(run.view())
    assert secret not in fleet.served.log_text()
