"""The keyword box: what a visitor types, parsed into terms and built into one tsquery.

Web search syntax (words, ``"quoted phrases"``, ``-negation``, ``OR``), with one difference
from PostgreSQL's ``websearch_to_tsquery``: OR binds tighter than the implicit AND, as on
every web search engine. ``walnut chair OR stool`` means ``walnut AND (chair OR stool)``,
where websearch_to_tsquery reads ``(walnut AND chair) OR stool``.

Each term is handed to ``websearch_to_tsquery`` on its own (so a word or a phrase is
normalised exactly as before: stemming, stop words, punctuation) and the terms are combined
here, with parentheses. The last plain word also matches as a prefix (search as you type).

Both configurations fold accents (``listings`` migration 0007): ``marketplace_search`` is
english with unaccent, the one the stored ``search_vector`` is built with; ``marketplace_words``
is simple with unaccent, for the prefix (a half-typed word must not be stemmed).
"""

import re
from dataclasses import dataclass, replace
from functools import reduce
from operator import and_, or_

from django.contrib.postgres.search import SearchQuery

SEARCH_CONFIG = "marketplace_search"
WORDS_CONFIG = "marketplace_words"
WORD = re.compile(r"^\w+$")


@dataclass(frozen=True)
class Term:
    """A word or a quoted phrase, maybe negated (``-word``, ``-"a phrase"``)."""

    text: str
    phrase: bool = False
    negated: bool = False

    def __str__(self) -> str:
        body = f'"{self.text}"' if self.phrase else self.text
        return f"-{body}" if self.negated else body


OR = object()
# A group is terms joined by OR; a query is groups joined by AND.
Groups = list[list[Term]]


def _tokens(text: str) -> list:
    tokens: list = []
    position, length = 0, len(text)
    while position < length:
        if text[position].isspace():
            position += 1
            continue
        negated = text[position] == "-" and position + 1 < length and not text[position + 1].isspace()
        if negated:
            position += 1
        if text[position] == '"':
            # An unclosed quote runs to the end, as in websearch_to_tsquery.
            end = text.find('"', position + 1)
            end = length if end == -1 else end
            tokens.append(Term(text[position + 1 : end], phrase=True, negated=negated))
            position = end + 1
            continue
        end = position
        while end < length and not text[end].isspace() and text[end] != '"':
            end += 1
        word = text[position:end]
        position = end
        tokens.append(OR if not negated and word.lower() == "or" else Term(word, negated=negated))
    return tokens


def parse_keywords(text: str) -> Groups:
    """``text`` as groups of alternatives: ``a b OR c d`` is ``[[a], [b, c], [d]]``.
    An OR at either end, or doubled, is ignored (as websearch_to_tsquery does)."""
    groups: Groups = []
    joining = False
    for token in _tokens(text):
        if token is OR:
            joining = bool(groups)
            continue
        if joining:
            groups[-1].append(token)
        else:
            groups.append([token])
        joining = False
    return groups


def prefix_term(groups: Groups) -> Term | None:
    """The term matched as a prefix too: the last one, when it is a plain word of its own
    (not a phrase, not negated, not an alternative after OR)."""
    if not groups or len(groups[-1]) != 1:
        return None
    last = groups[-1][0]
    if last.phrase or last.negated or not WORD.match(last.text):
        return None
    return last


def unparse(groups: Groups) -> str:
    """The keywords back as text, in the syntax ``parse_keywords`` reads."""
    return " ".join(" OR ".join(str(term) for term in group) for group in groups)


def rewrite_words(groups: Groups, replacements: dict[str, str]) -> Groups:
    """``groups`` with plain words replaced (keys lower-case); phrases and negations kept."""
    return [
        [
            replace(term, text=replacements[term.text.lower()])
            if not term.phrase and not term.negated and term.text.lower() in replacements
            else term
            for term in group
        ]
        for group in groups
    ]


def _term_query(term: Term, *, prefix: bool) -> SearchQuery:
    query = SearchQuery(str(replace(term, negated=False)), search_type="websearch", config=SEARCH_CONFIG)
    if prefix:
        query |= SearchQuery(f"{term.text.lower()}:*", search_type="raw", config=WORDS_CONFIG)
    return ~query if term.negated else query


def keyword_query(text: str) -> SearchQuery | None:
    """The tsquery of the keyword box (see the module docstring); None when it is blank."""
    text = text.strip()
    if not text:
        return None
    groups = parse_keywords(text)
    if not groups:
        # Nothing but OR: a query that matches nothing, as websearch_to_tsquery gives.
        return SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
    last = prefix_term(groups)
    return reduce(
        and_,
        (reduce(or_, (_term_query(term, prefix=term is last) for term in group)) for group in groups),
    )
