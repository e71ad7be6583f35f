"""Tinkerbell's Kubernetes-style objects, as `kubectl apply -f` takes them: one or several
YAML documents of `apiVersion: tinkerbell.org/v1alpha1`, `kind: Hardware | Template |
Workflow`.

Read as Kubernetes reads them (YAML 1.1 scalars into typed fields), strictly: an unknown
field, a wrong type, an unknown kind or apiVersion is an error naming the document, the
line and the field, as `kubectl apply` with server-side field validation reports it.
`metadata` takes the usual object fields (uid, resourceVersion, … are read and dropped) and
`status` is ignored, so `kubectl get -o yaml` output applies too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from server.tinkerbell.errors import TinkerbellError
from server.tinkerbell.hardware import API_VERSION, Hardware, check_name
from server.tinkerbell.schema import decode
from server.tinkerbell.yamlnodes import Reader, compose, line_of

MAX_FILE_BYTES = 4 * 1024 * 1024

_TOP = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_META = frozenset(
    {
        "name",
        "namespace",
        "labels",
        "annotations",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "finalizers",
        "ownerReferences",
        "managedFields",
        "generateName",
        "selfLink",
    }
)
_TEMPLATE_SPEC = frozenset({"data"})
_WORKFLOW_SPEC = frozenset({"templateRef", "hardwareRef", "hardwareMap", "bootOptions", "disabled"})
_BOOT_OPTIONS = frozenset({"toggleAllowNetboot", "isoURL", "bootMode", "custombootConfig"})


@dataclass(frozen=True)
class TemplateObject:
    name: str
    data: str  # the template source, spec.data
    namespace: str = ""
    line: int = 0  # where spec.data starts, so template errors can point into the file


@dataclass(frozen=True)
class WorkflowObject:
    name: str
    template_ref: str
    hardware_ref: str = ""
    hardware_map: Mapping[str, str] = field(default_factory=dict)
    toggle_allow_netboot: bool = True  # absent: netboot off after success (ours, not Tinkerbell's)
    disabled: bool = False
    namespace: str = ""


TinkerbellObject = Hardware | TemplateObject | WorkflowObject


def _meta(
    reader: Reader, node: yaml.Node | None, root: yaml.Node
) -> tuple[str, str, dict[str, str]]:
    if node is None:
        raise TinkerbellError("metadata.name is missing", line=line_of(root), field="metadata")
    fields = reader.struct(node, "metadata", _META)
    if "name" not in fields:
        raise TinkerbellError("metadata.name is missing", line=line_of(node), field="metadata.name")
    name = reader.string(fields["name"], "metadata.name")
    try:
        check_name(name)
    except TinkerbellError as err:
        raise TinkerbellError(
            err.message, line=line_of(fields["name"]), field="metadata.name"
        ) from None
    namespace = (
        reader.string(fields["namespace"], "metadata.namespace") if "namespace" in fields else ""
    )
    labels = reader.string_map(fields["labels"], "metadata.labels") if "labels" in fields else {}
    for key in _META - {"name", "namespace", "labels"}:
        if key in fields:
            reader.plain(fields[key], f"metadata.{key}")
    return name, namespace, labels


def _hardware(
    reader: Reader, spec: yaml.Node | None, name: str, namespace: str, labels: dict[str, str]
) -> Hardware:
    data: dict[str, Any] = decode(reader, spec, "HardwareSpec", "spec") if spec is not None else {}
    try:
        return Hardware(name, data, namespace, labels)
    except TinkerbellError as err:
        line = line_of(spec) if spec is not None else 0
        raise TinkerbellError(err.message, line=line, field=err.field) from None


def _template(reader: Reader, spec: yaml.Node | None, name: str, namespace: str) -> TemplateObject:
    if spec is None:
        raise TinkerbellError("a Template needs spec.data, the template itself", field="spec")
    fields = reader.struct(spec, "spec", _TEMPLATE_SPEC)
    if "data" not in fields:
        raise TinkerbellError(
            "a Template needs spec.data, the template itself", line=line_of(spec), field="spec.data"
        )
    data = reader.string(fields["data"], "spec.data")
    return TemplateObject(name, data, namespace, line_of(fields["data"]))


def _workflow(reader: Reader, spec: yaml.Node | None, name: str, namespace: str) -> WorkflowObject:
    if spec is None:
        raise TinkerbellError("a Workflow needs spec.templateRef", field="spec")
    fields = reader.struct(spec, "spec", _WORKFLOW_SPEC)
    if "templateRef" not in fields:
        raise TinkerbellError(
            "a Workflow needs spec.templateRef", line=line_of(spec), field="spec.templateRef"
        )
    toggle = True  # without bootOptions the installer is not booted again either
    if "bootOptions" in fields:
        options = reader.struct(fields["bootOptions"], "spec.bootOptions", _BOOT_OPTIONS)
        for key in ("isoURL", "bootMode", "custombootConfig"):
            if key in options and not reader.is_null(options[key]):
                raise TinkerbellError(
                    f"bootOptions.{key} needs a BMC, which metalinit does not drive; only "
                    "toggleAllowNetboot is supported",
                    line=line_of(options[key]),
                    field=f"spec.bootOptions.{key}",
                )
        if "toggleAllowNetboot" in options:
            toggle = reader.boolean(
                options["toggleAllowNetboot"], "spec.bootOptions.toggleAllowNetboot"
            )
    return WorkflowObject(
        name=name,
        template_ref=reader.string(fields["templateRef"], "spec.templateRef"),
        hardware_ref=reader.string(fields["hardwareRef"], "spec.hardwareRef")
        if "hardwareRef" in fields
        else "",
        hardware_map=reader.string_map(fields["hardwareMap"], "spec.hardwareMap")
        if "hardwareMap" in fields
        else {},
        toggle_allow_netboot=toggle,
        disabled=reader.boolean(fields["disabled"], "spec.disabled")
        if "disabled" in fields
        else False,
        namespace=namespace,
    )


def _object(root: yaml.Node) -> TinkerbellObject:
    reader = Reader()
    fields = reader.struct(root, "", _TOP)
    api = reader.string(fields["apiVersion"], "apiVersion") if "apiVersion" in fields else ""
    kind = reader.string(fields["kind"], "kind") if "kind" in fields else ""
    if api != API_VERSION:
        where = fields.get("apiVersion", root)
        raise TinkerbellError(
            f"apiVersion is {api!r}: only {API_VERSION} objects are read here",
            line=line_of(where),
            field="apiVersion",
        )
    name, namespace, labels = _meta(reader, fields.get("metadata"), root)
    spec = fields.get("spec")
    if kind == "Hardware":
        return _hardware(reader, spec, name, namespace, labels)
    if kind == "Template":
        return _template(reader, spec, name, namespace)
    if kind == "Workflow":
        return _workflow(reader, spec, name, namespace)
    raise TinkerbellError(
        f"kind is {kind!r}: only Hardware, Template and Workflow are read here",
        line=line_of(fields.get("kind", root)),
        field="kind",
    )


def parse_objects(text: str) -> list[TinkerbellObject]:
    """Every object in a YAML file (documents separated by `---`), in file order."""
    documents = compose(text, "the file", MAX_FILE_BYTES)
    objects: list[TinkerbellObject] = []
    for number, root in enumerate(documents, start=1):
        try:
            objects.append(_object(root))
        except TinkerbellError as err:
            raise err.in_document(number) if len(documents) > 1 else err from None
    if not objects:
        raise TinkerbellError("the file holds no objects")
    return objects
