"""A rendered template read into Tinkerbell's workflow structs, and Tinkerbell's rules.

The fields are tink's (tink/controller/internal/workflow/types.go):

    version: "0.1"                # text
    name: ubuntu                  # 1 to 199 bytes
    global_timeout: 1800          # seconds, for the whole workflow
    tasks:                        # at least one; names unique
      - name: os-installation
        worker: "{{.device_1}}"   # must not render empty
        volumes: [/dev:/dev]      # put before each action's own
        environment: {K: v}       # under each action's own
        actions:                  # names unique within the task
          - name: stream-image
            image: quay.io/tinkerbell/actions/image2disk:v1.0.0   # must parse as a reference
            timeout: 600
            command: [...]
            volumes: [...]
            environment: {MODE: 0600}   # every value the text as written: "0600"
            pid: host
            namespaces: {network: host, pid: host}   # pid here wins over `pid`
            on-timeout: [...]           # kept, as Tinkerbell keeps them (its agent runs neither)
            on-failure: [...]
            retries: 2                  # ours: the worker runs a failed attempt again, twice

`retries` is metalinit's own field (Tinkerbell has no per-action retry, tink#955): how many
times the worker runs the action again after a failed or timed-out attempt; 0 by default.
`id` is accepted and ignored, as Tinkerbell ignores it. Any other field is an error: a
typo would otherwise be dropped without a word.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from rootfs_tools.errors import UsageError
from rootfs_tools.reference import parse_reference
from server.tinkerbell.errors import TinkerbellError
from server.tinkerbell.yamlnodes import Reader, compose, line_of

MAX_NAME_BYTES = 199
MAX_RETRIES = 100
MAX_TEMPLATE_BYTES = 256 * 1024

_WORKFLOW = frozenset({"version", "name", "id", "global_timeout", "tasks"})
_TASK = frozenset({"name", "worker", "actions", "volumes", "environment"})
_ACTION = frozenset(
    {
        "name",
        "image",
        "timeout",
        "command",
        "on-timeout",
        "on-failure",
        "volumes",
        "environment",
        "pid",
        "namespaces",
        "retries",
    }
)
_NAMESPACES = frozenset({"network", "pid"})


@dataclass(frozen=True)
class RenderedAction:
    name: str
    image: str
    timeout: int  # seconds; 0: none
    command: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)  # task's, then the action's own
    volumes: tuple[str, ...] = ()  # task's, then the action's own
    pid: str = ""
    network: str = ""
    retries: int = 0
    on_timeout: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()
    line: int = 0  # where the action starts in the rendered YAML


@dataclass(frozen=True)
class RenderedTask:
    name: str
    worker: str
    actions: tuple[RenderedAction, ...]
    line: int = 0
    worker_line: int = 0


@dataclass(frozen=True)
class RenderedWorkflow:
    name: str
    version: str
    global_timeout: int  # seconds; 0: none
    tasks: tuple[RenderedTask, ...]

    @property
    def actions(self) -> tuple[tuple[RenderedTask, RenderedAction], ...]:
        return tuple((task, action) for task in self.tasks for action in task.actions)


def _name(reader: Reader, node: yaml.Node, path: str) -> str:
    name = reader.string(node, path)
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 0 < size <= MAX_NAME_BYTES:
        why = "is empty" if size == 0 else f"is {size} bytes long"
        raise TinkerbellError(
            f"name {why}: names are 1 to {MAX_NAME_BYTES} bytes", line=line_of(node), field=path
        )
    return name


def _image(reader: Reader, node: yaml.Node, path: str) -> str:
    image = reader.string(node, path)
    if not image:
        raise TinkerbellError("image is empty", line=line_of(node), field=path)
    try:
        parse_reference(image)
    except UsageError as err:
        raise TinkerbellError(
            f"invalid action image: {err}", line=line_of(node), field=path
        ) from None
    return image


def _nonnegative(reader: Reader, node: yaml.Node, path: str, most: int | None = None) -> int:
    value = reader.integer(node, path)
    if value < 0 or (most is not None and value > most):
        bound = f"0 to {most}" if most is not None else "0 or more"
        raise TinkerbellError(f"must be {bound}, not {value}", line=line_of(node), field=path)
    return value


def _action(
    reader: Reader,
    node: yaml.Node,
    path: str,
    task_volumes: tuple[str, ...],
    task_env: dict[str, str],
) -> RenderedAction:
    fields = reader.struct(node, path, _ACTION)
    if "name" not in fields:
        raise TinkerbellError("action has no name", line=line_of(node), field=path)
    if "image" not in fields:
        raise TinkerbellError("action has no image", line=line_of(node), field=f"{path}.image")

    def get(key: str) -> yaml.Node | None:
        return fields.get(key)

    def strings(key: str) -> tuple[str, ...]:
        value = get(key)
        return reader.strings(value, f"{path}.{key}") if value is not None else ()

    env_node = get("environment")
    environment = dict(task_env)
    if env_node is not None:
        environment.update(reader.string_map(env_node, f"{path}.environment"))
    pid = reader.string(fields["pid"], f"{path}.pid") if "pid" in fields else ""
    network = ""
    if "namespaces" in fields:
        spaces = reader.struct(fields["namespaces"], f"{path}.namespaces", _NAMESPACES)
        network = (
            reader.string(spaces["network"], f"{path}.namespaces.network")
            if "network" in spaces
            else ""
        )
        if "pid" in spaces:
            pid = reader.string(spaces["pid"], f"{path}.namespaces.pid") or pid
    return RenderedAction(
        name=_name(reader, fields["name"], f"{path}.name"),
        image=_image(reader, fields["image"], f"{path}.image"),
        timeout=_nonnegative(reader, fields["timeout"], f"{path}.timeout")
        if "timeout" in fields
        else 0,
        command=strings("command"),
        environment=environment,
        volumes=task_volumes + strings("volumes"),
        pid=pid,
        network=network,
        retries=_nonnegative(reader, fields["retries"], f"{path}.retries", MAX_RETRIES)
        if "retries" in fields
        else 0,
        on_timeout=strings("on-timeout"),
        on_failure=strings("on-failure"),
        line=line_of(node),
    )


def _task(reader: Reader, node: yaml.Node, path: str) -> RenderedTask:
    fields = reader.struct(node, path, _TASK)
    if "name" not in fields:
        raise TinkerbellError("task has no name", line=line_of(node), field=path)
    name = _name(reader, fields["name"], f"{path}.name")
    worker = reader.string(fields["worker"], f"{path}.worker") if "worker" in fields else ""
    volumes = reader.strings(fields["volumes"], f"{path}.volumes") if "volumes" in fields else ()
    env = (
        reader.string_map(fields["environment"], f"{path}.environment")
        if "environment" in fields
        else {}
    )
    actions: list[RenderedAction] = []
    seen: dict[str, int] = {}
    items = reader.sequence(fields["actions"], f"{path}.actions") if "actions" in fields else []
    for i, item in enumerate(items):
        action = _action(reader, item, f"{path}.actions[{i}]", volumes, env)
        if action.name in seen:
            raise TinkerbellError(
                f"two actions in a task cannot have the same name: {action.name!r} is also "
                f"actions[{seen[action.name]}]",
                line=action.line,
                field=f"{path}.actions[{i}].name",
            )
        seen[action.name] = i
        actions.append(action)
    worker_line = line_of(fields["worker"]) if "worker" in fields else line_of(node)
    return RenderedTask(name, worker, tuple(actions), line_of(node), worker_line)


def read_workflow(text: str) -> RenderedWorkflow:
    """Read and validate rendered template YAML; errors name the line and the field."""
    documents = compose(text, "the template", MAX_TEMPLATE_BYTES)
    if not documents:
        raise TinkerbellError("the template is empty")
    if len(documents) > 1:
        raise TinkerbellError(
            "a template is one YAML document; this has more", line=line_of(documents[1])
        )
    root = documents[0]
    reader = Reader()
    fields = reader.struct(root, "", _WORKFLOW)
    if "name" not in fields:
        raise TinkerbellError("the template has no name", line=line_of(root), field="name")
    name = _name(reader, fields["name"], "name")
    version = reader.string(fields["version"], "version") if "version" in fields else ""
    if "id" in fields:
        reader.string(fields["id"], "id")
    timeout = (
        _nonnegative(reader, fields["global_timeout"], "global_timeout")
        if "global_timeout" in fields
        else 0
    )
    items = reader.sequence(fields["tasks"], "tasks") if "tasks" in fields else []
    if not items:
        where = fields.get("tasks", root)
        raise TinkerbellError(
            "template must have at least one task", line=line_of(where), field="tasks"
        )
    tasks: list[RenderedTask] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        task = _task(reader, item, f"tasks[{i}]")
        if task.name in seen:
            raise TinkerbellError(
                f"two tasks in a template cannot have the same name: {task.name!r} is also "
                f"tasks[{seen[task.name]}]",
                line=task.line,
                field=f"tasks[{i}].name",
            )
        seen[task.name] = i
        tasks.append(task)
    return RenderedWorkflow(name, version, timeout, tuple(tasks))


def check_workers(workflow: RenderedWorkflow) -> None:
    """After rendering for a machine: every task's worker must have a value."""
    for i, task in enumerate(workflow.tasks):
        if not task.worker.strip():
            raise TinkerbellError(
                "worker is empty after rendering: give the hardware map the key the template "
                "uses for it (e.g. device_1=MAC)",
                line=task.worker_line,
                field=f"tasks[{i}].worker",
            )
