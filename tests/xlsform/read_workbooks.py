#!/usr/bin/python3
"""Reads the workbooks `veldctl form export` writes with openpyxl, a reader that shares no code
with Veld, and checks them against the JSON forms they were made from: the sheets, the header
row, one survey row per item (with begin/end rows for groups and repeats) with the expected type,
name, labels and logic, every choice list on the choices sheet, and the settings row.

    read_workbooks.py VELDCTL OUT_DIR FORM.json|FOLDER...   (a folder: its *.json)
"""

import glob
import json
import os
import subprocess
import sys

import openpyxl

failures = []


def fail(form, message):
    failures.append(f"{form}: {message}")


def texts(entries):
    return {t["lang"]: t.get("text", "") for t in entries or []}


def number(value):
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def expected_type(item):
    """The workbook's type word for a JSON question, written here from the mapping in
    docs/forms.md rather than taken from Veld."""
    t = item.get("type", "Text")
    hidden = item.get("hidden", False)
    if t == "Text" and hidden:
        return "calculate" if item.get("calculation") else "hidden"
    if t in ("Integer", "Decimal") and "step" in item:
        return "range"
    words = {
        "Text": "text", "Integer": "integer", "Decimal": "decimal", "Date": "date",
        "Time": "time", "DateTime": "dateTime", "Note": "note", "Consent": "acknowledge",
        "Signature": "image", "Pseudonym": "pseudonym",
    }
    if t in ("SelectOne", "Likert"):
        return "select_one " + item["choice_list"]
    if t == "SelectMany":
        return "select_multiple " + item["choice_list"]
    return words[t]


def expected_rows(items):
    """(type, name, item) per survey row, depth first."""
    for item in items:
        kind = item.get("kind", "Question")
        if kind == "Question":
            yield expected_type(item), item["name"], item
            continue
        begin, end = ("begin_repeat", "end_repeat") if kind == "Repeat" else ("begin_group",
                                                                               "end_group")
        yield begin, item["name"], item
        yield from expected_rows(item.get("children", []))
        yield end, None, None


def sheet_rows(sheet):
    rows = list(sheet.iter_rows(values_only=True))
    headers = [h for h in rows[0]]
    return headers, [dict(zip(headers, r)) for r in rows[1:]]


def check_form(json_path, xlsx_path):
    name = os.path.basename(json_path)
    with open(json_path, encoding="utf-8") as f:
        form = json.load(f)
    book = openpyxl.load_workbook(xlsx_path)
    if book.sheetnames != ["survey", "choices", "settings"]:
        fail(name, f"sheets are {book.sheetnames}")
        return
    languages = form["languages"]
    label_headers = [f"label::{l.get('name') or l['tag']} ({l['tag']})" for l in languages]

    for sheet in book.worksheets:
        if sheet.freeze_panes != "A2":
            fail(name, f"{sheet.title}: the header row is not frozen ({sheet.freeze_panes})")
        for cell in sheet[1]:
            if not cell.font.b:
                fail(name, f"{sheet.title}!{cell.coordinate}: the header is not bold")
            width = sheet.column_dimensions[cell.column_letter].width
            if not width or width < 8:
                fail(name, f"{sheet.title}: column {cell.value} has width {width}")

    # survey: one row per item, in order, with its type, name, labels and logic.
    headers, rows = sheet_rows(book["survey"])
    if headers[:2] != ["type", "name"]:
        fail(name, f"survey starts with {headers[:2]}")
    found = [h for h in headers if h and h.startswith("label::")]
    if found != label_headers:
        fail(name, f"label columns {found}, expected {label_headers}")
    expected = list(expected_rows(form["items"]))
    if len(rows) != len(expected):
        fail(name, f"survey has {len(rows)} rows, expected {len(expected)}")
    used_extensions = set()
    for row, (type_word, item_name, item) in zip(rows, expected):
        where = f"survey row {item_name or type_word}"
        if row["type"] != type_word:
            fail(name, f"{where}: type {row['type']!r}, expected {type_word!r}")
        if row["name"] != item_name:
            fail(name, f"{where}: name {row['name']!r}")
        if item is None:
            continue
        labels = texts(item.get("labels"))
        for l, header in zip(languages, label_headers):
            if (row[header] or "") != labels.get(l["tag"], ""):
                fail(name, f"{where}: {header} is {row[header]!r}")
        for field, column in (("relevance", "relevant"), ("constraint", "constraint"),
                              ("calculation", "calculation"), ("default_value", "default"),
                              ("choice_filter", "choice_filter")):
            if (row.get(column) or "") != item.get(field, ""):
                fail(name, f"{where}: {column} is {row.get(column)!r}")
        if (row["required"] == "yes") != item.get("required", False):
            fail(name, f"{where}: required is {row['required']!r}")
        appearance = (row.get("appearance") or "").split()
        if item.get("kind") == "Group" and "field-list" not in appearance:
            fail(name, f"{where}: a group without field-list")
        if item.get("type") == "Likert" and "likert" not in appearance:
            fail(name, f"{where}: a Likert question without likert")
        if item.get("multiline") and "multiline" not in appearance:
            fail(name, f"{where}: a multiline text without multiline")
        if item.get("type") == "Signature" and "signature" not in appearance:
            fail(name, f"{where}: a signature without signature")
        if "step" in item:
            params = dict(p.split("=") for p in (row.get("parameters") or "").split())
            if float(params.get("step", "nan")) != item["step"]:
                fail(name, f"{where}: parameters {row.get('parameters')!r}")
        else:
            for field in ("min_value", "max_value"):
                if item.get(field) is not None:
                    used_extensions.add(field)
                    if row.get(field) != number(item[field]):
                        fail(name, f"{where}: {field} is {row.get(field)!r}")
        for field in ("max_length", "min_count", "max_count", "pattern", "identifier_scheme"):
            if item.get(field) and not (field.endswith("_count") and
                                      item.get("min_count") == item.get("max_count") and
                                      not item.get("repeat_count")):
                used_extensions.add(field)
        if item.get("identifying"):
            used_extensions.add("identifying")
        if item.get("hidden") and item.get("type", "Text") != "Text":
            used_extensions.add("hidden")
            if row.get("hidden") != "yes":
                fail(name, f"{where}: hidden is {row.get('hidden')!r}")
    updates = form.get("settings", {}).get("case_settings", {}).get("updates", [])
    if updates:
        used_extensions.add("case_property")
        by_question = {r["name"]: r.get("case_property") for r in rows if r["name"]}
        for u in updates:
            if by_question.get(u["question"]) != u["property"]:
                fail(name, f"case_property of {u['question']} is "
                     f"{by_question.get(u['question'])!r}, expected {u['property']!r}")
    extensions = {"min_value", "max_value", "max_length", "pattern", "identifying",
                  "identifier_scheme", "min_count", "max_count", "case_property", "hidden"}
    present = {h for h in headers if h in extensions}
    if present != used_extensions:
        fail(name, f"extension columns {sorted(present)}, expected {sorted(used_extensions)}")

    # choices: every list, its choices in order, with their labels.
    headers, rows = sheet_rows(book["choices"])
    if headers[:2] != ["list_name", "name"]:
        fail(name, f"choices starts with {headers[:2]}")
    by_list = {}
    for row in rows:
        by_list.setdefault(row["list_name"], []).append(row)
    lists = {l["name"]: l["choices"] for l in form.get("choice_lists", [])}
    if set(by_list) != set(lists):
        fail(name, f"choice lists {sorted(by_list)}, expected {sorted(lists)}")
    for list_name, choices in lists.items():
        got = by_list.get(list_name, [])
        if [r["name"] for r in got] != [c["name"] for c in choices]:
            fail(name, f"list {list_name}: choices {[r['name'] for r in got]}")
            continue
        for row, choice in zip(got, choices):
            labels = texts(choice.get("labels"))
            for l, header in zip(languages, label_headers):
                if (row.get(header) or "") != labels.get(l["tag"], ""):
                    fail(name, f"list {list_name} choice {choice['name']}: {header}")
            if (row.get("other") == "yes") != choice.get("is_other", False):
                fail(name, f"list {list_name} choice {choice['name']}: other")
            if (row.get("exclusive") == "yes") != choice.get("exclusive", False):
                fail(name, f"list {list_name} choice {choice['name']}: exclusive")
            for p in choice.get("properties", []):
                if row.get(p["name"]) != p["value"]:
                    fail(name, f"list {list_name} choice {choice['name']}: {p['name']}")

    # settings: one row.
    headers, rows = sheet_rows(book["settings"])
    if len(rows) != 1:
        fail(name, f"settings has {len(rows)} rows")
        return
    s = rows[0]
    if s["form_id"] != form["id"]:
        fail(name, f"form_id is {s['form_id']!r}")
    if s["version"] != form.get("version_label", str(form["version"])):
        fail(name, f"version is {s['version']!r}")
    if s["default_language"] != form["default_language"]:
        fail(name, f"default_language is {s['default_language']!r}")
    titles = texts(form.get("titles"))
    for l in languages:
        header = f"form_title::{l.get('name') or l['tag']} ({l['tag']})"
        if s.get(header) != titles.get(l["tag"]):
            fail(name, f"{header} is {s.get(header)!r}")
    summary = form.get("settings", {}).get("summary_question")
    if summary and s.get("instance_name") != "${" + summary + "}":
        fail(name, f"instance_name is {s.get('instance_name')!r}")


def main():
    veldctl, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    forms = []
    for arg in sys.argv[3:]:
        forms += sorted(glob.glob(os.path.join(arg, "*.json"))) if os.path.isdir(arg) else [arg]
    for json_path in forms:
        xlsx = os.path.join(out, os.path.basename(json_path)[:-5] + ".xlsx")
        run = subprocess.run([veldctl, "form", "export", json_path, "-o", xlsx],
                             capture_output=True, text=True)
        if run.returncode != 0:
            fail(json_path, f"veldctl form export failed: {run.stdout}{run.stderr}")
            continue
        if os.stat(xlsx).st_mode & 0o777 != 0o644:
            fail(json_path, f"mode {oct(os.stat(xlsx).st_mode & 0o777)}, expected 0644")
        check_form(json_path, xlsx)
    for f in failures:
        print(f)
    print(f"{len(forms)} workbook(s) read, {len(failures)} problem(s)")
    return 1 if failures or not forms else 0


if __name__ == "__main__":
    sys.exit(main())
