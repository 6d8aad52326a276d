from __future__ import annotations

from factories import NS, endpoint_slice, pod, pods, rules, service

from ordinal.checks.dns import (
    NOT_QUERIED,
    DnsAnswers,
    check_dns,
    check_endpoint_slices,
    check_lookup_from_pod,
    check_own_hosts_entry,
    check_pod_records,
    check_ptr_records,
    check_record_follows,
    check_search_path,
    check_service_records,
    check_srv_records,
    expected_queries,
    parse_lookup_addresses,
    pod_fqdn,
    reverse_name,
)
from ordinal.types import Obj

#: Not cluster.local: the checks must take the domain they are given, never assume one.
ZONE = "corp.example"
SVC = f"web.{NS}.svc.{ZONE}"
SRV = f"_peer._tcp.{SVC}"


def answers_for(members: list[Obj], *, publish: set[str] | None = None) -> DnsAnswers:
    """What a correct DNS server says for ``members``; ``publish`` names the pods it lists."""
    shown = [p for p in members if publish is None or p["metadata"]["name"] in publish]
    a: dict[str, list[str] | None] = {SVC: [p["status"]["podIP"] for p in shown] or None}
    for p in members:
        name = p["metadata"]["name"]
        a[f"{name}.{SVC}."] = [p["status"]["podIP"]] if p in shown else None
    srv = {SRV: [f"0 33 8080 {p['metadata']['name']}.{SVC}." for p in shown] or None}
    ptr = {reverse_name(p["status"]["podIP"]): [f"{p['metadata']['name']}.{SVC}."] for p in shown}
    return DnsAnswers(a=a, srv=srv, ptr=ptr)


def test_dns_for_ready_pods_passes() -> None:
    """Per-pod A, set-wide A, SRV and PTR MUST match the Ready pods."""
    members = pods(3)
    assert check_dns(answers_for(members), service(), members, zone=ZONE) == []


def test_names_are_case_and_dot_insensitive() -> None:
    """DNS names MUST compare case-insensitively, with or without the trailing dot."""
    members = pods(1)
    answers = answers_for(members)
    shouting = DnsAnswers(a={k.upper(): v for k, v in answers.a.items()}, srv=answers.srv, ptr=answers.ptr)
    assert check_dns(shouting, service(), members, zone=ZONE) == []


def test_missing_per_pod_record_is_reported() -> None:
    """NXDOMAIN for a Ready pod's name MUST be reported with the expected IP."""
    members = pods(3)
    answers = answers_for(members)
    answers.a[f"web-1.{SVC}."] = None  # type: ignore[index]
    (finding,) = check_pod_records(answers.a, service(), members, zone=ZONE)
    assert finding.rule == "dns.per-pod-a-record"
    assert finding.subject == f"dns web-1.{SVC} A"
    assert finding.path == f"{NS}/web-1"
    assert (finding.expected, finding.seen) == (["10.244.0.11"], [])


def test_stale_per_pod_ip_is_reported() -> None:
    """After a replacement the per-pod name MUST follow the new IP."""
    members = [pod(0, ip="10.244.3.7")]
    answers = {f"web-0.{SVC}": ["10.244.0.10"]}
    (finding,) = check_pod_records(answers, service(), members, zone=ZONE)
    assert (finding.expected, finding.seen) == (["10.244.3.7"], ["10.244.0.10"])


def test_extra_a_record_for_a_not_ready_pod_is_reported() -> None:
    """An A record for an unready pod MUST be reported both as a wrong count and as the pod's own finding."""
    members = [pod(0), pod(1, ready=False), pod(2)]
    answers = answers_for(members)  # a broken server publishing everyone
    findings = check_service_records(answers.a, service(), members, zone=ZONE)
    assert [(f.rule, f.subject) for f in findings] == [
        ("dns.service-a-records", f"dns {SVC} A"),
        ("dns.not-ready-absent", f"dns {SVC} A"),
    ]
    assert findings[0].expected == ["10.244.0.10", "10.244.0.12"]
    assert findings[0].seen == ["10.244.0.10", "10.244.0.11", "10.244.0.12"]
    assert findings[1].path == f"{NS}/web-1"
    assert "web-1 is Ready=False" in findings[1].seen
    (own,) = check_pod_records(answers.a, service(), members, zone=ZONE)
    assert own.rule == "dns.not-ready-absent"
    assert own.subject == f"dns web-1.{SVC} A"


def test_not_ready_pods_are_absent() -> None:
    """A correct server that leaves the unready pod out MUST pass."""
    members = [pod(0), pod(1, ready=False), pod(2, deleting=True)]
    assert check_dns(answers_for(members, publish={"web-0"}), service(), members, zone=ZONE) == []


def test_publish_not_ready_addresses_lists_every_pod() -> None:
    """With publishNotReadyAddresses unready and terminating pods MUST be published too."""
    members = [pod(0), pod(1, ready=False), pod(2, deleting=True)]
    svc = service(publish_not_ready=True)
    assert check_dns(answers_for(members), svc, members, zone=ZONE) == []
    findings = check_dns(answers_for(members, publish={"web-0"}), svc, members, zone=ZONE)
    assert sorted(set(rules(findings))) == [
        "dns.per-pod-a-record",
        "dns.ptr-record",
        "dns.service-a-records",
        "dns.srv-targets",
    ]


def test_no_ready_pods_means_nxdomain() -> None:
    """At zero Ready pods the set-wide name MUST be NXDOMAIN."""
    members = [pod(0, ready=False)]
    assert check_service_records({SVC: None}, service(), members, zone=ZONE) == []
    (finding,) = check_service_records({SVC: ["10.244.0.10"]}, service(), members, zone=ZONE)[:1]
    assert (finding.expected, finding.seen) == ("NXDOMAIN", ["10.244.0.10"])


def test_srv_targets_are_the_pod_fqdns() -> None:
    """SRV for a named port MUST target exactly the Ready pods' FQDNs."""
    members = pods(3)
    srv = {SRV: [f"0 50 8080 web-0.{SVC}.", f"0 50 8080 web-1.{SVC}."]}
    (finding,) = check_srv_records(srv, service(), members, zone=ZONE)
    assert finding.rule == "dns.srv-targets"
    assert finding.subject == f"dns {SRV} SRV"
    assert finding.expected == [pod_fqdn(f"web-{i}", "web", NS, ZONE) for i in range(3)]
    assert finding.seen == [f"web-0.{SVC}", f"web-1.{SVC}"]


def test_ptr_of_pod_ip_names_the_pod() -> None:
    """Reverse lookup of a Ready pod IP MUST give its FQDN."""
    members = pods(2)
    ptr = {reverse_name("10.244.0.10"): [f"web-0.{SVC}."], reverse_name("10.244.0.11"): None}
    (finding,) = check_ptr_records(ptr, service(), members, zone=ZONE)
    assert finding.rule == "dns.ptr-record"
    assert finding.subject == "dns 11.0.244.10.in-addr.arpa PTR"
    assert (finding.expected, finding.seen) == (f"web-1.{SVC}", [])


def test_no_per_pod_records_without_a_headless_service() -> None:
    """With no Service behind serviceName, per-pod names MUST NOT resolve."""
    members = pods(2)
    answers = {f"web-0.{SVC}": None, f"web-1.{SVC}": ["10.244.0.11"]}
    (finding,) = check_pod_records(answers, None, members, service_name="web", namespace=NS, zone=ZONE)
    assert finding.rule == "dns.no-records-without-service"
    assert (finding.expected, finding.seen) == ("NXDOMAIN", ["10.244.0.11"])
    clusterip = service(headless=False)
    assert rules(check_pod_records(answers, clusterip, members, zone=ZONE)) == ["dns.no-records-without-service"]
    assert (
        check_dns(
            DnsAnswers(a={f"web-0.{SVC}": None, f"web-1.{SVC}": None}),
            None,
            members,
            service_name="web",
            namespace=NS,
            zone=ZONE,
        )
        == []
    )


def test_unqueried_names_are_findings_not_passes() -> None:
    """A name the checks need but nobody asked MUST be reported, never silently passed."""
    members = pods(1)
    findings = check_dns(DnsAnswers(), service(), members, zone=ZONE)
    assert rules(findings) == [
        "dns.per-pod-a-record",
        "dns.service-a-records",
        "dns.srv-targets",
        "dns.ptr-record",
    ]
    assert all(f.seen == NOT_QUERIED for f in findings)


def test_expected_queries_cover_every_check() -> None:
    """expected_queries MUST list the names the checks read, so a prober asks exactly those."""
    members = pods(2)
    queries = expected_queries(service(), members, zone=ZONE)
    assert queries == {
        "A": [SVC, f"web-0.{SVC}", f"web-1.{SVC}"],
        "SRV": [SRV],
        "PTR": ["10.0.244.10.in-addr.arpa", "11.0.244.10.in-addr.arpa"],
    }


def test_endpoint_slices_match_pods() -> None:
    """EndpointSlices MUST list each selected pod with its IP, hostname and readiness."""
    members = [pod(0), pod(1, ready=False)]
    svc = service()
    assert check_endpoint_slices(svc, members, [endpoint_slice(svc, members)]) == []
    stale = endpoint_slice(svc, [pod(0, ip="10.244.9.9"), pod(1, ready=False)])
    (finding,) = check_endpoint_slices(svc, members, [stale])
    assert finding.rule == "dns.endpoint-slice"
    assert finding.subject == f"pod {NS}/web-0"
    assert finding.seen["addresses"] == ["10.244.9.9"]
    (missing,) = check_endpoint_slices(svc, members, [endpoint_slice(svc, members[1:])])
    assert missing.seen is None


BUSYBOX_LOOKUP = """Server:\t\t10.88.0.1
Address:\t10.88.0.1:53

Name:\tweb-0.web.ord-test.svc.cluster.local
Address: 10.160.1.5

"""


def test_a_lookup_from_a_sibling_must_return_exactly_the_pod_ip() -> None:
    web0, web1 = pods(2)
    web0["status"]["podIP"] = "10.160.1.5"
    fqdn = "web-0.web.ord-test.svc.cluster.local"
    assert parse_lookup_addresses(BUSYBOX_LOOKUP, fqdn) == ["10.160.1.5"]  # not the server's own address
    assert check_lookup_from_pod(web1, web0, fqdn, BUSYBOX_LOOKUP) == []
    web0["status"]["podIP"] = "10.160.1.9"
    (finding,) = check_lookup_from_pod(web1, web0, fqdn, BUSYBOX_LOOKUP)
    assert (finding.rule, finding.expected, finding.seen) == ("dns.lookup-from-pod", ["10.160.1.9"], ["10.160.1.5"])


def test_a_pod_must_find_its_own_fqdn_in_etc_hosts() -> None:
    (web0,) = pods(1)
    web0["status"]["podIP"] = "10.160.1.5"
    hosts = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
    hosts += "10.160.1.5\tweb-0.web.ord-test.svc.cluster.local\tweb-0\n"
    assert check_own_hosts_entry(web0, "web", hosts) == ([], "web-0.web.ord-test.svc.cluster.local")
    findings, fqdn = check_own_hosts_entry(web0, "web", "127.0.0.1 localhost\n10.160.1.5 web-0\n")
    assert fqdn is None and findings[0].seen == ["10.160.1.5 web-0"]


def test_the_search_path_must_start_with_the_pods_namespace() -> None:
    (web0,) = pods(1)
    good = "search ord-test.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.88.0.1\n"
    assert check_search_path(web0, "cluster.local", good) == []
    (finding,) = check_search_path(web0, "cluster.local", "nameserver 10.88.0.1\n")
    assert (finding.expected, finding.seen) == ("ord-test.svc.cluster.local", None)


# -- a replaced pod's record, asked before and after -------------------------------------------

FQDN = "web-1.web.ord-test.svc.cluster.local"


def test_a_record_that_follows_the_pod_is_clean() -> None:
    """Old IP before, new IP after: nothing to report."""
    assert check_record_follows(FQDN, "ord-test/web-1", ["10.0.0.1"], ["10.0.0.9"], "10.0.0.1", "10.0.0.9") == []


def test_a_stale_answer_is_reported_with_both_addresses() -> None:
    """The deleted pod's address still served after the replacement MUST be a finding naming old and new IP."""
    (finding,) = check_record_follows(FQDN, "ord-test/web-1", ["10.0.0.1"], ["10.0.0.1"], "10.0.0.1", "10.0.0.9")
    assert (finding.rule, finding.subject, finding.expected) == (
        "dns.record-follows-pod",
        f"dns {FQDN} A",
        ["10.0.0.9"],
    )
    assert "stale: the replaced pod's address 10.0.0.1; the new pod has 10.0.0.9" in str(finding.seen)


def test_a_record_missing_before_or_after_is_reported() -> None:
    """No answer before the disruption, or NXDOMAIN after it, MUST each be reported (not taken as followed)."""
    findings = check_record_follows(FQDN, "ord-test/web-1", None, None, "10.0.0.1", "10.0.0.9")
    assert [(f.rule, f.seen) for f in findings] == [
        ("dns.per-pod-a-record", "NXDOMAIN"),
        ("dns.record-follows-pod", "NXDOMAIN"),
    ]
