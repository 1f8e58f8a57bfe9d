#!/usr/bin/env python3
"""Checks the Grafana dashboards that ship with es-remote-exporter.

Grafana's own dashboard-linter cannot be installed here, so this script holds the same kind of
rules, written for this project: templated data source, job and instance variables, every panel
on `${datasource}` with a title, a description and a unit Grafana knows, every query filtered
by job and instance and by cluster and remote_cluster where its metric carries them, rate
windows on `$__rate_interval`, counters only inside rate() or increase(), and the age of a
timestamp computed without the 0 the exporter reports before it has one. PromQL is parsed by
promtool itself: the queries, with Grafana's variables replaced by plausible values, become
recording rules in a temporary file that `promtool check rules` must accept.

--self-test lints broken copies of a dashboard, built in memory, and fails unless each is
caught (and each valid variant passes), so a rule that stopped working shows up.
--required-filters prints, for each metric name given, the labels a query of it must filter.

Usage: lint_dashboard.py DASHBOARD.json...   (exit 1 on any finding)
       lint_dashboard.py --self-test DASHBOARD.json
       lint_dashboard.py --required-filters METRIC...
"""

import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile

DATASOURCE_UID = "${datasource}"

# Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts), checked so a typo
# shows up here and not as raw numbers in someone's browser. Grouped as Grafana's unit picker
# groups them; categories no exporter dashboard would use (currency, radiation, mass...) are
# left out, so one of those is reported and can be added here when a panel needs it.
KNOWN_UNITS = {
    # misc
    "none", "string", "short", "percent", "percentunit", "humidity", "dB", "hex0x", "hex",
    "sci", "locale", "pixel",
    # data, IEC and metric
    "bits", "bytes", "kbytes", "mbytes", "gbytes", "tbytes", "pbytes",
    "decbits", "decbytes", "deckbytes", "decmbytes", "decgbytes", "dectbytes", "decpbytes",
    # data rate
    "pps", "bps", "Bps", "KBs", "Kbits", "MBs", "Mbits", "GBs", "Gbits", "TBs", "Tbits",
    "PBs", "Pbits", "binBps", "binbps", "KiBs", "Kibits", "MiBs", "Mibits", "GiBs", "Gibits",
    "TiBs", "Tibits", "PiBs", "Pibits",
    # date and time
    "dateTimeAsIso", "dateTimeAsIsoNoDateIfToday", "dateTimeAsUS", "dateTimeAsUSNoDateIfToday",
    "dateTimeAsLocal", "dateTimeAsLocalNoDateIfToday", "dateTimeAsSystem", "dateTimeFromNow",
    # time
    "hertz", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms",
    "dtdhms", "timeticks", "clockms", "clocks",
    # throughput
    "cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm",
    # boolean
    "bool", "bool_yes_no", "bool_on_off",
}

# Grafana's custom units: a prefix, then free text (`suffix: nodes`, `si:B`, `count:remotes`).
CUSTOM_UNIT = re.compile(r"(prefix|suffix|si|count|currency|time|bool):.+")

# Variables every dashboard needs, and how they must be set up.
FILTER_VARIABLES = ("job", "instance", "cluster", "remote_cluster")

# Series of the exporter itself carry neither cluster nor remote_cluster; series of a local
# cluster carry cluster only; every other es_remote_* series is a remote's and carries both.
# A new per-cluster metric therefore has to be listed here before a panel may leave
# remote_cluster out, and tests/artifacts.rs checks these lists against the real exposition.
EXPORTER_METRICS = {
    "es_remote_build_info",
    "es_remote_config_last_reload_successful",
    "es_remote_config_last_reload_success_timestamp_seconds",
}
CLUSTER_METRICS = {
    "es_remote_up",
    "es_remote_scrape_duration_seconds",
    "es_remote_scrapes_total",
    "es_remote_scrape_errors_total",
    "es_remote_last_scrape_timestamp_seconds",
    "es_remote_last_scrape_success_timestamp_seconds",
    "es_remote_clusters",
    "es_remote_node_up",
}

# Values that stand in for Grafana's variables when promtool parses a query.
SUBSTITUTIONS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "job": ".+",
    "instance": ".+",
    "cluster": ".+",
    "remote_cluster": ".+",
}

# A variable as Grafana writes it in a query: `$name`, `${name}` or `${name:format}`.
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")

PANELS_WITHOUT_QUERIES = {"row", "text"}

RANGE_FUNCTIONS = ("rate", "irate", "increase")


def main(args):
    if args[:1] == ["--required-filters"]:
        for name in args[1:]:
            print(name, ",".join(required_filters(name)))
        return 0
    if args[:1] == ["--self-test"] and len(args) == 2:
        return self_test(args[1])
    paths = args
    if not paths or any(path.startswith("--") for path in paths):
        print("\n".join(__doc__.strip().splitlines()[-3:]), file=sys.stderr)
        return 2
    findings = []
    for path in paths:
        findings += [f"{path}: {message}" for message in check_dashboard(path)]
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} finding(s)")
        return 1
    print(f"dashboards ok: {', '.join(paths)}")
    return 0


def check_dashboard(path):
    with open(path, encoding="utf-8") as file:
        return check_dashboard_json(json.load(file))


def check_dashboard_json(dashboard):
    findings = []
    findings += check_metadata(dashboard)
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    findings += check_variables(variables)

    queries = [(f"variable {name}", label_values_selector(v)) for name, v in variables.items()
               if v.get("type") == "query"]
    seen_ids = set()
    for panel in all_panels(dashboard.get("panels", [])):
        findings += check_panel(panel, seen_ids)
        for target in panel.get("targets", []):
            where = f"panel {panel.get('title')!r} target {target.get('refId')}"
            findings += [f"{where}: {m}" for m in check_target(target)]
            if target.get("expr"):
                queries.append((where, target["expr"]))
    findings += check_layout(dashboard.get("panels", []))
    findings += parse_with_promtool(queries)
    return findings


def check_metadata(dashboard):
    findings = []
    for key in ("uid", "title", "description"):
        if not dashboard.get(key):
            findings.append(f"dashboard has no {key}")
    # Provisioned from this file: edits in the UI would be lost, so the UI should not invite them.
    if dashboard.get("editable") is not False:
        findings.append("dashboard should set editable to false")
    return findings


def check_variables(variables):
    findings = []
    datasources = [v for v in variables.values() if v.get("type") == "datasource"]
    if len(datasources) != 1:
        findings.append(f"expected one data source variable, found {len(datasources)}")
    datasource = variables.get("datasource")
    if not datasource or datasource.get("type") != "datasource":
        findings.append("data source variable must be named 'datasource'")
    else:
        if datasource.get("query") != "prometheus":
            findings.append("data source variable must select prometheus data sources")
        if datasource.get("label") != "Data source":
            findings.append("data source variable should be labelled 'Data source'")
    for name in FILTER_VARIABLES:
        variable = variables.get(name)
        if variable is None:
            findings.append(f"variable {name} is missing")
            continue
        where = f"variable {name}"
        if variable.get("type") != "query":
            findings.append(f"{where}: must be a query variable")
        if uid_of(variable.get("datasource")) != DATASOURCE_UID:
            findings.append(f"{where}: must query {DATASOURCE_UID}")
        if not (variable.get("multi") and variable.get("includeAll")):
            findings.append(f"{where}: must allow several values and All")
        if variable.get("allValue") != ".+":
            findings.append(f"{where}: All must be '.+' so every series keeps matching")
        # 2 reloads the values when the time range changes, so new remotes show up.
        if variable.get("refresh") != 2:
            findings.append(f"{where}: must refresh on time range change (refresh: 2)")
        if label_values_selector(variable) is None:
            findings.append(f"{where}: query must be label_values(selector, label)")
    return findings


def check_panel(panel, seen_ids):
    findings = []
    title = panel.get("title")
    where = f"panel {title!r}"
    if panel.get("id") in seen_ids:
        findings.append(f"{where}: duplicate id {panel.get('id')}")
    seen_ids.add(panel.get("id"))
    if not title:
        findings.append(f"panel id {panel.get('id')} has no title")
    if panel.get("type") in PANELS_WITHOUT_QUERIES:
        return findings
    if not panel.get("description"):
        findings.append(f"{where}: no description")
    if uid_of(panel.get("datasource")) != DATASOURCE_UID:
        findings.append(f"{where}: data source must be {DATASOURCE_UID}")
    if not panel.get("targets"):
        findings.append(f"{where}: no queries")
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if not unit:
        findings.append(f"{where}: no unit")
    units = [unit] + [prop.get("value")
                      for override in panel.get("fieldConfig", {}).get("overrides", [])
                      for prop in override.get("properties", []) if prop.get("id") == "unit"]
    for unit in units:
        if unit and unit not in KNOWN_UNITS and not CUSTOM_UNIT.fullmatch(unit):
            findings.append(f"{where}: unknown unit {unit!r}")
    return findings


def check_target(target):
    findings = []
    if uid_of(target.get("datasource")) != DATASOURCE_UID:
        findings.append(f"data source must be {DATASOURCE_UID}")
    expr = target.get("expr", "")
    if not expr.strip():
        return findings + ["empty query"]
    for name, matchers in metric_selectors(expr):
        if matchers is None:
            findings.append(f"{name} has no label matchers")
            continue
        for label in required_filters(name):
            if not re.search(rf'(?<![\w]){label}\s*=~\s*"\$(?:{label}|\{{{label}(?::\w+)?\}})"',
                             matchers):
                findings.append(f'{name} is not filtered by {label}=~"${label}"')
    code = strip_strings(expr)
    # The window may sit lines below its function: a query is often split over lines.
    functions = rf"\b({'|'.join(RANGE_FUNCTIONS)})\s*\(.*?\[([^\]]*)\]"
    for function, window in re.findall(functions, code, flags=re.DOTALL):
        if window.strip() not in ("$__rate_interval", "${__rate_interval}"):
            findings.append(f"{function}() window is [{window}], not [$__rate_interval]")
    # The exporter reports 0 for a time it has not seen yet (no poll, no success), whose age
    # would show as some 1.7e9 seconds: an age must drop the 0 first, time() - (x > 0).
    for match in re.finditer(r"\btime\(\)\s*-\s*", code):
        rest = code[match.end():]
        named = re.match(r"\(?\s*([a-zA-Z_:][\w:]*_timestamp_seconds)\b", rest)
        guarded = re.match(r"\(\s*[a-zA-Z_:][\w:]*\s*(\{[^}]*\})?\s*>\s*0\s*\)", rest)
        if named and not guarded:
            findings.append(f"time() - {named.group(1)} does not drop the 0 of a time not seen "
                            f"yet: write time() - ({named.group(1)}{{...}} > 0)")
    for match in re.finditer(r"\b\w+_total\b", code):
        before = code[:match.start()]
        if not re.search(rf"\b({'|'.join(RANGE_FUNCTIONS)})\s*\(\s*$", before):
            findings.append(f"counter {match.group(0)} is used outside rate() or increase()")
    return findings


def required_filters(name):
    """The labels a query of `name` must filter by the dashboard variable of the same name."""
    if not name.startswith("es_remote_") or name in EXPORTER_METRICS:
        return ("job", "instance")
    if name in CLUSTER_METRICS:
        return ("job", "instance", "cluster")
    return ("job", "instance", "cluster", "remote_cluster")


KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset"}


def metric_selectors(expr):
    """Yields (metric name, text between its braces or None) for each selector in a query."""
    code = strip_strings(expr)
    # Label lists after by/on/group_left and friends, matcher bodies and [windows] hold
    # identifiers that are not metrics: blank them, keeping every offset.
    code = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                  lambda m: " " * len(m.group(0)), code)
    code = re.sub(r"\{[^}]*\}|\[[^\]]*\]",
                  lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], code)
    for match in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*)(?=(\S?))", code):
        name, following = match.group(1), match.group(3)
        if name in KEYWORDS or following == "(":
            continue
        if following == "{":
            opening = match.end(2)
            yield name, expr[opening + 1:code.index("}", opening)]
        else:
            yield name, None


def check_layout(panels):
    """Panels must fit the 24-column grid and not overlap."""
    findings = []
    taken = {}
    for panel in all_panels(panels):
        grid = panel.get("gridPos", {})
        x, y, w, h = (grid.get(k, 0) for k in ("x", "y", "w", "h"))
        if x + w > 24 or w <= 0 or h <= 0:
            findings.append(f"panel {panel.get('title')!r}: gridPos {grid} outside the grid")
        for row in range(y, y + h):
            for column in range(x, x + w):
                other = taken.setdefault((row, column), panel.get("title"))
                if other != panel.get("title"):
                    findings.append(f"panel {panel.get('title')!r} overlaps {other!r}")
                    break
            else:
                continue
            break
    return findings


def parse_with_promtool(queries):
    """Every query must parse; promtool checks recording rules with Prometheus's own parser."""
    if shutil.which("promtool") is None:
        return ["promtool not found: install Debian's prometheus package to parse PromQL"]
    lines = ["groups:", "  - name: dashboard-queries", "    rules:"]
    sources = {}
    for index, (where, expr) in enumerate(queries):
        if expr is None:
            continue
        expr = VARIABLE.sub(lambda m: SUBSTITUTIONS.get(m.group(1) or m.group(2), m.group(0)),
                            expr)
        if "$" in expr:
            return [f"{where}: unknown variable left in {expr!r}"]
        lines.append(f"      - record: dashboard:query_{index}")
        lines.append(f"        expr: {json.dumps(expr)}")
        sources[f"dashboard:query_{index}"] = where
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as rules:
        rules.write("\n".join(lines) + "\n")
        rules.flush()
        result = subprocess.run(["promtool", "check", "rules", rules.name],
                                capture_output=True, text=True)
    if result.returncode == 0:
        return []
    output = result.stdout + result.stderr
    findings = [f"{where}: promtool: {line.strip()}"
                for line in output.splitlines()
                for record, where in sources.items() if f'"{record}"' in line]
    return findings or [f"promtool rejected the queries: {output.strip()}"]


def label_values_selector(variable):
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    match = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)\s*", query or "")
    return match.group(1) if match else None


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def uid_of(datasource):
    return datasource.get("uid") if isinstance(datasource, dict) else datasource


def strip_strings(expr):
    """Blanks out quoted strings and comments, keeping every other character in place."""
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|#[^\n]*',
                  lambda m: " " * len(m.group(0)), expr)


def self_test(path):
    """Lints broken and valid variants of the dashboard at `path`; 1 if any verdict is wrong."""
    with open(path, encoding="utf-8") as file:
        shipped = json.load(file)
    cases = [
        ("the shipped dashboard", lambda d: None, None),
        ("a remote's metric without the remote_cluster filter",
         lambda d: set_expr(d, "Connection state per remote", 0,
                            'es_remote_connected{job=~"$job", instance=~"$instance", '
                            'cluster=~"$cluster"}'),
         'es_remote_connected is not filtered by remote_cluster=~"$remote_cluster"'),
        ("a cluster's metric without the cluster filter",
         lambda d: set_expr(d, "Poll duration", 0,
                            'es_remote_scrape_duration_seconds{job=~"$job", '
                            'instance=~"$instance"}'),
         'es_remote_scrape_duration_seconds is not filtered by cluster=~"$cluster"'),
        ("a rate window on the next line",
         lambda d: set_expr(d, "Poll errors by reason", 1,
                            'sum by (cluster) (rate(\n  es_remote_scrapes_total{job=~"$job", '
                            'instance=~"$instance", cluster=~"$cluster"}\n  [5m]))'),
         "rate() window is [5m], not [$__rate_interval]"),
        ("a unit Grafana does not know",
         lambda d: set_unit(d, "Poll duration", "seconds"),
         "panel 'Poll duration': unknown unit 'seconds'"),
        ("an age of a timestamp that may still be 0",
         lambda d: set_expr(d, "Data age", 0,
                            'time() - es_remote_last_scrape_timestamp_seconds{job=~"$job", '
                            'instance=~"$instance", cluster=~"$cluster"}'),
         "time() - es_remote_last_scrape_timestamp_seconds does not drop the 0"),
        # Variants that are valid and must pass.
        ("the unit bytes", lambda d: set_unit(d, "Poll duration", "bytes"), None),
        ("a custom unit", lambda d: set_unit(d, "Poll duration", "suffix: remotes"), None),
        ("the ${job} form of the variables",
         lambda d: set_expr(d, "Poll duration", 0,
                            'es_remote_scrape_duration_seconds{job=~"${job}", '
                            'instance=~"${instance:regex}", cluster=~"${cluster}"}'),
         None),
        ("a rate window on the next line that is $__rate_interval",
         lambda d: set_expr(d, "Poll errors by reason", 1,
                            'sum by (cluster) (rate(\n  es_remote_scrapes_total{job=~"$job", '
                            'instance=~"$instance", cluster=~"$cluster"}\n  [$__rate_interval]))'),
         None),
    ]
    wrong = 0
    for what, mutate, expected in cases:
        dashboard = copy.deepcopy(shipped)
        mutate(dashboard)
        findings = check_dashboard_json(dashboard)
        if expected is None:
            ok = not findings
        else:
            ok = any(expected in finding for finding in findings)
        print(f"{'ok' if ok else 'WRONG'}: {what}")
        if not ok:
            wrong += 1
            wanted = f"a finding containing {expected!r}" if expected else "no finding"
            print(f"  wanted {wanted}, got: {findings}")
    return 1 if wrong else 0


def panel_titled(dashboard, title):
    return next(p for p in all_panels(dashboard.get("panels", [])) if p.get("title") == title)


def set_expr(dashboard, title, index, expr):
    panel_titled(dashboard, title)["targets"][index]["expr"] = expr


def set_unit(dashboard, title, unit):
    panel_titled(dashboard, title)["fieldConfig"]["defaults"]["unit"] = unit


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
