#!/usr/bin/env python3
"""Prints every es_remote metric name that the alert rules and dashboards query.

One name a line, sorted, each once, exactly as written in the queries. Only PromQL is read: the
`expr:` of each rule, the queries that annotation templates run (`query "..."` or
`query (printf `...` ...)`), and the queries of each dashboard (panel targets and variables),
so a name mentioned in a comment or in an annotation's prose does not count. Names the rules record themselves
(`record: es_remote:...`) are listed too, since a query reads them like any other series; with
--recorded only those are printed. A test can then check that every name queried is either
emitted by the exporter or recorded by the rules.

Usage: metric_names.py [--recorded] [FILE...]   (default: alerts/*.rules.yml, dashboards/*.json)
Standard library only, so the rules file is read by indentation, not by a YAML parser.
"""

import glob
import json
import os
import re
import sys

# es_remote_* as the exporter names its metrics, es_remote:* as the rules name what they record.
METRIC = re.compile(r"(?<![\w:])es_remote[_:][a-zA-Z0-9_:]*(?![\w:])")

# A rule's `expr:` key, with an inline value or a block scalar indicator (| or >).
EXPR_KEY = re.compile(r"^(\s*)(?:-\s+)?expr:\s*(.*)$")

# The query an annotation template runs: a string literal right after `query`, or the format
# string of a printf that builds it.
TEMPLATE_QUERY = re.compile(r'\bquery\s+\(?\s*(?:printf\s+)?(`[^`]*`|"(?:\\.|[^"\\])*")')

# A recording rule's name.
RECORD_KEY = re.compile(r"^\s*(?:-\s+)?record:\s*(\S+)\s*$")


def main(args):
    recorded_only = "--recorded" in args
    paths = [arg for arg in args if arg != "--recorded"]
    if not paths:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        paths = sorted(glob.glob(os.path.join(root, "alerts", "*.rules.yml")) +
                       glob.glob(os.path.join(root, "dashboards", "*.json")))
    names = set()
    recorded = set()
    for path in paths:
        with open(path, encoding="utf-8") as file:
            text = file.read()
        if path.endswith(".json"):
            queries = dashboard_queries(text)
        else:
            queries = list(rule_expressions(text)) + list(template_queries(text))
            recorded.update(recorded_names(text))
        for query in queries:
            names.update(METRIC.findall(strip_strings_and_comments(query)))
    for name in sorted(recorded if recorded_only else names):
        print(name)
    return 0


def template_queries(text):
    """Yields the PromQL of each query an annotation template runs."""
    for match in TEMPLATE_QUERY.finditer(text):
        yield match.group(1)[1:-1]


def recorded_names(text):
    """Yields the name of each recording rule in a Prometheus rules file."""
    for line in text.splitlines():
        match = RECORD_KEY.match(line)
        if match:
            yield unquote(match.group(1))


def rule_expressions(text):
    """Yields the expression of each rule in a Prometheus rules file."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = EXPR_KEY.match(lines[index])
        index += 1
        if not match:
            continue
        value = match.group(2).strip()
        if value and value[0] not in "|>":
            yield unquote(value)
            continue
        # Block scalar: every following line indented deeper than the key, or blank.
        key_indent = len(match.group(1))
        block = []
        while index < len(lines) and (not lines[index].strip()
                                      or indent(lines[index]) > key_indent):
            block.append(lines[index])
            index += 1
        yield "\n".join(block)


def dashboard_queries(text):
    dashboard = json.loads(text)
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and isinstance(query, str):
            yield query
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop()
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            if isinstance(target.get("expr"), str):
                yield target["expr"]


def strip_strings_and_comments(query):
    """Label values such as job="es_remote_x" are not metric names; neither are comments."""
    return re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`|#[^\n]*', " ", query)


def unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def indent(line):
    return len(line) - len(line.lstrip(" "))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
