"""The behaviour of simulated nodes and pods, as kwok Stages (kwok has none built in).

Nodes turn Ready at once; their Lease, renewed by kwok, is the heartbeat. A node kwok stops
managing (its ``ordinal.dev/node-kind`` label removed) stops heartbeating and the node
lifecycle controller marks it unreachable: that is how experiments lose a node.

Pods turn Running and Ready at once with a pod IP, unless labelled
``ordinal.dev/simulate=unready``, which keeps (or turns) them Running but not Ready — the
simulated equivalent of a failing readiness probe. A pod being deleted terminates as a kubelet
shows it: it turns not Ready at once, keeps its deletionTimestamp for its grace period (at most
:data:`TERMINATION_CAP_SECONDS`, as the suite's own pods exit on SIGTERM within a second or two),
and is then removed; a pod held by a finalizer stays Terminating and not Ready.
"""

from __future__ import annotations

from typing import Any

import yaml

from ordinal.labels import SIMULATE_LABEL, UNREADY
from ordinal.localcluster.components import NODE_LEASE_SECONDS

#: Longest a simulated pod stays Terminating before it is removed (its grace period when shorter).
TERMINATION_CAP_SECONDS = 2

_NODE_STATUS = """\
{{ $now := Now }}
conditions:
{{ range $c := list (list "Ready" "True" "KubeletReady") \
  (list "MemoryPressure" "False" "KubeletHasSufficientMemory") \
  (list "DiskPressure" "False" "KubeletHasNoDiskPressure") \
  (list "PIDPressure" "False" "KubeletHasSufficientPID") \
  (list "NetworkUnavailable" "False" "RouteCreated") }}
- type: {{ index $c 0 }}
  status: {{ index $c 1 | Quote }}
  reason: {{ index $c 2 }}
  message: simulated by kwok for ordinal
  lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
addresses:
{{ with NodeIP }}
- {type: InternalIP, address: {{ . | Quote }}}
{{ end }}
- {type: Hostname, address: {{ .metadata.name | Quote }}}
{{ with NodePort }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ . }}
{{ end }}
{{ with .status.allocatable }}
allocatable:
{{ YAML . 1 }}
{{ end }}
{{ with .status.capacity }}
capacity:
{{ YAML . 1 }}
{{ end }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: {{ printf "kwok-%s" Version | Quote }}
  osImage: ordinal simulated node
  machineID: ""
  bootID: ""
  systemUUID: ""
phase: Running
"""

_POD_STATUS = """\
{{ $now := Now }}
conditions:
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "READY", lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "READY", lastTransitionTime: {{ $now | Quote }}}
{{ range .spec.readinessGates }}
- {type: {{ .conditionType | Quote }}, status: "True", lastTransitionTime: {{ $now | Quote }}}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: READY_BOOL
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) \
  ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ or .status.startTime $now | Quote }}
"""


def _stage(
    name: str, kind: str, expressions: list[dict[str, Any]], nxt: dict[str, Any], delay: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": expressions},
        "next": nxt,
    }
    if delay is not None:
        spec["delay"] = delay
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": name}, "spec": spec}


def _ready_is_not(value: str) -> dict[str, Any]:
    return {
        "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
        "operator": "NotIn",
        "values": [value],
    }


_NOT_DELETING = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
_DELETING = {"key": ".metadata.deletionTimestamp", "operator": "Exists"}
#: Only the conditions: re-rendering the pod IPs of an existing pod is refused (two IPs of one family).
_TERMINATING_STATUS = """\
{{ $now := Now }}
conditions:
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "False", reason: PodTerminating, lastTransitionTime: {{ $now | Quote }}}
- {type: Ready, status: "False", reason: PodTerminating, lastTransitionTime: {{ $now | Quote }}}
"""
#: min(deletionGracePeriodSeconds, the cap) as a duration kwok reads (the delete stage only sees a grace above 0).
_GRACE = f'[(.metadata.deletionGracePeriodSeconds // 0), {TERMINATION_CAP_SECONDS}] | min | tostring + "s"'
_LABEL_KEY = f'.metadata.labels["{SIMULATE_LABEL}"]'
#: kwok deletes by name, without a UID precondition. A pod whose grace period is already 0 is
#: being removed by the API server itself (a force delete, or kwok's own delete landing); a stage
#: played for it could fire after the controller has created the next pod of the same name and
#: delete that one instead. So the delete stage only ever acts on a grace period still running.
_GRACE_RUNNING = {"key": "(.metadata.deletionGracePeriodSeconds // 0) > 0", "operator": "In", "values": ["true"]}


def _pod_status(ready: bool) -> str:
    word = "True" if ready else "False"
    return _POD_STATUS.replace('"READY"', f'"{word}"').replace("READY_BOOL", word.lower())


def stages() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokConfiguration",
            # A config file replaces kwok's defaults wholesale, so the parallelism settings are spelled out.
            "options": {
                "nodeLeaseDurationSeconds": NODE_LEASE_SECONDS,
                "nodeLeaseParallelism": 4,
                "nodePlayStageParallelism": 4,
                "podPlayStageParallelism": 4,
                "podsOnNodeSyncParallelism": 1,
                "enablePodsOnNodeSyncListPager": True,
            },
        },
        _stage("ordinal-node-ready", "Node", [_ready_is_not("True")], {"statusTemplate": _NODE_STATUS}),
        _stage(
            "ordinal-pod-ready",
            "Pod",
            [_NOT_DELETING, {"key": _LABEL_KEY, "operator": "DoesNotExist"}, _ready_is_not("True")],
            {"statusTemplate": _pod_status(True)},
        ),
        _stage(
            "ordinal-pod-unready",
            "Pod",
            [
                _NOT_DELETING,
                {"key": _LABEL_KEY, "operator": "In", "values": [UNREADY]},
                _ready_is_not("False"),
            ],
            {"statusTemplate": _pod_status(False)},
        ),
        _stage(
            "ordinal-pod-terminating",
            "Pod",
            [_DELETING, _ready_is_not("False")],
            {"statusTemplate": _TERMINATING_STATUS},
        ),
        _stage(
            "ordinal-pod-delete",
            "Pod",
            [
                _DELETING,
                _GRACE_RUNNING,
                {"key": ".metadata.finalizers", "operator": "DoesNotExist"},
                _ready_is_not("True"),
            ],
            {"delete": True},
            delay={"durationMilliseconds": 0, "durationFrom": {"expressionFrom": _GRACE}},
        ),
    ]


def render() -> str:
    text: str = yaml.safe_dump_all(stages(), sort_keys=False)
    return text
