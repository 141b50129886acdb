"""PII redaction on realistic samples, and on lookalikes an analyst needs left alone."""

import pytest

from aspora.redaction import ALL_KINDS, iban_valid, kinds_check, luhn_valid, redact, redact_value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Cards: Luhn-valid numbers in the shapes people paste them.
        ("Customer paid with 4242 4242 4242 4242 yesterday", "Customer paid with [CARD •••• 4242] yesterday"),
        ("card 5555-5555-5555-4444 declined", "card [CARD •••• 4444] declined"),
        ("Amex 378282246310005 on file", "Amex [CARD •••• 0005] on file"),
        # IBANs: checksum-valid, with and without spaces.
        ("Refund to AE07 0331 2345 6789 0123 456 please", "Refund to [IBAN AE •••• 3456] please"),
        ("beneficiary GB82WEST12345698765432.", "beneficiary [IBAN GB •••• 5432]."),
        ("SEPA to DE89 3704 0044 0532 0130 00 returned", "SEPA to [IBAN DE •••• 3000] returned"),
        # Phones: E.164 and local Indian / UAE formats.
        ("call him on +971 50 123 4567", "call him on [PHONE •••• 4567]"),
        ("WhatsApp +919876543210 now", "WhatsApp [PHONE •••• 3210] now"),
        ("mobile 98765 43210 (India)", "mobile [PHONE •••• 3210] (India)"),
        ("her number is 09876543210", "her number is [PHONE •••• 3210]"),
        ("UAE mobile 050 123 4567 or office 04 123 4567", "UAE mobile [PHONE •••• 4567] or office [PHONE •••• 4567]"),
        ("+44 7911 123456 (UK)", "[PHONE •••• 3456] (UK)"),
        # Emails keep their domain.
        ("wrote from rahul.mehta@gmail.com today", "wrote from [EMAIL r•••@gmail.com] today"),
        # Passports need the word that introduces them.
        ("Passport no: K1234567 expires 2031", "Passport no: [PASSPORT •••• 4567] expires 2031"),
        ("passport number Z98765432", "passport number [PASSPORT •••• 5432]"),
        # Account numbers: after "account"/"a/c", or a long bare run that is not a card.
        ("beneficiary account no. 001234567890 at HDFC", "beneficiary account no. [ACCOUNT •••• 7890] at HDFC"),
        ("A/C: 1234-5678-9012", "A/C: [ACCOUNT •••• 9012]"),
        ("credited 50100012345678 on Tuesday", "credited [ACCOUNT •••• 5678] on Tuesday"),
    ],
)
def test_each_kind_becomes_a_placeholder_that_keeps_what_an_analyst_needs(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Ticket #1042 escalated; see also #1043 and alert 5012",
        "Amount 15,500.00 AED, fee 12.50, total 4250.00",
        "Due 2026-11-25 17:30 UTC, opened 25/11/2026",
        "TX-900101, CUS-10031, SDN-18842, CASE-2026-0042",
        "Score 92, 9 cash deposits just under 10,000 AED in 6 days",
        "velocity 7 → 5 (-2), precision 81.2%, transactions 18342",
        "4242 4242 4242 4241 is not a valid card",  # fails Luhn: no CARD label
        "AE07 0331 2345 6789 0123 457 is not a valid IBAN",  # fails mod-97
        "reference K1234567 without the word passport",
    ],
)
def test_lookalikes_are_not_redacted_as_cards_ibans_phones_or_passports(text):
    out = redact(text)
    for label in ("[CARD", "[IBAN", "[PHONE", "[PASSPORT", "[EMAIL"):
        assert label not in out, out
    if "4242 4242 4242 4241" not in text:
        assert out == text


def test_only_the_kinds_asked_for_are_redacted():
    text = "card 4242424242424242, mail a.b@example.com"
    assert redact(text, ["email"]) == "card 4242424242424242, mail [EMAIL a•••@example.com]"
    assert redact(text, []) == text


def test_an_unknown_kind_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"Unknown redaction kind\(s\) 'ssn'; known: iban, card"):
        kinds_check(["card", "ssn"])


def test_structured_values_are_redacted_inside_and_keep_their_shape():
    value = {"customer": "Rahul", "contact": ["+971 50 123 4567", 42], "iban": "GB82WEST12345698765432"}
    assert redact_value(value) == {
        "customer": "Rahul",
        "contact": ["[PHONE •••• 4567]", 42],
        "iban": "[IBAN GB •••• 5432]",
    }


def test_the_checksums():
    assert luhn_valid("4242 4242 4242 4242") and not luhn_valid("4242 4242 4242 4241")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB83 WEST 1234 5698 7654 32")
    assert set(ALL_KINDS) == {"iban", "card", "email", "phone", "passport", "account"}


def test_the_logging_filter_redacts_a_records_message_and_arguments():
    import logging
    from io import StringIO

    from aspora.redaction import RedactingFilter

    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("refund to %s for %s", "GB82WEST12345698765432", "ticket #1042")
    finally:
        logger.removeHandler(handler)

    assert stream.getvalue() == "refund to [IBAN GB •••• 5432] for ticket #1042\n"
