"""Which column each API field comes from: by name, by a usual or a similar name, by values."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from rapidfuzz import fuzz, process

from schemas.activity import FIELDS, REQUIRED

from ..mapping import Mapping, normalise_header
from .headers import header_names, unnamed_columns
from .sampled_values import (
    EMAIL,
    PHONE,
    column_values,
    date_share,
    is_filled,
    looks_like_ids,
    share_matching,
)

_FUZZY_CUTOFF = 85
#: ways a ticket reached a helpdesk: a "Source" of these is a channel, not a system
CHANNELS = frozenset(
    {
        "email",
        "e-mail",
        "phone",
        "chat",
        "portal",
        "web",
        "web form",
        "feedback widget",
        "outbound email",
        "twitter",
        "facebook",
        "whatsapp",
        "mobihelp",
        "forum",
        "walk-in",
        "sms",
        "api",
        "bot",
        "messenger",
        "voice",
        "mobile",
        "social",
        "ecommerce",
        "widget",
    }
)
#: categories of tickets and issues: a "Type" of these is a category, not a kind of activity
CATEGORIES = frozenset(
    {
        "problem",
        "question",
        "feature request",
        "refund",
        "bug",
        "improvement",
        "story",
        "epic",
        "sub-task",
        "subtask",
        "request",
        "complaint",
        "inquiry",
        "enquiry",
        "other",
        "general",
        "billing",
        "technical",
        "issue",
        "incident",
        "new feature",
    }
)
#: kinds of activity, as a column of activity types names them
KINDS = frozenset(
    {
        "ticket",
        "support ticket",
        "call",
        "phone call",
        "meeting",
        "invoice",
        "email",
        "case",
        "task",
        "chat",
        "visit",
        "demo",
        "training",
        "renewal",
        "order",
        "purchase",
        "conversation",
        "appointment",
        "survey",
        "onboarding session",
        "service request",
    }
)
#: where no column names the customer company: its ID, else the person who raised the record
_ACCOUNT_IDS = (
    "account id",
    "accountid",
    "company id",
    "organization id",
    "organisation id",
    "org id",
    "customer id",
    "client id",
    "account",
    "account number",
    "customer number",
)
_ACCOUNT_PEOPLE = (
    "caller",
    "caller id",
    "requester",
    "requester id",
    "requester name",
    "requested by",
    "requested for",
    "affected user",
    "reporter",
    "contact name",
    "contact",
    "customer contact",
    "contact id",
    "end user",
)
#: header words that say a column holds what the field wants, whatever its values' words
_SAYS = {"source": ("system",), "type": ("activity", "record")}
_VALUES_SHARE = 0.8  # share of sampled values that must look right for a value-based match
#: an ID column by name stays the reference with at most this share of blanks and repeats
_GAPS_SHARE = 0.1

#: names that exports use for each field, besides the profiles' own headers
_ALIASES: dict[str, tuple[str, ...]] = {
    "reference": (
        "ref",
        "id",
        "ticket id",
        "ticket number",
        "ticket no",
        "case number",
        "case id",
        "activity id",
        "external id",
        "record id",
    ),
    "account": (
        "account name",
        "company",
        "company name",
        "organization",
        "organisation",
        "organization name",
        "customer",
        "customer name",
        "client",
        "client name",
        "associated company",
    ),
    "contact": (
        "email",
        "e mail",
        "email address",
        "contact email",
        "requester email",
        "customer email",
        "phone",
    ),
    "type": ("activity type", "record type", "activity kind"),
    "source": ("activity source", "source system", "system", "origin system"),
    "happened_at": (
        "date",
        "created",
        "created at",
        "created on",
        "created date",
        "created time",
        "creation date",
        "date created",
        "create date",
        "date time",
        "timestamp",
        "date time opened",
        "opened",
        "activity date",
    ),
}


@dataclass(frozen=True)
class FieldChoice:
    """Where one API field comes from, and how that was decided (for the comment)."""

    column: int | None  # None: no candidate, a placeholder is written
    how: str
    candidates: tuple[str, ...] = ()  # headers that might do, for a placeholder
    fallbacks: tuple[int, ...] = ()  # columns read, in order, where ``column`` is blank


def match_fields(
    fields: dict[str, FieldChoice],
    constants: dict[str, str],
    headers: list[str],
    sample: pd.DataFrame,
    profiles: dict[str, Mapping],
    notes: list[str] | None = None,
) -> None:
    """Fill in the fields not yet mapped, stage by stage over the columns still free
    (``notes`` gets what was looked at and not taken, and why)."""
    todo = [name for name in FIELDS if name not in fields and name not in constants]
    columns = _FreeColumns(fields, headers, sample, _all_aliases(profiles))
    stages = (
        columns.by_name,
        columns.by_usual_name,
        columns.by_similar_name,
        columns.by_values,
        columns.by_second_choice,
    )
    for stage in stages:
        for name in list(todo):
            choice = stage(name)
            if choice is not None:
                fields[name] = choice
                todo.remove(name)
    if fields.get("account") and fields["account"].column is not None:
        fields["account"] = columns.with_fallbacks(fields["account"])
    if notes is not None:
        notes.extend(dict.fromkeys(columns.notes))
    names = header_names(headers)
    for name in todo:
        if name in REQUIRED:
            fields[name] = FieldChoice(None, "", _candidates(columns.free(), names, sample))


class _FreeColumns:
    """The columns no field has taken yet, and the ways of choosing one of them for a field."""

    def __init__(
        self,
        fields: dict[str, FieldChoice],
        headers: list[str],
        sample: pd.DataFrame,
        aliases: dict[str, set[str]],
    ) -> None:
        self.fields = fields  # the choices so far, filled in as the stages go
        self.headers = headers
        self.words = [words_of(header) for header in headers]
        self.sample = sample
        self.aliases = aliases
        self.unnamed = unnamed_columns(headers)
        self.notes: list[str] = []  # columns looked at and not taken, and why

    def free(self) -> list[int]:
        used = {choice.column for choice in self.fields.values()} | self.unnamed
        used |= {p for choice in self.fields.values() for p in choice.fallbacks}
        return [p for p in range(len(self.headers)) if p not in used]

    def plausible(self, name: str, position: int) -> bool:
        values = column_values(self.sample, position)
        if name in ("source", "type"):
            return self.not_taken(name, position) is None
        if name == "contact":
            if _one_address(values):
                return False  # one address on every row: the help desk's own inbox
            return (
                share_matching(values, EMAIL) >= _VALUES_SHARE
                or share_matching(values, PHONE) >= 0.95
            )
        if name == "happened_at":
            return date_share(values) >= _VALUES_SHARE
        if name == "reference":
            return looks_like_ids(values)
        return True

    def not_taken(self, name: str, position: int) -> str | None:
        """Why a column named like ``source`` or ``type`` is not the source system or the
        activity type (its values are channels, codes or categories), or None."""
        values = column_values(self.sample, position).dropna()
        header = self.headers[position]
        if values.empty:
            return f"'{header}' was not taken as {name}: it is blank in the sample"
        shown = ", ".join(f"'{v}'" for v in values.drop_duplicates().head(3))
        if share_matching(values, r"^[\d\s.\-]+$") >= 0.5:
            return f"'{header}' was not taken as {name}: its values are codes ({shown})"
        if any(word in self.words[position].split() for word in _SAYS[name]):
            return None
        words = values.str.lower().str.strip()
        if name == "source" and float(words.isin(CHANNELS).mean()) >= 0.5:
            return (
                f"'{header}' was not taken as the source system: its values are channels ({shown})"
            )
        if (
            name == "type"
            and float(words.isin(CATEGORIES).mean()) >= 0.5
            and float(words.isin(KINDS).mean()) < _VALUES_SHARE
        ):
            return (
                f"'{header}' was not taken as the activity type: its values are categories "
                f"({shown})"
            )
        return None

    def by_name(self, name: str) -> FieldChoice | None:
        """Exact and normalised names."""
        target = words_of(name)
        for position in self.free():
            if normalise_header(self.headers[position]) == name or self.words[position] == target:
                if name in ("source", "type") and (why := self.not_taken(name, position)):
                    self.notes.append(why)
                    continue
                return FieldChoice(position, "its name")
        return None

    def by_usual_name(self, name: str) -> FieldChoice | None:
        """The profiles' headers and common names for the field (a reference by its name
        stays one though the sample holds a few blanks or repeats: init says what then)."""
        for position in self.free():
            if self.words[position] not in self.aliases[name]:
                continue
            if self.plausible(name, position):
                return FieldChoice(position, "a usual name for it")
            if name == "reference" and (gaps := self.gaps(position)):
                return FieldChoice(position, f"a usual name for it; {gaps}")
            if name == "reference" and _one_id(column_values(self.sample, position)):
                return FieldChoice(position, "a usual name for it (one sampled row)")
        return None

    def gaps(self, position: int) -> str | None:
        """For an ID column by name: its blanks and repeats in the sample and what they mean,
        if they are few (at most ``_GAPS_SHARE`` of the rows) and the rest look like IDs."""
        values = column_values(self.sample, position)
        present = values.dropna()
        blank = len(values) - len(present)
        repeated = int(present.duplicated().sum())
        if not len(present) or (blank + repeated) > _GAPS_SHARE * len(values):
            return None
        if not looks_like_ids(present.drop_duplicates()):
            return None
        said = []
        if blank:
            said.append(f"{blank:,} blank (its reference is derived from the row's content)")
        if repeated:
            said.append(f"{repeated:,} repeated (the same activity, updated: the later row wins)")
        return f"in {len(values):,} sampled rows " + " and ".join(said)

    def by_similar_name(self, name: str) -> FieldChoice | None:
        """Names close to those (typos, other spellings)."""
        names = [words_of(name), *self.aliases[name]]
        scored = [
            (found[1], position)
            for position in self.free()
            if self.words[position]
            and (found := process.extractOne(self.words[position], names, scorer=fuzz.ratio))
            and found[1] >= _FUZZY_CUTOFF
            and self.plausible(name, position)
        ]
        if not scored:
            return None
        _, position = max(scored, key=lambda pair: (pair[0], -pair[1]))
        return FieldChoice(position, f"a name like '{words_of(name)}'")

    def by_second_choice(self, name: str) -> FieldChoice | None:
        """For ``account`` where no column names the company: its ID, else the person who
        raised the record (caller, requester, affected user)."""
        if name != "account":
            return None
        for tier, how in (
            (_ACCOUNT_IDS, "a company ID: no column names the company"),
            (_ACCOUNT_PEOPLE, "the person who raised it: no column names the company"),
        ):
            for position in self.free():
                if self.words[position] in tier and is_filled(self.sample, position):
                    return FieldChoice(position, how)
        return None

    def with_fallbacks(self, choice: FieldChoice) -> FieldChoice:
        """``choice`` of account, and the free columns of the customer (names, IDs, people)
        that fill the sampled rows where its column is blank."""
        assert choice.column is not None
        blank = column_values(self.sample, choice.column).isna()
        if not blank.any() or choice.fallbacks:  # a profile's own fallbacks: it knows
            return choice
        tiers = (*_ALIASES["account"], *_ACCOUNT_IDS, *_ACCOUNT_PEOPLE)
        ranked = sorted(
            (tiers.index(self.words[p]), p) for p in self.free() if self.words[p] in tiers
        )
        fallbacks: list[int] = []
        for _, position in ranked:
            if not blank.any():
                break
            filled = column_values(self.sample, position).notna()
            if (blank & filled).any():
                fallbacks.append(position)
                blank &= ~filled
        if not fallbacks:
            return choice
        shown = " then ".join(f"'{self.headers[p]}'" for p in fallbacks)
        how = f"{choice.how}; where it is blank, {shown}"
        return FieldChoice(choice.column, how, choice.candidates, tuple(fallbacks))

    def by_values(self, name: str) -> FieldChoice | None:
        """The values themselves."""
        position = _by_values(name, self.free(), self.words, self.sample)
        return None if position is None else FieldChoice(position, _VALUE_REASONS[name])


_VALUE_REASONS = {
    "contact": "its values: emails",
    "happened_at": "its values: dates and times",
    "reference": "its values: unique IDs",
}


def _by_values(name: str, free: list[int], words: list[str], sample: pd.DataFrame) -> int | None:
    """The free column whose values look like the field's (best hint in its header)."""
    scored: list[tuple[float, int]] = []
    for position in free:
        values = column_values(sample, position)
        header = words[position]
        if name == "contact":
            if _one_address(values):
                continue  # one address on every row: the help desk's own inbox, no customer
            share = share_matching(values, EMAIL)
            bonus = _has(header, "contact", "requester", "customer", "email", "supplied")
            bonus -= _has(header, "agent", "owner", "assignee", "user", "created by")
        elif name == "happened_at":
            share = date_share(values)
            bonus = _has(header, "creat", "open", "start", "date", "time", "happen")
            bonus -= _has(header, "updat", "modif", "clos", "resol", "due", "last", "solved")
        elif name == "reference":
            share = 1.0 if looks_like_ids(values) else 0.0
            bonus = _has(header, "id", "number", "ref", "no", "key")
        else:
            return None
        if share >= _VALUES_SHARE:
            scored.append((share + bonus, -position))
    if not scored:
        return None
    return -max(scored)[1]


def _one_id(values: pd.Series) -> bool:
    """A sample of one row whose value could be an ID: one word of at most 128 characters."""
    present = values.dropna()
    return (
        len(values) == 1 and len(present) == 1 and bool(present.str.fullmatch(r"\S{1,128}").all())
    )


def _one_address(values: pd.Series) -> bool:
    """Whether the e-mails of a column are one address on every row (of three or more)."""
    emails = values.dropna()
    emails = emails[emails.str.match(EMAIL)]
    return len(emails) > 2 and emails.nunique() == 1


def _has(header: str, *parts: str) -> float:
    return 0.5 if any(part in header.split() or part in header for part in parts) else 0.0


def _candidates(free: list[int], names: list[str], sample: pd.DataFrame) -> tuple[str, ...]:
    """Text columns that could hold a name (not dates, emails or unique IDs), at most six."""
    found = []
    for position in free:
        values = column_values(sample, position).dropna()
        if values.empty or date_share(values) >= 0.5 or share_matching(values, EMAIL) >= 0.5:
            continue
        if share_matching(values, r"^[\d\s.,:+\-]*$") >= 0.5:
            continue  # numbers are no names
        found.append(names[position])
    return tuple(found[:6])


def _all_aliases(profiles: dict[str, Mapping]) -> dict[str, set[str]]:
    aliases = {name: set(_ALIASES.get(name, ())) for name in FIELDS}
    # a profile's ID and person columns for the account come last, not by name: where no
    # company column exists (``by_second_choice``), and after the contact took its own
    later = {*_ACCOUNT_IDS, *_ACCOUNT_PEOPLE}
    for profile in profiles.values():
        for name, choices in profile.columns.items():
            words = {words_of(choice) for choice in choices}
            aliases[name].update(words - later if name == "account" else words)
    return aliases


def words_of(header: str) -> str:
    """``CreatedDate`` / ``Date/Time Opened`` → ``created date`` / ``date time opened``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", header.strip())
    return " ".join(re.findall(r"[a-z0-9]+", spaced.lower()))
