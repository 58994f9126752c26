"""Regenerate the sample inputs in samples/ (seeded: the same rows and cells on every run)."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent
SEED = 20240305

# --- activities.csv / activities.xlsx ------------------------------------------------

# fmt: off
ACTIVITY_HEADERS = [
    "Reference", "Account", "Contact", "Type", "Source",
    "Happened At", "Subject", "Agent", "Priority",
]

ACCOUNTS = {
    "Brightlane Logistics": ["anna.k@brightlane.example", "tom.reyes@brightlane.example"],
    "Northwind Traders, Inc.": ["j.meyer@northwind.example", "priya.s@northwind.example"],
    "Kestrel Manufacturing": ["l.okafor@kestrel-mfg.example"],
    "Harbor & Pine Insurance": ["mchen@harborpine.example", "d.novak@harborpine.example"],
    "Vantage Health Systems": ["r.alvarez@vantagehealth.example"],
    "Blue Fjord Software AS": ["ingrid.h@bluefjord.example"],
}

# (type, source, subjects) — subjects that fit the activity type.
ACTIVITY_KINDS = [
    ("Support Ticket", "Zendesk", ["Cannot export monthly report", "SSO login loop after update",
                                   "API rate limit errors since Monday",
                                   "Invoice PDF shows wrong VAT"]),
    ("Meeting", "Salesforce", ["Quarterly business review", "Renewal kickoff",
                               "Onboarding workshop"]),
    ("Call", "Salesforce", ["Follow-up on pricing proposal", "Escalation call with ops lead"]),
    ("Invoice", "NetSuite", ["Invoice INV-2024-0311 issued", "Credit note for duplicate charge"]),
    ("Support Ticket", "Freshdesk", ["Shipment tracking not updating", "Add two seats to plan"]),
]

AGENTS = ["Maria Lopez", "Ken Watanabe", "Sofie Jansen", "Omar Haddad"]
PRIORITIES = ["Low", "Normal", "High", "Urgent"]
# fmt: on


def _random_activity(rng: random.Random, reference: str, when: datetime) -> dict[str, object]:
    """One plausible, valid activity; `when` becomes a real date cell in the xlsx."""
    account = rng.choice(sorted(ACCOUNTS))
    kind, source, subjects = rng.choice(ACTIVITY_KINDS)
    return {
        "Reference": reference,
        "Account": account,
        "Contact": rng.choice(ACCOUNTS[account]),
        "Type": kind,
        "Source": source,
        "Happened At": when,
        "Subject": rng.choice(subjects),
        "Agent": rng.choice(AGENTS),
        "Priority": rng.choice(PRIORITIES),
    }


def activity_rows() -> list[dict[str, object]]:
    """~25 rows: mostly valid, plus the edge cases the README lists (in file order)."""
    rng = random.Random(SEED)
    start = datetime(2024, 3, 4, 8, 0, 0)
    rows = [
        _random_activity(
            rng,
            f"ACT-{10401 + i}",
            start + timedelta(hours=rng.randint(0, 24 * 60), seconds=rng.randint(0, 3599)),
        )
        for i in range(12)
    ]

    # fmt: off
    special: list[tuple[int, dict[str, object]]] = [
        # Leading zeros must survive: sent as "000123", not 123.
        (1, {"Reference": "000123", "Account": "Brightlane Logistics",
             "Contact": "anna.k@brightlane.example", "Type": "Support Ticket", "Source": "Zendesk",
             "Happened At": "2024-03-05 14:22:10", "Subject": "Dashboard loads slowly",
             "Agent": "Maria Lopez", "Priority": "High"}),
        # In the xlsx this reference is a numeric cell: sent as "5000", not "5000.0".
        (3, {"Reference": 5000, "Account": "Kestrel Manufacturing",
             "Contact": "l.okafor@kestrel-mfg.example", "Type": "Invoice", "Source": "NetSuite",
             "Happened At": datetime(2024, 3, 6, 9, 0, 0),
             "Subject": "Invoice INV-2024-5000 issued",
             "Agent": "Omar Haddad", "Priority": "Normal"}),
        # ISO 8601 forms, kept as text in both files.
        (5, {"Reference": "ACT-10501", "Account": "Harbor & Pine Insurance",
             "Contact": "mchen@harborpine.example", "Type": "Call", "Source": "Salesforce",
             "Happened At": "2024-03-05T14:22:10Z", "Subject": "Follow-up on pricing proposal",
             "Agent": "Ken Watanabe", "Priority": "Normal"}),
        (7, {"Reference": "ACT-10502", "Account": "Blue Fjord Software AS",
             "Contact": "ingrid.h@bluefjord.example", "Type": "Meeting", "Source": "Salesforce",
             "Happened At": "2024-03-05T16:22:10+02:00", "Subject": "Renewal kickoff",
             "Agent": "Sofie Jansen", "Priority": "Low"}),
        (8, {"Reference": "ACT-10503", "Account": "Vantage Health Systems",
             "Contact": "", "Type": "Meeting", "Source": "Excel",
             "Happened At": "2024-03-05", "Subject": "On-site visit (date only)",
             "Agent": "Omar Haddad", "Priority": ""}),
        # No reference: the importer derives "auto-<hash>" from the content.
        (10, {"Reference": "", "Account": "Northwind Traders, Inc.",
              "Contact": "j.meyer@northwind.example", "Type": "Call", "Source": "Excel",
              "Happened At": datetime(2024, 3, 12, 10, 30, 0), "Subject": "Intro call with new CFO",
              "Agent": "Ken Watanabe", "Priority": "Normal"}),
        (12, {"Reference": "", "Account": "Kestrel Manufacturing",
              "Contact": "l.okafor@kestrel-mfg.example", "Type": "Meeting", "Source": "Excel",
              "Happened At": datetime(2024, 3, 14, 15, 0, 0), "Subject": "Plant tour",
              "Agent": "Sofie Jansen", "Priority": "Low"}),
        # Formula-injection demo: plain text that looks like a formula.
        (14, {"Reference": "ACT-10504", "Account": "Brightlane Logistics",
              "Contact": "tom.reyes@brightlane.example", "Type": "Support Ticket",
              "Source": "Zendesk",
              "Happened At": datetime(2024, 3, 18, 11, 5, 42),
              "Subject": '=HYPERLINK("http://example.com","click")',
              "Agent": "Maria Lopez", "Priority": "Normal"}),
        # Invalid: account is required.
        (16, {"Reference": "ACT-10901", "Account": "", "Contact": "priya.s@northwind.example",
              "Type": "Support Ticket", "Source": "Zendesk",
              "Happened At": datetime(2024, 3, 19, 9, 12, 0), "Subject": "Missing account demo",
              "Agent": "Omar Haddad", "Priority": "Low"}),
        # Invalid: day-first date is ambiguous without date_format.
        (17, {"Reference": "ACT-10902", "Account": "Harbor & Pine Insurance",
              "Contact": "d.novak@harborpine.example", "Type": "Call", "Source": "Salesforce",
              "Happened At": "06/10/2024", "Subject": "Ambiguous date demo",
              "Agent": "Ken Watanabe", "Priority": "Normal"}),
        # Invalid: type longer than 100 characters.
        (19, {"Reference": "ACT-10903", "Account": "Vantage Health Systems",
              "Contact": "r.alvarez@vantagehealth.example",
              "Type": "Support Ticket - escalated to tier 3 engineering after repeated outages "
                      "affecting the EU production cluster",
              "Source": "Zendesk", "Happened At": datetime(2024, 3, 21, 13, 45, 0),
              "Subject": "Type too long demo", "Agent": "Sofie Jansen", "Priority": "Urgent"}),
        # Invalid: unparseable date.
        (21, {"Reference": "ACT-10904", "Account": "Blue Fjord Software AS",
              "Contact": "ingrid.h@bluefjord.example", "Type": "Meeting", "Source": "Salesforce",
              "Happened At": "yesterday", "Subject": "Unparseable date demo",
              "Agent": "Maria Lopez", "Priority": "Low"}),
        # Valid here, but the sandbox API rejects contacts at unknown.example with 422.
        (23, {"Reference": "ACT-10905", "Account": "Northwind Traders, Inc.",
              "Contact": "nobody@unknown.example", "Type": "Support Ticket", "Source": "Zendesk",
              "Happened At": datetime(2024, 3, 22, 8, 30, 0), "Subject": "Server rejection demo",
              "Agent": "Omar Haddad", "Priority": "Normal"}),
    ]
    # fmt: on
    for position, row in special:
        rows.insert(position, row)
    return rows


def _as_text(value: object) -> str:
    """How a cell looks in the CSV: datetimes as 'Y-m-d H:i:s', everything else as-is."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def write_activities(rows: list[dict[str, object]]) -> None:
    """Same rows twice: activities.csv (all text) and activities.xlsx (typed cells)."""
    with open(HERE / "activities.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ACTIVITY_HEADERS)
        for row in rows:
            writer.writerow([_as_text(row[h]) for h in ACTIVITY_HEADERS])

    wb = Workbook()
    ws = wb.active
    ws.title = "Activities"
    ws.append(ACTIVITY_HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(rows, start=2):
        for c, header in enumerate(ACTIVITY_HEADERS, start=1):
            value = row[header]
            if value == "":
                continue  # a truly empty cell, as Excel would have it
            cell = ws.cell(row=r, column=c, value=value)
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # openpyxl would otherwise store a live formula
    for letter, width in zip("ABCDEFGHI", (12, 26, 32, 18, 12, 22, 40, 16, 10), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    fixed = datetime(2024, 4, 1, 0, 0, 0)
    wb.properties.creator = "cg-import samples"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.save(HERE / "activities.xlsx")


# --- vendor exports (one per profile in schemas/profiles/) ---------------------------

# fmt: off
ZENDESK = [
    ["Id", "Requester", "Requester email", "Organization", "Subject", "Status", "Priority",
     "Ticket type", "Via", "Assignee", "Group", "Tags", "Created at", "Updated at", "Solved at"],
    ["48211", "Anna Kowalski", "anna.k@brightlane.example", "Brightlane Logistics",
     "Cannot export monthly report", "Solved", "High", "Problem", "Mail", "Maria Lopez", "Tier 1",
     "export reports", "2024-03-05 14:22:10 +0100", "2024-03-06 09:10:00 +0100",
     "2024-03-06 09:10:00 +0100"],
    ["48219", "Jonas Meyer", "j.meyer@northwind.example", "Northwind Traders, Inc.",
     "SSO login loop after update", "Open", "Urgent", "Incident", "Web Form", "Ken Watanabe",
     "Tier 2", "sso login", "2024-03-05 16:48:03 +0100", "2024-03-05 17:02:41 +0100", ""],
    ["48230", "Lola Okafor", "l.okafor@kestrel-mfg.example", "Kestrel Manufacturing",
     "Invoice PDF shows wrong VAT", "Pending", "Normal", "Question", "Mail", "Omar Haddad",
     "Billing", "billing vat", "2024-03-06 08:01:55 +0100", "2024-03-06 11:30:12 +0100", ""],
    ["48244", "Michael Chen", "mchen@harborpine.example", "Harbor & Pine Insurance",
     "API rate limit errors since Monday", "Solved", "High", "Incident", "API", "Ken Watanabe",
     "Tier 2", "api", "2024-03-07 10:15:00 -0500", "2024-03-08 12:00:00 -0500",
     "2024-03-08 12:00:00 -0500"],
    ["48251", "Rosa Alvarez", "r.alvarez@vantagehealth.example", "Vantage Health Systems",
     "Add two seats to our plan", "Closed", "Low", "Task", "Chat", "Sofie Jansen", "Sales",
     "seats upsell", "2024-03-07 15:40:27 -0800", "2024-03-07 16:05:00 -0800",
     "2024-03-07 16:05:00 -0800"],
    ["48263", "Ingrid Haugen", "ingrid.h@bluefjord.example", "Blue Fjord Software AS",
     "Webhook retries not documented", "Open", "Normal", "Question", "Web Form", "Maria Lopez",
     "Tier 1", "docs webhooks", "2024-03-08 09:03:12 +0100", "2024-03-08 09:03:12 +0100", ""],
    ["48270", "Tom Reyes", "tom.reyes@brightlane.example", "Brightlane Logistics",
     "Shipment tracking not updating", "Solved", "High", "Incident", "Phone", "Omar Haddad",
     "Tier 2", "tracking", "2024-03-11 07:55:40 +0100", "2024-03-11 13:20:00 +0100",
     "2024-03-11 13:20:00 +0100"],
    ["48288", "Priya Shah", "priya.s@northwind.example", "Northwind Traders, Inc.",
     "Request for SOC 2 report", "Closed", "Low", "Question", "Mail", "Sofie Jansen", "Security",
     "compliance", "2024-03-12 13:30:00 +0000", "2024-03-13 10:00:00 +0000",
     "2024-03-13 10:00:00 +0000"],
]

# Freshdesk export as re-saved by Excel on German Windows: cp1252, ';', day-first dates.
FRESHDESK = [
    ["Ticket ID", "Subject", "Status", "Priority", "Source", "Type", "Agent", "Group",
     "Created time", "Due by Time", "Resolved time", "Last update time", "Tags", "Full name",
     "Email", "Company Name"],
    ["1041", "Lieferung unvollständig", "Resolved", "High", "Email", "Incident", "Jana Weiß",
     "Logistik", "04.03.2024 09:15", "05.03.2024 09:15", "04.03.2024 16:40", "04.03.2024 16:40",
     "lieferung", "Klaus Müller", "k.mueller@mueller-gmbh.example", "Müller GmbH"],
    ["1042", "Rückerstattung für Rechnung 2024-118 (249,00 €)", "Open", "Medium", "Portal",
     "Question", "Lukas Brandt", "Buchhaltung", "04.03.2024 11:02", "06.03.2024 11:02", "",
     "05.03.2024 08:30", "rechnung; erstattung", "Sabine Schäfer",
     "s.schaefer@baeckerei-schaefer.example", "Bäckerei Schäfer KG"],
    ["1043", "Accès au portail client impossible", "Pending", "Urgent", "Phone", "Incident",
     "Jana Weiß", "Support", "05.03.2024 14:47", "05.03.2024 18:47", "", "05.03.2024 15:10",
     "login", "Élodie Garnier", "e.garnier@societegenerale.example", "Société Générale"],
    ["1044", "Angebot für Wartungsvertrag", "Closed", "Low", "Email", "Feature Request",
     "Lukas Brandt", "Vertrieb", "07.03.2024 08:20", "12.03.2024 08:20", "08.03.2024 10:00",
     "08.03.2024 10:00", "", "Jörg Hoffmann", "j.hoffmann@hoffmann-bau.example",
     "Hoffmann Bau AG"],
    ["1045", "Drucker meldet Fehler 0x51", "Resolved", "Medium", "Chat", "Incident",
     "Jana Weiß", "Support", "11.03.2024 13:05", "12.03.2024 13:05", "11.03.2024 17:45",
     "11.03.2024 17:45", "hardware", "Klaus Müller", "k.mueller@mueller-gmbh.example",
     "Müller GmbH"],
    ["1046", "Schulung für neue Mitarbeiter", "Open", "Low", "Portal", "Question",
     "Lukas Brandt", "Customer Success", "15.03.2024 10:30", "22.03.2024 10:30", "",
     "15.03.2024 10:30", "schulung", "Renée Dubois", "r.dubois@societegenerale.example",
     "Société Générale"],
    ["1047", "Zugangsdaten zurücksetzen", "Closed", "High", "Phone", "Incident", "Jana Weiß",
     "Support", "02.04.2024 07:50", "02.04.2024 11:50", "02.04.2024 08:15", "02.04.2024 08:15",
     "login", "Sabine Schäfer", "s.schaefer@baeckerei-schaefer.example", "Bäckerei Schäfer KG"],
    ["1048", "Frage zur Jahresrechnung", "Resolved", "Medium", "Email", "Question",
     "Lukas Brandt", "Buchhaltung", "03.04.2024 16:12", "05.04.2024 16:12", "04.04.2024 09:00",
     "04.04.2024 09:00", "rechnung", "Jörg Hoffmann", "j.hoffmann@hoffmann-bau.example",
     "Hoffmann Bau AG"],
]

# Salesforce Lightning "Cases" report, exported as Details Only CSV, US locale.
SALESFORCE = [
    ["Case Owner", "Case Number", "Subject", "Status", "Priority", "Case Origin", "Type",
     "Date/Time Opened", "Date/Time Closed", "Account Name", "Contact Name", "Contact: Email",
     "Age", "Open", "Closed"],
    ["Ken Watanabe", "00001027", "Renewal quote needs updated pricing", "Closed", "Medium",
     "Email", "Question", "3/4/2024 9:05 AM", "3/5/2024 2:10 PM", "Harbor & Pine Insurance",
     "Michael Chen", "mchen@harborpine.example", "1", "0", "1"],
    ["Maria Lopez", "00001031", "Data sync to ERP failing", "Working", "High", "Web",
     "Problem", "3/5/2024 10:34 PM", "", "Kestrel Manufacturing", "Lola Okafor",
     "l.okafor@kestrel-mfg.example", "27", "1", "0"],
    ["Sofie Jansen", "00001038", "Request onboarding session", "Closed", "Low", "Phone",
     "Question", "3/7/2024 11:20 AM", "3/8/2024 4:00 PM", "Vantage Health Systems",
     "Rosa Alvarez", "r.alvarez@vantagehealth.example", "1", "0", "1"],
    ["Omar Haddad", "00001042", "Billing contact change", "Closed", "Low", "Email", "Question",
     "3/11/2024 8:45 AM", "3/11/2024 9:30 AM", "Northwind Traders, Inc.", "Priya Shah",
     "priya.s@northwind.example", "0", "0", "1"],
    ["Ken Watanabe", "00001049", "Outage: reporting dashboard 500 errors", "Escalated", "High",
     "Phone", "Problem", "3/12/2024 1:15 PM", "", "Brightlane Logistics", "Anna Kowalski",
     "anna.k@brightlane.example", "20", "1", "0"],
    ["Maria Lopez", "00001053", "Feature request: CSV export of audit log", "New", "Medium",
     "Web", "Feature Request", "3/14/2024 3:42 PM", "", "Blue Fjord Software AS",
     "Ingrid Haugen", "ingrid.h@bluefjord.example", "18", "1", "0"],
    ["Sofie Jansen", "00001060", "Contract PDF missing signature page", "Closed", "Medium",
     "Email", "Question", "3/18/2024 12:00 PM", "3/19/2024 10:15 AM", "Harbor & Pine Insurance",
     "Dana Novak", "d.novak@harborpine.example", "1", "0", "1"],
    ["Omar Haddad", "00001066", "Password reset emails delayed", "Closed", "High", "Phone",
     "Problem", "10/6/2024 10:34 PM", "10/7/2024 7:20 AM", "Brightlane Logistics",
     "Tom Reyes", "tom.reyes@brightlane.example", "1", "0", "1"],
]

HUBSPOT = [
    ["Ticket ID", "Ticket name", "Ticket status", "Pipeline", "Priority", "Source",
     "Ticket owner", "Create date", "Last activity date", "Close date", "Associated Company",
     "Associated Contact", "Ticket description"],
    ["1873459120", "Cannot add users to workspace", "Closed", "Support Pipeline", "High",
     "Email", "Maria Lopez", "2024-03-04 09:12", "2024-03-05 10:00", "2024-03-05 10:00",
     "Brightlane Logistics", "Anna Kowalski", "Invite button greyed out for admins."],
    ["1873461877", "Question about annual billing", "Waiting on contact", "Support Pipeline",
     "Low", "Chat", "Omar Haddad", "2024-03-05 13:47", "2024-03-06 08:15", "",
     "Northwind Traders, Inc.", "Priya Shah", "Wants to switch from monthly to annual."],
    ["1873470032", "Integration with Slack stopped", "Waiting on us", "Support Pipeline",
     "High", "Form", "Ken Watanabe", "2024-03-06 16:05", "2024-03-07 09:40", "",
     "Blue Fjord Software AS", "Ingrid Haugen", "No notifications since the last release."],
    ["1873482215", "Export to CSV times out", "Closed", "Support Pipeline", "Medium", "Email",
     "Sofie Jansen", "2024-03-08 11:30", "2024-03-11 14:00", "2024-03-11 14:00",
     "Kestrel Manufacturing", "Lola Okafor", "Large exports fail after 60 seconds."],
    ["1873490458", "Request for data processing agreement", "New", "Support Pipeline", "Low",
     "Email", "Omar Haddad", "2024-03-11 10:02", "2024-03-11 10:02", "",
     "Vantage Health Systems", "Rosa Alvarez", "Legal needs a signed DPA."],
    ["1873501339", "Wrong currency on quote", "Closed", "Support Pipeline", "Medium", "Chat",
     "Maria Lopez", "2024-03-12 15:20", "2024-03-12 17:45", "2024-03-12 17:45",
     "Harbor & Pine Insurance", "Michael Chen", "Quote shows USD instead of EUR."],
    ["1873512004", "Mobile app crashes on login", "Waiting on us", "Support Pipeline", "High",
     "Form", "Ken Watanabe", "2024-03-14 08:55", "2024-03-15 09:30", "",
     "Brightlane Logistics", "Tom Reyes", "iOS 17.3, app version 4.2.1."],
    ["1873520761", "Add SSO for contractors", "New", "Support Pipeline", "Medium", "Email",
     "Sofie Jansen", "2024-03-18 12:10", "2024-03-18 12:10", "", "Northwind Traders, Inc.",
     "Jonas Meyer", "Separate IdP group for contractors."],
]
# fmt: on


def write_export(
    name: str, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ","
) -> None:
    """Write one vendor export as CSV, quoting only where the dialect needs it."""
    with open(HERE / name, "w", encoding=encoding, newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)


# fmt: off

# --- real export formats (issue #9): what the vendors' own systems write -------------

_PEOPLE = [
    ("Anna Kowalski", "anna.k@brightlane.example", "Brightlane Logistics"),
    ("Jonas Meyer", "j.meyer@northwind.example", "Northwind Traders, Inc."),
    ("Lola Okafor", "l.okafor@kestrel-mfg.example", "Kestrel Manufacturing"),
    ("Michael Chen", "mchen@harborpine.example", "Harbor & Pine Insurance"),
    ("Rosa Alvarez", "r.alvarez@vantagehealth.example", "Vantage Health Systems"),
    ("Ingrid Haugen", "ingrid.h@bluefjord.example", "Blue Fjord Software AS"),
]
_SUBJECTS = [
    "Cannot export monthly report", "SSO login loop after update", "Invoice PDF shows wrong VAT",
    "API rate limit errors since Monday", "Add two seats to our plan", "Webhook retries",
    "Shipment tracking not updating", "Request for SOC 2 report", "Password reset link expired",
]
_SF_IDS = {
    "Brightlane Logistics": "0015g00000Q1bLAAAZ", "Northwind Traders, Inc.": "0015g00000Q1bLBAAZ",
    "Kestrel Manufacturing": "0015g00000Q1bLCAAZ", "Harbor & Pine Insurance": "0015g00000Q1bLDAAZ",
    "Vantage Health Systems": "0015g00000Q1bLEAAZ", "Blue Fjord Software AS": "0015g00000Q1bLFAAZ",
}
_EMPTY_LOOKUP = "000000000000000AAA"  # how the Data Export writes an empty lookup


def _moments(rng: random.Random, count: int, start: datetime) -> list[datetime]:
    moments, when = [], start
    for _ in range(count):
        when += timedelta(minutes=rng.randint(17, 1900), seconds=rng.randint(0, 59))
        moments.append(when)
    return moments


def write_real_exports() -> None:
    """One file per real export format the profiles must read (see samples/README.md)."""
    rng = random.Random(SEED + 9)
    # Salesforce Case extract by API name (Data Loader / Data Export): every field quoted,
    # CreatedDate in UTC with milliseconds and +0000, empty lookups as 000000000000000AAA.
    rows = [["Id", "CaseNumber", "AccountId", "ContactId", "ContactEmail", "SuppliedEmail",
             "Subject", "Status", "Priority", "Origin", "Type", "OwnerId", "ParentId",
             "CreatedDate", "ClosedDate", "IsClosed"]]
    for i, when in enumerate(_moments(rng, 24, datetime(2024, 1, 22, 8, 0))):
        name, email, account = _PEOPLE[i % len(_PEOPLE)]
        closed = rng.random() < 0.5
        web = i % 5 == 3  # a web-to-case case: no contact, the web email only
        rows.append([
            f"5005g00000{i:05d}AAA", f"{1100 + i:08d}",
            _EMPTY_LOOKUP if i == 17 else _SF_IDS[account],
            _EMPTY_LOOKUP if web else f"0035g00000{i:05d}AAA", "" if web else email,
            email if web else "", rng.choice(_SUBJECTS),
            "Closed" if closed else rng.choice(["New", "Working", "Escalated"]),
            rng.choice(["Low", "Medium", "High"]), "Web" if web else rng.choice(["Email", "Phone"]),
            rng.choice(["Question", "Problem", "Feature Request"]), "0055g00000AbCdEAAV",
            _EMPTY_LOOKUP, when.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
            (when + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S.000+0000") if closed else "",
            "true" if closed else "false",
        ])
    with open(HERE / "salesforce_cases_extract.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)

    # Salesforce Case query through the `sf` CLI / Bulk API 2.0: API names, a few fields,
    # CreatedDate as "2026-06-09 18:24:44" (UTC), SuppliedEmail for the web email.
    rows = [["CaseNumber", "AccountId", "SuppliedEmail", "Subject", "Status", "CreatedDate"]]
    for i, when in enumerate(_moments(rng, 12, datetime(2026, 6, 1, 9, 0))):
        name, email, account = _PEOPLE[(i * 5) % len(_PEOPLE)]
        rows.append([f"{2400 + i:08d}", _SF_IDS[account], email, rng.choice(_SUBJECTS),
                     rng.choice(["New", "Closed"]), when.strftime("%Y-%m-%d %H:%M:%S")])
    write_export("salesforce_cases_sf_cli.csv", rows)

    # Freshdesk ticket export straight from Freshdesk: comma-separated UTF-8, times in the
    # helpdesk's zone; the analyst left Agent and Group out of the export dialog.
    rows = [["Ticket ID", "Subject", "Status", "Priority", "Source", "Type", "Created time",
             "Due by Time", "Resolved time", "Closed time", "Last update time",
             "Initial response time", "Time tracked", "First response time (in hrs)",
             "Resolution time (in hrs)", "Agent interactions", "Customer interactions",
             "Resolution status", "First response status", "Tags", "Survey results",
             "Full name", "Email", "Company Name"]]
    for i, when in enumerate(_moments(rng, 20, datetime(2025, 12, 1, 8, 30))):
        name, email, account = _PEOPLE[(i * 7) % len(_PEOPLE)]
        resolved = when + timedelta(hours=rng.randint(1, 30), minutes=rng.randint(0, 59))
        done = rng.random() < 0.6
        stamp = "%Y-%m-%d %H:%M:%S"
        rows.append([
            str(310 + i), rng.choice(_SUBJECTS), "Resolved" if done else "Open",
            rng.choice(["Low", "Medium", "High", "Urgent"]),
            rng.choice(["Email", "Portal", "Phone", "Chat"]),
            rng.choice(["Question", "Incident", "Problem"]), when.strftime(stamp),
            (when + timedelta(days=2)).strftime(stamp), resolved.strftime(stamp) if done else "",
            resolved.strftime(stamp) if done else "", resolved.strftime(stamp),
            (when + timedelta(minutes=42)).strftime(stamp), "00:15",
            "0.7", f"{(resolved - when).total_seconds() / 3600:.2f}" if done else "",
            str(rng.randint(1, 4)), str(rng.randint(1, 4)),
            "Within SLA" if done else "", "Within SLA", rng.choice(["", "billing", "login"]),
            "", name, email, account,
        ])
    write_export("freshdesk_tickets_export.csv", rows)

    # Zendesk CSV export: timestamps without an offset (the account's zone), a subset of the
    # columns (no Ticket type, no Group).
    rows = [["Id", "Requester", "Requester email", "Organization", "Subject", "Status",
             "Priority", "Via", "Assignee", "Tags", "Created at", "Updated at", "Solved at"]]
    for i, when in enumerate(_moments(rng, 20, datetime(2023, 4, 3, 7, 0))):
        name, email, account = _PEOPLE[(i * 5 + 1) % len(_PEOPLE)]
        solved = rng.random() < 0.5
        later = when + timedelta(hours=rng.randint(1, 48))
        rows.append([
            str(9120 + i), name, email, account, rng.choice(_SUBJECTS),
            "Solved" if solved else rng.choice(["Open", "Pending"]),
            rng.choice(["Low", "Normal", "High"]), rng.choice(["Mail", "Web Form", "API"]),
            rng.choice(AGENTS), "", when.strftime("%Y-%m-%d %H:%M:%S"),
            later.strftime("%Y-%m-%d %H:%M:%S"),
            later.strftime("%Y-%m-%d %H:%M:%S") if solved else "",
        ])
    write_export("zendesk_tickets_export.csv", rows)

    # A hand-made US call log: month-first dates with 12-hour times ("3/19/2024 9:12 PM").
    rows = [["Call ID", "Customer", "Email", "Type", "Source", "Started", "Agent", "Notes"]]
    for i, when in enumerate(_moments(rng, 24, datetime(2024, 3, 1, 8, 0))):
        name, email, account = _PEOPLE[(i * 3) % len(_PEOPLE)]
        hour = when.hour % 12 or 12
        rows.append([f"C-{7700 + i}", account, email, "Call", "Aircall",
                     f"{when.month}/{when.day}/{when.year} {hour}:{when.minute:02d} "
                     f"{'AM' if when.hour < 12 else 'PM'}", rng.choice(AGENTS),
                     rng.choice(["", "Asked for a callback", "Renewal questions"])])
    write_export("us_calls_month_first.csv", rows)
    write_titled_workbook()


def write_titled_workbook() -> None:
    """A hand-made workbook with a title block above the header and Excel error cells."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Q1 activities"
    ws.append(["Q1 customer activities"])
    ws.append(["Exported 2024-04-02 by the ops team"])
    ws.append([])
    ws.append(["Reference", "Account", "Contact", "Type", "Source", "Happened At", "Subject",
               "Score", None])
    ws["I4"] = "#REF!"  # a header whose formula broke: no header at all
    ws["I4"].data_type = "e"
    for cell in ws[4]:
        cell.font = Font(bold=True)
    when = datetime(2024, 1, 8, 9, 0)
    for i in range(20):
        _name, email, account = _PEOPLE[i % len(_PEOPLE)]
        when += timedelta(hours=7, minutes=13 * i)
        ws.append([f"Q1-{i + 1:03d}", account, email, "Meeting", "Outlook", when,
                   _SUBJECTS[i % len(_SUBJECTS)], 7 + i % 4])
        ws.cell(row=ws.max_row, column=6).number_format = "m/d/yyyy h:mm"
    for row, column, error in ((9, 7, "#REF!"), (14, 8, "#DIV/0!"), (18, 2, "#N/A")):
        ws.cell(row=row, column=column, value=error).data_type = "e"
    fixed = datetime(2024, 4, 2, 0, 0, 0)
    wb.properties.creator = "cg-import samples"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.save(HERE / "activities_titled.xlsx")
# fmt: on


def main() -> None:
    write_activities(activity_rows())
    write_export("zendesk_tickets.csv", ZENDESK)
    write_export("freshdesk_tickets.csv", FRESHDESK, encoding="cp1252", delimiter=";")
    write_export("salesforce_cases.csv", SALESFORCE)
    write_export("hubspot_tickets.csv", HUBSPOT)
    write_real_exports()


if __name__ == "__main__":
    main()
