#!/usr/bin/python3
"""Writes the XLSForm workbooks the tests read, with openpyxl (a tool other than Veld's own
reader and writer): make_workbooks.py OUTDIR.

Good workbooks cover every type, column and setting of the mapping (docs/forms.md); broken ones
each hold one mistake an author makes (tests/tools/xlsform_import_test.cpp asserts the error and
its cell). A few files are not workbooks at all: an old .xls and a password-protected workbook
are OLE compound files (their signature and stream names are enough for the reader to tell), a
cut-off zip, an empty file, and a zip bomb.
"""

import datetime
import io
import os
import re
import sys
import zipfile

import openpyxl

OUT = sys.argv[1] if len(sys.argv) > 1 else "xlsform-workbooks"
os.makedirs(OUT, exist_ok=True)


def save(name, sheets, post=None):
    """sheets: [(title, rows)], each row a list of cell values (None: empty)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    path = os.path.join(OUT, name)
    wb.save(path)
    if post:
        post(path)
    return path


def rewrite(path, change):
    """Rewrites the parts of a saved workbook: change(name, text) -> text."""
    with zipfile.ZipFile(path) as z:
        parts = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in parts:
            if info.filename.endswith((".xml", ".rels")):
                data = change(info.filename, data.decode("utf-8")).encode("utf-8")
            z.writestr(info.filename, data)


def share_strings(path):
    """openpyxl writes every string inline; this moves the strings of every sheet into
    xl/sharedStrings.xml as Excel does, except cells written 'Inline: ...', which stay inline
    strings without that prefix. 'Rich label' becomes two rich text runs (one bold) and a
    phonetic run the reader must leave out."""
    strings = []

    def cell(m):
        attrs, text = m.group(1), m.group(2)
        if text.startswith("Inline: "):
            return '<c%s t="inlineStr"><is><t>%s</t></is></c>' % (attrs, text[len("Inline: "):])
        strings.append(text)
        return '<c%s t="s"><v>%d</v></c>' % (attrs, len(strings) - 1)

    def item(text):
        if text == "Rich label":
            return ('<si><r><t xml:space="preserve">Rich </t></r><r><rPr><b/></rPr><t>label</t>'
                    '</r><rPh sb="0" eb="1"><t>x</t></rPh></si>')
        return '<si><t xml:space="preserve">%s</t></si>' % text

    def change(name, text):
        if name.startswith("xl/worksheets/"):
            return re.sub(r'<c((?: [a-z]+="[^"]*")*?) t="inlineStr"><is><t[^>]*>(.*?)</t></is></c>',
                          cell, text)
        if name == "[Content_Types].xml":
            return text.replace("</Types>", '<Override PartName="/xl/sharedStrings.xml" '
                                'ContentType="application/vnd.openxmlformats-officedocument.'
                                'spreadsheetml.sharedStrings+xml"/></Types>')
        if name == "xl/_rels/workbook.xml.rels":
            return text.replace("</Relationships>", '<Relationship Id="rIdStrings" Type="http://'
                                'schemas.openxmlformats.org/officeDocument/2006/relationships/'
                                'sharedStrings" Target="sharedStrings.xml"/></Relationships>')
        return text

    rewrite(path, change)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml",
                   '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.'
                   'openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">%s'
                   '</sst>' % (len(strings), len(strings), "".join(item(t) for t in strings)))


# ---------------------------------------------------------------------------------------------
# The full workbook: every type, column and setting.

NL, EN, AR, TI = "label::Nederlands (nl)", "label::English (en)", "label::ar", "label::ትግርኛ (ti)"
survey_header = ["type", "name", NL, EN, AR, TI, "hint::Nederlands (nl)", "hint::English (en)",
                 "required", "required_message::Nederlands (nl)", "relevant", "constraint",
                 "constraint_message::Nederlands (nl)", "constraint_message::English (en)",
                 "calculation", "default", "read_only", "appearance", "choice_filter",
                 "parameters", "repeat_count", "min_value", "max_value", "max_length", "pattern",
                 "identifying", "identifier_scheme", "min_count", "max_count", "case_property",
                 "hidden", "comments"]
COL = {h: i for i, h in enumerate(survey_header)}


def q(type_, name, nl=None, en=None, ar=None, ti=None, **cols):
    row = [None] * len(survey_header)
    row[COL["type"]] = type_
    row[COL["name"]] = name
    row[COL[NL]], row[COL[EN]], row[COL[AR]], row[COL[TI]] = nl, en, ar, ti
    for key, value in cols.items():
        if key.endswith("_nl"):
            key = key[:-3] + "::Nederlands (nl)"
        elif key.endswith("_en"):
            key = key[:-3] + "::English (en)"
        row[COL[key]] = value
    return row


survey = [
    survey_header,
    q("start", "started"),
    q("deviceid", "device"),
    q("date", "visit_date", "Datum van het bezoek", "Date of the visit", "تاريخ الزيارة",
      "ዕለት ምብጻሕ", required="yes", constraint=". <= today()",
      constraint_message_nl="De datum ligt in de toekomst",
      constraint_message_en="The date is in the future"),
    q("pseudonym", "participant_bsn", "BSN van de deelnemer", "Participant's BSN",
      identifier_scheme="bsn", required=True),
    q("acknowledge", "consent", "Toestemming gegeven", "Consent given", required="true()"),
    q("text", "participant_label", "Initialen", "Initials", max_length=8,
      pattern="^[A-Z.]+$", identifying="yes", case_property="label", required="TRUE"),
    q("select_one municipality", "municipality", "Gemeente", "Municipality",
      required="yes", case_property="municipality"),
    q("select_one gender", "gender", "Geslacht", "Gender", required=1),
    q("select_one region", "region", "Regio", "Region", appearance="minimal horizontal"),
    q("select_one town", "town", "Plaats", "Town",
      choice_filter="region = ${region}"),
    q("integer", "age", "Leeftijd", "Age", "العمر", "ዕድመ", hint_nl="Inline: Age in years",
      min_value=16, max_value=67, required="yes",
      required_message_nl="Vul de leeftijd in", default=30),
    q("decimal", "hours", "Uren per week", "Hours per week", min_value=0, max_value=60.5),
    q("range", "satisfaction", "Tevredenheid", "Satisfaction", parameters="start=1 end=5 step=1"),
    q("range", "share", "Aandeel", "Share", parameters="start=0;end=1;step=0.25"),
    q("select_one likert5", "agree", "Rich label", "Agree?", appearance="likert"),
    q("select_multiple sectors or_other", "sectors", "Sectoren", "Sectors",
      constraint="not(selected(., 'none') and count-selected(.) > 1)",
      constraint_message_nl="Geen kan niet samen met andere",
      constraint_message_en="None cannot go with others"),
    q("select_one sectors", "main_sector", "Voornaamste sector", "Main sector",
      relevant="count-selected(${sectors}) > 1"),
    q("select_one yes_no or_other", "had_job", "Werk gehad?", "Had a job?"),
    q("text", "remarks", "Line_x000D_break", "Remarks", appearance="multiline"),
    q("note", "intro_note", "Nu volgen vragen over werk", "Now questions about work"),
    q("time", "visit_time", "Tijd", "Time"),
    q("dateTime", "visit_moment", "Moment", "Moment"),
    q("calculate", "age_next_year", calculation="${age} + 1"),
    q("hidden", "form_variant", default="b"),
    q("text", "secret_note", "Verborgen", "Hidden", hidden="yes", default="x"),
    q("consent", "photo_consent", "Toestemming foto", "Photo consent"),
    q("signature", "signed", "Handtekening", "Signature"),
    q("image", "signed_again", "Nog eens", "Again", appearance="signature"),
    q("begin_group", "work", "Werk", "Work", appearance="field-list",
      relevant="${consent} = true()"),
    q("text", "employer", "Werkgever", "Employer", read_only="no"),
    q("end_group", None),
    q("begin repeat", "children", "Kinderen", "Children", repeat_count=2),
    q("text", "child_name", "Naam kind", "Child's name"),
    q("begin group", "child_school", "School", "School", appearance="field-list"),
    q("integer", "child_age", "Leeftijd kind", "Child's age", min_value=0, max_value=25),
    q("end group", None),
    q("end repeat", None),
    q("integer", "job_count", "Aantal banen", "Number of jobs", min_value=0, max_value=5),
    q("begin_repeat", "jobs", "Banen", "Jobs", repeat_count="${job_count}"),
    q("text", "job_title", "Functie", "Job title"),
    q("end_repeat", None),
    q("begin_repeat", "sessions", "Sessies", "Sessions", min_count=1, max_count=4),
    q("date", "session_date", "Datum", "Date"),
    q("end_repeat", None),
    q("end", "ended"),
]

choices_header = ["list_name", "name", "label::Nederlands (nl)", "label::English (en)",
                  "label::ar", "label::ትግርኛ (ti)", "exclusive", "other", "region", "video"]
choices = [
    choices_header,
    ["municipality", "utrecht", "Utrecht", "Utrecht"],
    ["municipality", "amersfoort", "Amersfoort", "Amersfoort"],
    ["gender", "vrouw", "Vrouw", "Woman", "امرأة", "ሰበይቲ"],
    ["gender", "man", "Man", "Man", "رجل", "ሰብኣይ"],
    ["region", "north", "Noord", "North"],
    ["region", "south", "Zuid", "South"],
    ["town", "groningen", "Groningen", "Groningen", None, None, None, None, "north"],
    ["town", "maastricht", "Maastricht", "Maastricht", None, None, None, None, "south",
     "maastricht.mp4"],
    ["likert5", 1, "Helemaal oneens", "Strongly disagree"],
    ["likert5", 2.0, "Oneens", "Disagree"],
    ["likert5", 3, "Neutraal", "Neutral"],
    ["likert5", 4, "Eens", "Agree"],
    ["likert5", 5, "Helemaal eens", "Strongly agree"],
    ["sectors", "care", "Zorg", "Care"],
    ["sectors", "retail", "Detailhandel", "Retail"],
    ["sectors", "none", "Geen", "None", None, None, "yes"],
    ["yes_no", "yes", "Ja", "Yes"],
    ["yes_no", "no", "Nee", "No"],
    [None, None, None, None],
]

settings = [
    ["form_title::Nederlands (nl)", "form_title::English (en)", "form_id", "version",
     "default_language", "instance_name", "pilot", "description::Nederlands (nl)", "sealed",
     "kiosk", "anonymous", "case_action", "case_type", "case_pseudonym_question",
     "randomise_study", "randomise_when", "randomise_strata", "submission_url"],
    ["Intake IPS", "IPS intake", "ips_intake_xls", "2024-03-15", "Nederlands", "${visit_date}",
     "ips", "Het intakegesprek", "no", False, "no", "open", "participant", "participant_bsn",
     "ips", "${consent} = true()", "municipality=municipality gender=gender",
     "https://example.org/submit"],
]

save("full.xlsx", [("survey", survey), ("choices", choices), ("settings", settings),
                   ("notes", [["Written by the research team"]])], post=share_strings)


# ---------------------------------------------------------------------------------------------
# Small workbooks: versions, languages, settings.

def simple(name, settings_rows=None, survey_rows=None, choices_rows=None, extra=()):
    sheets = [("survey", survey_rows or [["type", "name", "label"],
                                         ["text", "q1", "Question one"]])]
    if choices_rows:
        sheets.append(("choices", choices_rows))
    if settings_rows:
        sheets.append(("settings", settings_rows))
    sheets.extend(extra)
    return save(name, sheets)


for file_name, version in [("version_3", "3"), ("version_date", "2024-03-15"),
                           ("version_date_rev", "2024-03-15.2"), ("version_semver", "1.4.2"),
                           ("version_digits", "2024031501"), ("version_number", 3),
                           ("version_excel_date", datetime.datetime(2024, 3, 15))]:
    simple(file_name + ".xlsx", [["version", "form_id"], [version, "versions"]])

# No language named anywhere, no settings but a version: labels are English.
simple("minimal.xlsx", [["version"], [1]])
# Upper-case sheet and column names, a language by its English name only, rtl override.
save("spelling.xlsx", [
    ("Survey", [["Type", "Name", "Label::Dutch", "LABEL::Arabic", "Required"],
                ["Select One yn", "ok", "Goed?", "جيد؟", "Yes"]]),
    ("Choices", [["list name", "name", "label::Dutch", "label::Arabic"],
                 ["yn", "yes", "Ja", "نعم"], ["yn", "no", "Nee", "لا"]]),
    ("Settings", [["Version", "Default_Language", "rtl", "kiosk", "sealed", "anonymous",
                   "form_title::Dutch", "form_title::Arabic"],
                  ["1.0", "nl", "", "yes", True, "yes", "Tevreden", "راضٍ"]]),
])
# A follow-up form reading case properties.
simple("follow_up.xlsx", [["version", "case_action", "summary_question"], [2, "follow_up", "met"]],
       [["type", "name", "label::nl", "relevant"],
        ["date", "met", "Datum contact", None],
        ["text", "arm_note", "Opmerking", "${case.arm} = 'ips'"]])


# The end-to-end form: filled in on a device, sent to a collector and exported.
save("e2e.xlsx", [
    ("survey", [
        ["type", "name", "label::Nederlands (nl)", "label::English (en)", "required",
         "appearance", "calculation", "relevant"],
        ["date", "visit_date", "Datum", "Date", "yes"],
        ["integer", "age", "Leeftijd", "Age", "yes"],
        ["select_one score", "score", "Score", "Score", None, "likert"],
        ["select_multiple topics or_other", "topics", "Onderwerpen", "Topics"],
        ["text", "remarks", "Opmerkingen", "Remarks", None, "multiline", None,
         "${age} >= 18"],
        ["begin_repeat", "children", "Kinderen", "Children"],
        ["text", "child_name", "Naam", "Name", "yes"],
        ["begin_group", "child_details", "Details", "Details", None, "field-list"],
        ["integer", "child_age", "Leeftijd kind", "Child's age"],
        ["end_group"],
        ["end_repeat"],
        ["calculate", "age_next_year", None, None, None, None, "${age} + 1"],
    ]),
    ("choices", [
        ["list_name", "name", "label::Nederlands (nl)", "label::English (en)"],
        ["score", 1, "Slecht", "Bad"], ["score", 2, "Matig", "Fair"],
        ["score", 3, "Goed", "Good"],
        ["topics", "work", "Werk", "Work"], ["topics", "care", "Zorg", "Care"],
    ]),
    ("settings", [["form_id", "version", "form_title::Nederlands (nl)",
                   "form_title::English (en)", "instance_name"],
                  ["visit_xls", "2024-05-01", "Bezoek", "Visit", "${visit_date}"]]),
])


# ---------------------------------------------------------------------------------------------
# Broken workbooks: one mistake each.

ok_settings = [["version"], [1]]
simple("broken_geopoint.xlsx", ok_settings,
       [["type", "name", "label"], ["text", "q1", "One"], ["geopoint", "where", "Where?"]])
simple("broken_pulldata.xlsx", ok_settings,
       [["type", "name", "label", "calculation"], ["text", "q1", "One", None],
        ["calculate", "c", None, "pulldata('x', 'y', 'z', ${q1})"]])
simple("broken_unknown_list.xlsx", ok_settings,
       [["type", "name", "label"], ["select_one colours", "colour", "Colour"]],
       [["list_name", "name", "label"], ["sizes", "s", "Small"]])
simple("broken_duplicate_name.xlsx", ok_settings,
       [["type", "name", "label"], ["integer", "age", "Age"], ["text", "q2", "Two"],
        ["integer", "age", "Age again"]])
save("broken_no_survey.xlsx", [("questions", [["type", "name"], ["text", "a"]]),
                               ("settings", ok_settings)])
simple("broken_group_open.xlsx", ok_settings,
       [["type", "name", "label"], ["begin_group", "g", "Group"], ["text", "q1", "One"]])
simple("broken_end_without_begin.xlsx", ok_settings,
       [["type", "name", "label"], ["text", "q1", "One"], ["end_group", None, None]])
simple("broken_end_mismatch.xlsx", ok_settings,
       [["type", "name", "label"], ["begin_group", "g", "Group"], ["text", "q1", "One"],
        ["end_repeat", None, None]])
simple("broken_missing_label.xlsx", [["version", "default_language"], [1, "nl"]],
       [["type", "name", "label::Nederlands (nl)", "label::English (en)"],
        ["text", "q1", "Een", "One"], ["text", "q2", None, "Two"]])
simple("broken_bad_expression.xlsx", ok_settings,
       [["type", "name", "label", "relevant"], ["integer", "age", "Age", None],
        ["text", "q2", "Two", "${age} >"]])
simple("broken_unknown_reference.xlsx", ok_settings,
       [["type", "name", "label", "relevant"], ["integer", "age", "Age", None],
        ["text", "q2", "Two", "${agee} > 17"]])
simple("broken_required.xlsx", ok_settings,
       [["type", "name", "label", "required"], ["text", "q1", "One", "${x} = 1"]])
simple("broken_version.xlsx", [["form_id", "version"], ["v", "v2"]])
simple("broken_language.xlsx", ok_settings,
       [["type", "name", "label", "label::Klingon"], ["text", "q1", "One", "Wa'"]])
simple("broken_no_type.xlsx", ok_settings,
       [["type", "name", "label"], ["text", "q1", "One"], [None, "q2", "Two"]])
simple("broken_duplicate_choice.xlsx", ok_settings,
       [["type", "name", "label"], ["select_one l", "q1", "One"]],
       [["list_name", "name", "label"], ["l", "a", "A"], ["l", "b", "B"], ["l", "a", "A again"]])
simple("broken_cycle.xlsx", ok_settings,
       [["type", "name", "label", "calculation"], ["calculate", "a", None, "${b} + 1"],
        ["calculate", "b", None, "${a} + 1"]])
simple("broken_choice_filter.xlsx", ok_settings,
       [["type", "name", "label", "choice_filter"], ["text", "q1", "One", "region = 'x'"]])
simple("broken_calculate.xlsx", ok_settings,
       [["type", "name", "label"], ["text", "q1", "One"], ["calculate", "c", None]])
simple("broken_or_other.xlsx", ok_settings,
       [["type", "name", "label"], ["select_one l or_other", "q1", "One"]],
       [["list_name", "name", "label"], ["l", "a", "A"], ["l", "other", "Other"]])
simple("broken_no_version.xlsx", None)
simple("broken_many.xlsx", ok_settings,
       [["type", "name", "label", "required"], ["audio", "a", "Say it", None],
        ["text", "b", "B", "maybe"], ["begin_repeat", "r", "R", None],
        ["text", "c", "C", None]])
save("broken_empty.xlsx", [("Sheet1", [])])
simple("broken_deep.xlsx", ok_settings,
       [["type", "name", "label"]] + [["begin_group", "g%d" % i, "G"] for i in range(40)]
       + [["text", "q", "Q"]] + [["end_group"]] * 40)

with open(os.path.join(OUT, "broken_old.xlsx"), "wb") as f:
    # An OLE compound file's signature and a BIFF8 workbook's stream name, as UTF-16.
    f.write(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + b"\0" * 504 + "Workbook".encode("utf-16-le")
            + b"\0" * 1024)
with open(os.path.join(OUT, "broken_password.xlsx"), "wb") as f:
    f.write(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + b"\0" * 504
            + "EncryptionInfo".encode("utf-16-le") + b"\0" * 64
            + "EncryptedPackage".encode("utf-16-le") + b"\0" * 1024)
with open(os.path.join(OUT, "broken_zero.xlsx"), "wb") as f:
    pass
with open(os.path.join(OUT, "full.xlsx"), "rb") as f:
    whole = f.read()
with open(os.path.join(OUT, "broken_cut.xlsx"), "wb") as f:
    f.write(whole[: len(whole) // 2])
with open(os.path.join(OUT, "broken_text.xlsx"), "wb") as f:
    f.write(b"type,name,label\ntext,q1,One\n")

# A zip bomb: a worksheet of 64 MiB of spaces, a few dozen KiB packed.
bomb = os.path.join(OUT, "broken_bomb.xlsx")
simple("broken_bomb.xlsx", ok_settings)
with zipfile.ZipFile(bomb) as z:
    parts = [(i.filename, z.read(i.filename)) for i in z.infolist()]
with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
    for name, data in parts:
        if name == "xl/worksheets/sheet1.xml":
            z.writestr(name, data[:-len(b"</worksheet>")] + b" " * (64 << 20) + b"</worksheet>")
        else:
            z.writestr(name, data)

with open(os.path.join(OUT, "done"), "w") as f:
    f.write("ok\n")
