"""DNS promises of a headless Service over StatefulSet pods, judged from answers given as plain data.

Whoever queries (dnspython over port-forward, exec, a direct address) hands in answers
as ``name → records`` with ``None`` for NXDOMAIN, so these checks stay pure and the
same answers go into the failure report. A name the checks need but that was not
queried is reported, never silently passed: :func:`expected_queries` lists them.

Record shapes follow the kubernetes/dns specification (catalog §4): per-pod A only for
pods published by the Service, set-wide A one record per published pod, SRV per named
port targeting pod FQDNs, PTR of a published pod IP back to its FQDN.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from ordinal.kube import objects as o
from ordinal.labels import TOLERATE_UNREADY_ANNOTATION
from ordinal.types import Answers, DnsAnswers, Finding, Obj

NOT_QUERIED = "<not queried>"


def normalize(name: str) -> str:
    return name.rstrip(".").lower()


def service_fqdn(service: str, namespace: str, zone: str) -> str:
    return f"{service}.{namespace}.svc.{zone}"


def pod_fqdn(pod: str, service: str, namespace: str, zone: str) -> str:
    return f"{pod}.{service_fqdn(service, namespace, zone)}"


def srv_name(port: str, protocol: str, service: str, namespace: str, zone: str) -> str:
    return f"_{port}._{protocol.lower()}.{service_fqdn(service, namespace, zone)}"


def reverse_name(ip: str) -> str:
    """``10.1.2.3`` → ``3.2.1.10.in-addr.arpa`` (and the nibble form for IPv6)."""
    return ipaddress.ip_address(ip).reverse_pointer


def headless(service: Obj | None) -> bool:
    return service is not None and o.spec(service).get("clusterIP") == "None"


def publishes_not_ready(service: Obj) -> bool:
    return bool(o.spec(service).get("publishNotReadyAddresses")) or (
        str(o.meta(service).get("annotations", {}).get(TOLERATE_UNREADY_ANNOTATION, "")).lower() == "true"
    )


def published(service: Obj | None, pod: Obj) -> bool:
    """The Service lists ``pod`` as a DNS-visible endpoint: selected, has an IP, Ready (or tolerated)."""
    if not headless(service) or service is None:
        return False
    selector = o.spec(service).get("selector") or {}
    if not o.selector_matches(selector, o.labels(pod)) or o.pod_ip(pod) is None:
        return False
    return publishes_not_ready(service) or (o.pod_ready(pod) and not o.terminating(pod))


def has_own_record(service: Obj | None, pod: Obj) -> bool:
    """Published *and* named: ``spec.subdomain`` is the Service, so the endpoint carries the hostname."""
    return (
        service is not None
        and published(service, pod)
        and o.spec(pod).get("subdomain") == o.name(service)
        and bool(o.spec(pod).get("hostname"))
    )


def expected_queries(
    service: Obj | None,
    pods: Sequence[Obj],
    *,
    service_name: str | None = None,
    namespace: str | None = None,
    zone: str,
) -> dict[str, list[str]]:
    """Every name the checks below read, by record type, so a prober asks exactly those."""
    svc, ns = _names(service, service_name, namespace)
    a = [service_fqdn(svc, ns, zone)] + [pod_fqdn(o.name(p), svc, ns, zone) for p in pods]
    srv = [srv_name(n, proto, svc, ns, zone) for n, proto in _named_ports(service)]
    ips = sorted({ip for ip in (o.pod_ip(p) for p in pods) if ip})
    ptr = [reverse_name(ip) for ip in ips]
    return {"A": a, "SRV": srv, "PTR": ptr}


def check_dns(
    answers: DnsAnswers,
    service: Obj | None,
    pods: Sequence[Obj],
    *,
    service_name: str | None = None,
    namespace: str | None = None,
    zone: str,
) -> list[Finding]:
    """All DNS checks at once; ``service=None`` means "serviceName names no Service"."""
    kw: dict[str, Any] = {"service_name": service_name, "namespace": namespace, "zone": zone}
    return (
        check_pod_records(answers.a, service, pods, **kw)
        + check_service_records(answers.a, service, pods, **kw)
        + check_srv_records(answers.srv, service, pods, **kw)
        + check_ptr_records(answers.ptr, service, pods, **kw)
    )


def check_pod_records(
    a: Answers,
    service: Obj | None,
    pods: Sequence[Obj],
    *,
    service_name: str | None = None,
    namespace: str | None = None,
    zone: str,
) -> list[Finding]:
    """Per-pod A: the pod's IP when published; NXDOMAIN when not, or when there is no headless Service."""
    svc, ns = _names(service, service_name, namespace)
    findings: list[Finding] = []
    for pod in pods:
        name = pod_fqdn(o.name(pod), svc, ns, zone)
        seen = _lookup(a, name)
        subject = f"dns {name} A"
        if not headless(service):
            if o.spec(pod).get("subdomain") == svc and seen != []:
                findings.append(Finding("dns.no-records-without-service", subject, o.ref(pod), "NXDOMAIN", seen))
        elif has_own_record(service, pod):
            if seen != [o.pod_ip(pod)]:
                findings.append(Finding("dns.per-pod-a-record", subject, o.ref(pod), [o.pod_ip(pod)], seen))
        elif service is not None and _selected(service, pod) and not published(service, pod) and seen != []:
            findings.append(Finding("dns.not-ready-absent", subject, o.ref(pod), "NXDOMAIN", _why(pod, seen)))
    return findings


def check_record_follows(
    name: str, pod: str, before: list[str] | None, after: list[str] | None, old_ip: str, new_ip: str
) -> list[Finding]:
    """A replaced pod's own name: ``[old_ip]`` before the disruption, ``[new_ip]`` after it.

    Asking before is what tells a stale answer (the deleted pod's address, still served)
    from a fresh one; a stale answer is reported with both addresses.
    """
    subject = f"dns {name} A"
    findings: list[Finding] = []
    if before != [old_ip]:
        findings.append(Finding("dns.per-pod-a-record", subject, f"{pod} before the disruption", [old_ip], _nx(before)))
    if after == [new_ip]:
        return findings
    if old_ip != new_ip and old_ip in (after or ()):
        seen = f"{after} (stale: the replaced pod's address {old_ip}; the new pod has {new_ip})"
        findings.append(Finding("dns.record-follows-pod", subject, f"{pod} after the replacement", [new_ip], seen))
    else:
        findings.append(
            Finding("dns.record-follows-pod", subject, f"{pod} after the replacement", [new_ip], _nx(after))
        )
    return findings


def _nx(answer: list[str] | None) -> Any:
    return "NXDOMAIN" if answer is None else answer


def check_service_records(
    a: Answers,
    service: Obj | None,
    pods: Sequence[Obj],
    *,
    service_name: str | None = None,
    namespace: str | None = None,
    zone: str,
) -> list[Finding]:
    """``<svc>.<ns>.svc.<zone>``: exactly one A per published pod (NXDOMAIN at none); no not-Ready pod IPs."""
    if not headless(service) or service is None:
        return []
    svc, ns = _names(service, service_name, namespace)
    name = service_fqdn(svc, ns, zone)
    seen = _lookup(a, name)
    want = sorted(ip for p in pods if published(service, p) and (ip := o.pod_ip(p)))
    subject = f"dns {name} A"
    if seen == NOT_QUERIED:
        return [Finding("dns.service-a-records", subject, "answer", want or "NXDOMAIN", seen)]
    records = sorted(seen)
    findings: list[Finding] = []
    if records != want:
        findings.append(Finding("dns.service-a-records", subject, "answer", want or "NXDOMAIN", records or "NXDOMAIN"))
    for pod in pods:
        ip = o.pod_ip(pod)
        if ip in records and _selected(service, pod) and not published(service, pod):
            findings.append(Finding("dns.not-ready-absent", subject, o.ref(pod), f"no record {ip}", _why(pod, records)))
    return findings


def check_srv_records(
    srv: Answers,
    service: Obj | None,
    pods: Sequence[Obj],
    *,
    service_name: str | None = None,
    namespace: str | None = None,
    zone: str,
) -> list[Finding]:
    """``_<port>._<proto>.<svc>…`` for each named port: targets are exactly the published pods' FQDNs."""
    if not headless(service) or service is None:
        return []
    svc, ns = _names(service, service_name, namespace)
    want = sorted(pod_fqdn(o.name(p), svc, ns, zone) for p in pods if has_own_record(service, p))
    findings: list[Finding] = []
    for port, proto in _named_ports(service):
        name = srv_name(port, proto, svc, ns, zone)
        seen = _lookup(srv, name)
        targets = seen if seen == NOT_QUERIED else sorted({normalize(r.split()[-1]) for r in seen if r.split()})
        if targets != want:
            findings.append(Finding("dns.srv-targets", f"dns {name} SRV", "targets", want or "NXDOMAIN", targets))
    return findings


def check_ptr_records(
    ptr: Answers,
    service: Obj | None,
    pods: Sequence[Obj],
    *,
    service_name: str | None = None,
    namespace: str | None = None,
    zone: str,
) -> list[Finding]:
    """Reverse lookup of each published pod IP names the pod's FQDN."""
    if not headless(service) or service is None:
        return []
    svc, ns = _names(service, service_name, namespace)
    findings: list[Finding] = []
    for pod in pods:
        ip = o.pod_ip(pod)
        if ip is None or not has_own_record(service, pod):
            continue
        want = pod_fqdn(o.name(pod), svc, ns, zone)
        seen = _lookup(ptr, reverse_name(ip))
        if seen == NOT_QUERIED or want not in {normalize(r) for r in seen}:
            findings.append(Finding("dns.ptr-record", f"dns {reverse_name(ip)} PTR", o.ref(pod), want, seen))
    return findings


def check_governing_service(sts: Obj, service: Obj | None, pods: Sequence[Obj], zone: str) -> list[Finding]:
    """The set's ``serviceName`` MUST name a headless Service: otherwise no pod has its own record."""
    if headless(service):
        return []
    service_name = str(o.spec(sts).get("serviceName") or "")
    why = "no such Service" if service is None else "Service is not headless (clusterIP is not None)"
    return [
        Finding(
            "dns.per-pod-a-record",
            f"dns {pod_fqdn(o.name(pod), service_name, o.namespace(sts), zone)} A",
            o.ref(pod),
            [o.pod_ip(pod)],
            f"unresolvable: serviceName {service_name!r}: {why}",
        )
        for pod in pods
    ]


def check_endpoint_slices(service: Obj, pods: Sequence[Obj], slices: Sequence[Obj]) -> list[Finding]:
    """The Service's EndpointSlices list each selected pod with its IP, hostname and readiness.

    Tells "the endpoint controller is wrong" apart from "the DNS server is wrong" when a
    DNS check fails.
    """
    svc = o.name(service)
    endpoints: dict[str, Obj] = {}
    for eps in slices:
        if o.labels(eps).get("kubernetes.io/service-name") != svc or o.namespace(eps) != o.namespace(service):
            continue
        for ep in eps.get("endpoints") or ():
            target = ep.get("targetRef") or {}
            if target.get("kind") == "Pod":
                endpoints[str(target.get("name"))] = ep
    findings: list[Finding] = []
    for pod in pods:
        if not _selected(service, pod) or o.pod_ip(pod) is None:
            continue
        want = {
            "addresses": [o.pod_ip(pod)],
            "hostname": o.name(pod) if o.spec(pod).get("subdomain") == svc else None,
            "ready": o.pod_ready(pod) and not o.terminating(pod),
        }
        ep = endpoints.get(o.name(pod))
        seen = (
            {
                "addresses": list(ep.get("addresses") or ()),
                "hostname": ep.get("hostname"),
                "ready": bool((ep.get("conditions") or {}).get("ready")),
            }
            if ep is not None
            else None
        )
        if seen != want:
            findings.append(Finding("dns.endpoint-slice", o.subject(pod, "Pod"), f"endpointslices[{svc}]", want, seen))
    return findings


def _names(service: Obj | None, service_name: str | None, namespace: str | None) -> tuple[str, str]:
    svc = service_name or (o.name(service) if service is not None else "")
    ns = namespace or (o.namespace(service) if service is not None else "")
    if not svc or not ns:
        raise ValueError("a DNS check needs the Service object or service_name and namespace")
    return svc, ns


def _named_ports(service: Obj | None) -> list[tuple[str, str]]:
    if service is None:
        return []
    ports = o.spec(service).get("ports") or ()
    return [(str(p["name"]), str(p.get("protocol") or "TCP")) for p in ports if isinstance(p, dict) and p.get("name")]


def _selected(service: Obj, pod: Obj) -> bool:
    return o.selector_matches(o.spec(service).get("selector") or {}, o.labels(pod))


def _lookup(answers: Answers, name: str) -> Any:
    """Records under ``name`` (NXDOMAIN → ``[]``), or :data:`NOT_QUERIED`."""
    wanted = normalize(name)
    for key, records in answers.items():
        if normalize(key) == wanted:
            return [str(r).rstrip(".") if r.count(" ") == 0 else str(r) for r in records or ()]
    return NOT_QUERIED


def _why(pod: Obj, seen: Any) -> str:
    state = "terminating" if o.terminating(pod) else f"Ready={o.pod_ready(pod)}"
    return f"{seen} while {o.name(pod)} is {state} ({o.pod_ip(pod)})"


# -- seen from inside a pod -------------------------------------------------------------------


def parse_hosts(text: str) -> list[tuple[str, list[str]]]:
    """``/etc/hosts`` → [(address, [names…])], comments and blank lines dropped."""
    rows = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            rows.append((fields[0], fields[1:]))
    return rows


def parse_lookup_addresses(text: str, name: str) -> list[str]:
    """The addresses an ``nslookup <name>`` printed for ``name`` (busybox and bind styles).

    The resolver's own address (the ``Server:`` block before the first ``Name:``) is skipped.
    """
    found: list[str] = []
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        key, _, value = line.partition(":")
        if key == "Name":
            current = normalize(value.strip())
        elif key.startswith("Address") and current is not None and current == normalize(name):
            address = value.strip().split()[0] if value.strip() else ""
            if address:
                found.append(address)
    return found


def check_own_hosts_entry(pod: Obj, service: str, hosts_text: str) -> tuple[list[Finding], str | None]:
    """The kubelet MUST write ``<ip> <pod>.<svc>.<ns>.svc.<zone> <pod>`` into the pod's /etc/hosts.

    Returns the findings and the FQDN found there (which also tells the cluster's DNS zone).
    """
    prefix = f"{o.name(pod)}.{service}.{o.namespace(pod)}.svc."
    ip = o.pod_ip(pod)
    for address, names in parse_hosts(hosts_text):
        fqdn = next((n for n in names if normalize(n).startswith(prefix)), None)
        if fqdn is not None:
            if address != ip:
                return [Finding("dns.own-hosts-entry", o.subject(pod, "Pod"), "/etc/hosts", ip, address)], fqdn
            return [], normalize(fqdn)
    seen = [f"{a} {' '.join(n)}" for a, n in parse_hosts(hosts_text) if a == ip] or None
    expected = f"{ip} {prefix}<zone> {o.name(pod)}"
    return [Finding("dns.own-hosts-entry", o.subject(pod, "Pod"), "/etc/hosts", expected, seen)], None


def check_lookup_from_pod(asker: Obj, target: Obj, fqdn: str, lookup_text: str) -> list[Finding]:
    """From ``asker``, ``fqdn`` (the target's stable name) MUST resolve to exactly the target's IP."""
    seen = sorted(set(parse_lookup_addresses(lookup_text, fqdn)))
    wanted = [o.pod_ip(target)]
    if seen == wanted:
        return []
    path = f"nslookup {fqdn} (from pod {o.name(asker)})"
    return [Finding("dns.lookup-from-pod", o.subject(target, "Pod"), path, wanted, seen or lookup_text.strip()[-200:])]


def check_search_path(pod: Obj, zone: str, resolv_text: str) -> list[Finding]:
    """A pod's resolv.conf MUST search ``<ns>.svc.<zone>`` first, so ``<pod>.<svc>`` resolves by its short name."""
    search = next((line.split()[1:] for line in resolv_text.splitlines() if line.startswith("search")), [])
    wanted = f"{o.namespace(pod)}.svc.{zone}"
    if search[:1] == [wanted]:
        return []
    return [Finding("dns.search-path", o.subject(pod, "Pod"), "/etc/resolv.conf search", wanted, search or None)]
