"""Contact details stay on the platform until a purchase.

Until the two participants of a conversation have a paid transaction together (either way
round: ``payments.selectors.parties_have_paid``), the email addresses, phone numbers and
off-site payment or chat handles in a message are replaced FOR ITS RECIPIENT by
:data:`CONTACT_MASK`. The stored message is never changed: its sender and staff see it whole,
and so does the recipient once the two have traded. ``MESSAGE_MASK_CONTACT_DETAILS=false``
turns masking off.

Detection is a set of regular expressions (:func:`contact_spans`), tuned both ways by the
table in ``tests/messaging/test_masking.py``:

- found: ``name@mail.com`` and its disguises (``name at mail dot com``, ``name (at) mail
  [dot] com``, ``name @ mail . com``, ``name at gmail``); phone numbers in local and
  international formats (``+44 20 7946 0958``, ``(555) 123-4567``, ``0049 30 1234567``),
  spaced out (``5 5 5 1 2 3 4 5 6 7``) or spelled (``five five five one two ...``); IBANs,
  crypto wallet addresses, links to payment and chat services (``paypal.me/x``, ``wa.me/...``),
  cashtags (``$name``), ``@handles`` next to the name of a payment or chat app, and "whatsapp
  me"-style invitations;
- left alone: prices (``$1,250.00``, ``1.250,00 €``), dates (``2026-11-30``, ``30/11/2026``),
  times, years, quantities with units, dimensions (``120x60x75 cm``) and model or reference
  numbers (``RTX 4090``, ``SKU 12-345-678``).

Those "left alone" shapes are found first and blanked out of a working copy (same length),
so a phone pattern can never run through a date or a price; the spans found in the copy are
then replaced in the original text.
"""

from __future__ import annotations

import re

from django.conf import settings

from payments.selectors import parties_have_paid

CONTACT_MASK = "[contact details are shared after a purchase]"

# Phone numbers have at most 15 digits (E.164); "00" in front of the country code adds two.
PHONE_MIN_DIGITS = 7
PHONE_MAX_DIGITS = 17
_I = re.IGNORECASE

# --- Shapes that are never contact details -----------------------------------------------------
_CURRENCY_SYMBOL = r"[$€£¥₹₽₩₺₪฿]"
_CURRENCY_WORD = (
    r"(?:usd|eur|gbp|chf|cad|aud|nzd|jpy|cny|sek|nok|dkk|pln|czk|huf|inr|brl|mxn|zar|hkd|sgd|"
    r"dollars?|euros?|pounds?|bucks|francs?|kr|zł|yen)"
)
# 1,250.00 | 1.250,00 | 1 250 | 1'250 | 1250 | 1250.5
_AMOUNT = r"\d{1,3}(?:[.,'\u00a0\u202f ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
# Units after a number. Not "in", "a", "t", "h": "call 0171 234 5678 in the evening" must not
# hide "5678" from the phone number.
_UNIT = (
    r"(?:mm|cm|dm|m|km|inch|inches|ft|feet|yd|mi|miles?|kg|g|mg|lbs?|oz|ml|cl|l|litres?|"
    r"liters?|gal|w|kw|kwh|wh|v|mah|ah|hz|khz|mhz|ghz|hp|ps|cc|rpm|mp|px|dpi|fps|k|"
    r"gb|tb|mb|kb|gbps|mbps|bits?|cores?|threads?|pcs|pieces?|items?|units?|pairs?|sets?|"
    r"years?|yrs?|months?|weeks?|days?|hours?|hrs?|mins?|minutes?|secs?|seconds?|km/h|mph|"
    r"mpg|sq\s?ft|m2|m²|m3|m³|°c|°f|°|%)"
)
_PHONE_WORD = r"(?:tel|tél|phone|ph|call|text|sms|mob|mobile|cell|fax|wa|no|nr|num|number|whatsapp)"
# A date's digits are not followed or preceded by more of the same ("06.12.34.56.78" is a
# French phone number, not the date 06.12.34).
_DATE_END = r"(?![-/.]?\d)"
_DATE_START = r"(?<![\d])(?<!\d[-/.])"
_SAFE_PATTERNS = [
    # Prices: a currency symbol or code before or after an amount.
    re.compile(rf"{_CURRENCY_SYMBOL}\s?(?:{_AMOUNT})(?:\s?-\s?{_CURRENCY_SYMBOL}?\s?(?:{_AMOUNT}))?", _I),
    re.compile(rf"\b{_CURRENCY_WORD}\s?(?:{_AMOUNT})(?![\d])", _I),
    re.compile(rf"(?<![\d.,])(?:{_AMOUNT})\s?(?:{_CURRENCY_SYMBOL}|\b{_CURRENCY_WORD}\b)", _I),
    # Dates: 2026-11-30, 2026/11/30, 30/11/2026, 30.11.2026, 11-30-26.
    re.compile(rf"{_DATE_START}\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}{_DATE_END}"),
    re.compile(rf"{_DATE_START}\d{{1,2}}[-/.]\d{{1,2}}[-/.](?:\d{{4}}|\d{{2}}){_DATE_END}"),
    # Times: 10:30, 18h00, 10:30:15 pm, 9am.
    re.compile(r"(?<!\d)\d{1,2}[:h]\d{2}(?::\d{2})?(?:\s?[ap]\.?m\b\.?)?(?!\d)", _I),
    re.compile(r"(?<!\d)\d{1,2}\s?[ap]\.?m\b\.?", _I),
    # Dimensions: 120x60x75 cm, 120 x 60 cm, 1920×1080.
    re.compile(r"\d+(?:[.,]\d+)?\s?(?:[x×*]\s?\d+(?:[.,]\d+)?\s?){1,3}(?:" + _UNIT + r"\b|\")?", _I),
    # Quantities with a unit: 16 GB, 3200 MHz, 2 kg, 55", 1 500 W.
    re.compile(rf"(?<![\w.,])(?:{_AMOUNT})\s?(?:{_UNIT}(?!\w)|\"|'')", _I),
    # Model, reference and order numbers named as such: SKU 12-345-678, order #123456789.
    re.compile(
        r"\b(?:sku|model|mod\.|part|p/n|pn|mpn|ref|reference|order|item|serial|s/n|sn|article|art\.|"
        r"invoice|tracking|isbn|ean|upc|gtin|asin|vin|lot|batch|version|ver\.|rev\.|id|zip|postcode|"
        r"post\scode|postal\scode|plz)\b\.?"
        r"\s?(?:no\.?|nr\.?|number|code|#)?\s?[:#]?\s?[a-z0-9][\w\-./]*(?:[ -]\d[\w\-./]*){0,3}",
        _I,
    ),
    re.compile(r"#\d[\d\-]*"),
    # Codes glued to letters: RTX4090, i7-12700K, XPS-9310, ABC-123-456-789 (but "tel-555..."
    # is a phone number).
    re.compile(rf"\b(?!{_PHONE_WORD}[\-/]?\d)[a-z]+[\-/]?\d[\w\-/]*", _I),
]

# --- Contact details ---------------------------------------------------------------------------------
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
_TLD = r"[a-z]{2,24}\b"
_OPEN = r"[\(\[\{<]"
_CLOSE = r"[\)\]\}>]"
_AT_SYMBOL = rf"(?:\s*@\s*|\s*{_OPEN}\s*(?:at|@)\s*{_CLOSE}\s*|\s*-at-\s*|_at_)"
_AT_WORD = r"\s+at\s+"
# A dot between labels: written close ("mail.com"), or unmistakably spelled out (" . ",
# " dot ", "[dot]"). "at noon. Thanks" is no address: the sentence's full stop has no space
# before it, and a space after.
_SPELLED_DOT = rf"(?:\s+\.\s+|\s*{_OPEN}\s*(?:dot|\.)\s*{_CLOSE}\s*|\s+dot\s+|-dot-|_dot_)"
_DOT = rf"(?:\.|{_SPELLED_DOT})"
_LOCAL = rf"[a-z0-9_%+\-]+(?:{_DOT}[a-z0-9_%+\-]+)*"
_DOMAIN = rf"{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}"
# Providers whose bare name is an address ("write me at gmail"); the first list also with a
# spelled "at" ("john at gmail"), where a common word ("at home", "at mail") would mislead.
_FREEMAIL_WORD = (
    r"(?:gmail|googlemail|yahoo|hotmail|outlook|icloud|protonmail|proton|gmx|yandex|aol|zoho|"
    r"fastmail|tutanota|t-online|laposte|libero)"
)
_FREEMAIL = rf"(?:{_FREEMAIL_WORD}|live|msn|me|mac|mail|web|qq|163|orange|free)"
_LEFT = r"(?<![\w.%+\-])"
_EMAIL = re.compile(rf"{_LEFT}{_LOCAL}{_AT_SYMBOL}{_DOMAIN}", _I)
# With a spelled "at", the domain must give itself away: a spelled dot ("mail dot com") or a
# mail provider ("gmail.com"); "you can see it at example.com" is a link, not an address.
_EMAIL_WORD = re.compile(
    rf"{_LEFT}{_LOCAL}{_AT_WORD}(?:{_FREEMAIL_WORD}(?:{_DOT}{_LABEL})*|"
    rf"(?:{_LABEL}{_DOT})*{_LABEL}{_SPELLED_DOT}(?:{_LABEL}{_DOT})*{_TLD})",
    _I,
)
_EMAIL_PROVIDER = re.compile(rf"{_LEFT}{_LOCAL}{_AT_SYMBOL}{_FREEMAIL}\b", _I)

_PAY_SITES = (
    r"paypal\.me|paypal\.com|venmo\.com|cash\.app|cash\.me|revolut\.me|revolut\.com|wise\.com|"
    r"monzo\.me|zellepay\.com|skrill\.com|payoneer\.com|westernunion\.com|moneygram\.com|"
    r"buymeacoffee\.com|ko-fi\.com|patreon\.com|coinbase\.com|binance\.com|pay\.google\.com|"
    r"wa\.me|api\.whatsapp\.com|chat\.whatsapp\.com|whatsapp\.com|t\.me|telegram\.me|telegram\.org|"
    r"signal\.me|m\.me|messenger\.com|facebook\.com|fb\.com|instagram\.com|snapchat\.com|"
    r"wechat\.com|line\.me|viber\.com|discord\.gg|discord\.com|skype\.com|kik\.me"
)
_PAY_URL = re.compile(rf"(?<![\w.\-])(?:https?://)?(?:www\.)?(?:{_PAY_SITES})(?:/[^\s<>\"']*)?", _I)
# Apps whose name is never an ordinary word: "venmo: john-doe" names a handle.
_APPS_NAMED = (
    r"pay\s?pal|venmo|cash\s?app|zelle|revolut|skrill|payoneer|bizum|twint|lydia|paylib|interac|"
    r"western\s?union|moneygram|whats\s?app|telegram|viber|wechat|weixin|kik|skype|snap\s?chat|"
    r"insta(?:gram)?|facebook|messenger|discord|twitter|tiktok"
)
# With those, apps whose name is also a word ("wise", "signal", "line"): only an "@handle"
# next to them is a handle.
_APPS = (
    rf"{_APPS_NAMED}|wise|monzo|swish|vipps|mobile\s?pay|blik|apple\s?pay|google\s?pay|signal|line|snap|"
    r"ig|fb|wa|tg|x"
)
_HANDLE = r"[@$][\w.\-]{2,}"
# "$name" (Cash App), but never a price ($50) or "$USD".
_CASHTAG = re.compile(
    r"(?<![\w$])\$(?!(?:usd|cad|aud|nzd|hkd|sgd|mxn|us|ca|au)\b)[a-z][a-z0-9_\-]{1,20}\b", _I
)
_HANDLE_INTRO = r"(?:\s?(?:me|id|handle|user(?:name)?|account|name|tag))?\s?(?:is|at|to|on|:|-)?\s?"
# A handle named by its app: "venmo @john-doe", "my venmo is: john-doe", "@john on venmo".
_APP_HANDLE = re.compile(
    rf"\b(?:(?:{_APPS}){_HANDLE_INTRO}{_HANDLE}"
    rf"|(?:{_APPS_NAMED})\s?(?:me|id|handle|user(?:name)?|account|name|tag)?\s?(?:is\s?)?:\s?[\w.\-]{{2,}})",
    _I,
)
_HANDLE_ON_APP = re.compile(rf"(?<![\w.])@[\w.\-]{{2,}}\s+(?:on|via|at|in)\s+(?:{_APPS})\b", _I)
# "whatsapp me", "text me on telegram", "add me on snapchat".
_INVITE = re.compile(
    rf"\b(?:(?:whats\s?app|telegram|viber|wechat|kik|skype|snap\s?chat|zelle|venmo)\s+(?:me|us)\b"
    rf"|(?:contact|text|message|msg|call|reach|add|find|dm|ping|pay|write)\s+(?:me|us)\s+"
    rf"(?:on|via|by|through|at|with|using)\s+(?:{_APPS})\b)",
    _I,
)
_IBAN = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,4})?\b|\b[a-z]{2}\d{2}[a-z0-9]{10,30}\b"
)
_CRYPTO = re.compile(r"\b(?:0x[a-fA-F0-9]{40}|bc1[a-z0-9]{25,59}|[13][a-km-zA-HJ-NP-Z1-9]{25,34})\b")

# A run of digits and the separators people write in phone numbers. It may start with "+" or
# "(", and must not be glued to a word or to another number.
_PHONE = re.compile(
    r"(?<![\w$€£¥#@+\-/.,])"
    r"(?:\+\s?|\(\s?\+?\s?)?\d(?:[ \t\u00a0().\-/–]{0,3}\d)+"
    r"(?!\w|[.,]\d)",
)
_DIGIT_WORDS = r"zero|oh|one|two|three|four|five|six|seven|eight|nine|nought|niner"
_SPELLED_PHONE = re.compile(
    rf"\b(?:(?:{_DIGIT_WORDS}|\d)(?:[\s,\-.]{{1,3}}|(?=\d))){{{PHONE_MIN_DIGITS - 1},}}"
    rf"(?:{_DIGIT_WORDS}|\d)\b",
    _I,
)
_SPELLED_DIGIT = re.compile(rf"{_DIGIT_WORDS}|\d", _I)
_YEAR = re.compile(r"(?:19|20)\d\d")
# A name in capitals right before the number ("RTX 3080 3090 4090": a line-up of models).
_CAPS_BEFORE = re.compile(r"\b([A-Z][A-Z0-9]{1,5})\s?$")
_PHONE_WORDS = frozenset(
    {"tel", "phone", "ph", "call", "text", "sms", "mob", "cell", "fax", "wa", "no", "nr", "num"}
)


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)


def _is_phone(candidate: str, before: str) -> bool:
    if not PHONE_MIN_DIGITS <= _digits(candidate) <= PHONE_MAX_DIGITS:
        return False
    if candidate.startswith(("+", "(")):
        return True
    # A plain number: 1.250.000, 12345.67.
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+|\d+[.,]\d{1,2}", candidate):
        return False
    groups = re.findall(r"\d+", candidate)
    if len(groups) > 1:
        # A list of years ("2019 2020 2021") or of sizes ("38 40 42 44").
        if all(_YEAR.fullmatch(group) for group in groups):
            return False
        if all(len(group) <= 2 for group in groups) and _digits(candidate) < 9:
            return False
        caps = _CAPS_BEFORE.search(before)
        if caps and caps.group(1).lower() not in _PHONE_WORDS and all(len(group) == 4 for group in groups):
            return False
    return True


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for index in range(start, end):
            if not chars[index].isspace():
                chars[index] = "\x00"
    return "".join(chars)


def contact_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of ``text`` that hold contact details, sorted and merged."""
    spans: list[tuple[int, int]] = []
    # Addresses and links first: their digits must not be read again as phone numbers.
    for pattern in (_PAY_URL, _EMAIL, _EMAIL_WORD, _EMAIL_PROVIDER, _IBAN, _CRYPTO):
        spans += [match.span() for match in pattern.finditer(text)]
    for pattern in (_APP_HANDLE, _HANDLE_ON_APP, _CASHTAG, _INVITE):
        spans += [match.span() for match in pattern.finditer(text)]
    working = _blank(text, spans)
    safe = [match.span() for pattern in _SAFE_PATTERNS for match in pattern.finditer(working)]
    working = _blank(working, safe)
    for match in _PHONE.finditer(working):
        if _is_phone(match.group(), working[max(0, match.start() - 12) : match.start()]):
            spans.append(match.span())
    for match in _SPELLED_PHONE.finditer(working):
        if sum(not part.isdigit() for part in _SPELLED_DIGIT.findall(match.group())) >= 3:
            spans.append(match.span())
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# What may stand between two contact details that become one mask: "a@b.com / +1 555...",
# "whatsapp me at +44 ...", "a@b.com or 555-...".
_JOINER = re.compile(r"[\s,;/|\-–.:]*(?:(?:at|on|or|and|via|is)[\s,;/|\-–.:]*)?", _I)


def mask_contact_details(text: str) -> str:
    """``text`` with every contact detail replaced by :data:`CONTACT_MASK` (neighbouring ones,
    with only punctuation or a joining word between them, become one mask)."""
    spans = contact_spans(text)
    if not spans:
        return text
    parts, position = [], 0
    for start, end in spans:
        gap = text[position:start]
        if parts and _JOINER.fullmatch(gap):
            position = end  # "mail@x.com / +1 555 ...": one mask
            continue
        parts += [gap, CONTACT_MASK]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def contact_shared(conversation) -> bool:
    """Whether the conversation's two participants have traded (a paid transaction either way
    round): from then on nothing is masked between them. Cached on the conversation object,
    so a page of its messages costs one query."""
    cached = getattr(conversation, "_contact_shared", None)
    if cached is None:
        cached = parties_have_paid(conversation.buyer_id, conversation.seller_id)
        conversation._contact_shared = cached
    return cached


def needs_masking(conversation, viewer, sender_id) -> bool:
    """Whether ``viewer`` sees a message of ``sender_id`` in ``conversation`` masked: only
    its recipient does, before the two have traded, with masking on. The sender and staff
    always see the original."""
    if not settings.MESSAGE_MASK_CONTACT_DETAILS:
        return False
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return True
    if viewer.pk == sender_id or viewer.is_staff:
        return False
    return not contact_shared(conversation)


def mask_for_viewer(message, viewer) -> str:
    """The text of ``message`` as ``viewer`` may see it (see :func:`needs_masking`)."""
    if not needs_masking(message.conversation, viewer, message.sender_id):
        return message.message
    return mask_contact_details(message.message)
