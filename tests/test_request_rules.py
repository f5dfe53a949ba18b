"""The request rules: slash command text, and what a submitted request must hold."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.enos.models import AssetId, ProductDevice, RevokeReason
from commands.request import (
    ASSET_ID_MAX,
    CERT_SN_MAX,
    DENY_NOTE_MAX,
    DEVICE_KEY_MAX,
    JUSTIFICATION_MAX,
    PRODUCT_KEY_MAX,
    Help,
    History,
    Prefill,
    RequestField,
    RevocationDraft,
    clean_note,
    parse_command_text,
    validate_submission,
)

A, P, D, C, R, J = (
    RequestField.ASSET_ID.value,
    RequestField.PRODUCT_KEY.value,
    RequestField.DEVICE_KEY.value,
    RequestField.CERT_SN.value,
    RequestField.REASON.value,
    RequestField.JUSTIFICATION.value,
)
KNOWN_FIELDS = {f.value for f in RequestField}


def submit(values: dict[str, str | None]) -> RevocationDraft | dict[str, str]:
    base: dict[str, str | None] = {C: "52739", R: "1"}
    base.update(values)
    return validate_submission(base)


def errors_of(values: dict[str, str | None]) -> dict[str, str]:
    result = submit(values)
    assert isinstance(result, dict), f"expected errors, got {result!r}"
    return result


# --- validate_submission: one row per rule ---

INVALID = [
    pytest.param({}, A, id="no device"),
    pytest.param({A: "   ", P: "", D: None}, A, id="only whitespace is no device"),
    pytest.param({P: "pk1"}, D, id="product key without device key"),
    pytest.param({D: "dev1"}, P, id="device key without product key"),
    pytest.param({A: "Xy12", P: "pk1"}, A, id="asset ID with product key"),
    pytest.param({A: "Xy12", D: "dev1"}, A, id="asset ID with device key"),
    pytest.param({A: "Xy12", P: "pk1", D: "dev1"}, A, id="asset ID with both keys"),
    pytest.param({A: "Xy 12"}, A, id="space inside asset ID"),
    pytest.param({A: "Xy12/AbCd"}, A, id="slash in asset ID"),
    pytest.param({A: "Xy12<!channel>"}, A, id="markup in asset ID"),
    pytest.param({A: "Xÿ12"}, A, id="non-ASCII letter in asset ID"),
    pytest.param({A: "x" * (ASSET_ID_MAX + 1)}, A, id="asset ID too long"),
    pytest.param({P: "p k", D: "dev1"}, P, id="space inside product key"),
    pytest.param({P: "p" * (PRODUCT_KEY_MAX + 1), D: "dev1"}, P, id="product key too long"),
    pytest.param({P: "pk1", D: "dev\n1"}, D, id="newline in device key"),
    pytest.param({P: "pk1", D: "d" * (DEVICE_KEY_MAX + 1)}, D, id="device key too long"),
    pytest.param({A: "Xy12", C: ""}, C, id="certSn empty"),
    pytest.param({A: "Xy12", C: None}, C, id="certSn missing"),
    pytest.param({A: "Xy12", C: "  "}, C, id="certSn whitespace"),
    pytest.param({A: "Xy12", C: "-1"}, C, id="certSn negative"),
    pytest.param({A: "Xy12", C: "+5"}, C, id="certSn leading plus"),
    pytest.param({A: "Xy12", C: "５"}, C, id="certSn fullwidth digit"),
    pytest.param({A: "Xy12", C: "٣"}, C, id="certSn arabic-indic digit"),
    pytest.param({A: "Xy12", C: "²"}, C, id="certSn superscript digit"),
    pytest.param({A: "Xy12", C: "1e3"}, C, id="certSn exponent"),
    pytest.param({A: "Xy12", C: "0x10"}, C, id="certSn hexadecimal"),
    pytest.param({A: "Xy12", C: "1_000"}, C, id="certSn underscore"),
    pytest.param({A: "Xy12", C: "1,000"}, C, id="certSn comma"),
    pytest.param({A: "Xy12", C: "1 000"}, C, id="certSn inner space"),
    pytest.param({A: "Xy12", C: "12.0"}, C, id="certSn decimal point"),
    pytest.param({A: "Xy12", C: "abc"}, C, id="certSn letters"),
    pytest.param({A: "Xy12", C: str(CERT_SN_MAX + 1)}, C, id="certSn 2^63"),
    pytest.param({A: "Xy12", C: "9" * 5000}, C, id="certSn thousands of digits"),
    pytest.param({A: "Xy12", R: "2"}, R, id="reason 2 does not exist"),
    pytest.param({A: "Xy12", R: "7"}, R, id="reason 7 does not exist"),
    pytest.param({A: "Xy12", R: "key_compromise"}, R, id="reason by name is not an option"),
    pytest.param({A: "Xy12", R: ""}, R, id="reason empty"),
    pytest.param({A: "Xy12", R: None}, R, id="reason missing"),
    pytest.param({A: "Xy12", J: "x" * (JUSTIFICATION_MAX + 1)}, J, id="justification too long"),
    pytest.param({A: "Xy12", J: "leak\x00"}, J, id="justification with NUL"),
    pytest.param({A: "Xy12", J: "a\ud800b"}, J, id="justification with lone surrogate"),
]


@pytest.mark.parametrize(("values", "field"), INVALID)
def test_invalid_submission_names_the_field(values: dict[str, str | None], field: str) -> None:
    errors = errors_of(values)

    assert field in errors
    assert set(errors) <= KNOWN_FIELDS
    message = errors[field]
    assert message.endswith(".") and len(message) > 20


def test_all_problems_are_reported_at_once() -> None:
    errors = errors_of({A: "bad id", C: "-3", R: "8", J: "\x07"})

    assert set(errors) == {A, C, R, J}


def test_negative_certsn_says_so() -> None:
    assert "negative" in errors_of({A: "Xy12", C: "-52739"})[C]


def test_too_large_certsn_gives_the_maximum() -> None:
    assert str(CERT_SN_MAX) in errors_of({A: "Xy12", C: str(2**63)})[C]


VALID = [
    pytest.param({A: "Xy12AbCd"}, AssetId("Xy12AbCd"), 52739, id="asset ID"),
    pytest.param({P: "pk1", D: "dev-01"}, ProductDevice("pk1", "dev-01"), 52739, id="keys"),
    pytest.param({A: "  Xy12AbCd\t"}, AssetId("Xy12AbCd"), 52739, id="asset ID trimmed"),
    pytest.param(
        {P: " pk1 ", D: "\ndev-01 ", A: "  "},
        ProductDevice("pk1", "dev-01"),
        52739,
        id="keys trimmed, blank asset ID ignored",
    ),
    pytest.param({A: "a.b_c-d:e", C: " 0 "}, AssetId("a.b_c-d:e"), 0, id="certSn zero"),
    pytest.param({A: "Xy", C: "007"}, AssetId("Xy"), 7, id="leading zeros"),
    pytest.param({A: "Xy", C: "0" * 5000 + "7"}, AssetId("Xy"), 7, id="thousands of zeros"),
    pytest.param({A: "Xy", C: str(CERT_SN_MAX)}, AssetId("Xy"), CERT_SN_MAX, id="certSn max"),
    pytest.param({A: "x" * ASSET_ID_MAX}, AssetId("x" * ASSET_ID_MAX), 52739, id="longest asset"),
    pytest.param(
        {P: "p" * PRODUCT_KEY_MAX, D: "d" * DEVICE_KEY_MAX},
        ProductDevice("p" * PRODUCT_KEY_MAX, "d" * DEVICE_KEY_MAX),
        52739,
        id="longest keys",
    ),
]


@pytest.mark.parametrize(("values", "device", "cert_sn"), VALID)
def test_valid_submission_gives_a_draft(
    values: dict[str, str | None], device: object, cert_sn: int
) -> None:
    draft = submit(values)

    assert isinstance(draft, RevocationDraft)
    assert draft.device == device
    assert draft.cert_sn == cert_sn
    assert draft.reason is RevokeReason.KEY_COMPROMISE


@pytest.mark.parametrize("reason", list(RevokeReason))
def test_every_reason_is_accepted(reason: RevokeReason) -> None:
    draft = submit({A: "Xy12", R: str(reason.value)})

    assert isinstance(draft, RevocationDraft)
    assert draft.reason is reason


def test_justification_is_trimmed_and_kept_as_typed() -> None:
    typed = "  key leaked, see <https://x|INC-1> & *ask* `me`\n  "

    draft = submit({A: "Xy12", J: typed})

    assert isinstance(draft, RevocationDraft)
    assert draft.justification == typed.strip()


def test_missing_justification_is_empty() -> None:
    draft = submit({A: "Xy12", J: None})

    assert isinstance(draft, RevocationDraft)
    assert draft.justification == ""


def test_unknown_keys_are_ignored() -> None:
    draft = validate_submission({A: "Xy12", C: "1", R: "0", "something_else": "x"})

    assert isinstance(draft, RevocationDraft)


# --- Properties ---

IDENTIFIER_ALPHABET = string.ascii_letters + string.digits + "-_.:"
PADDING = st.text(alphabet=" \t\n\u00a0\u2003", max_size=3)


def identifier(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=IDENTIFIER_ALPHABET, min_size=1, max_size=max_size)


def padded(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(PADDING, inner, PADDING).map("".join)


valid_device = st.one_of(
    padded(identifier(ASSET_ID_MAX)).map(lambda a: {A: a}),
    st.tuples(padded(identifier(PRODUCT_KEY_MAX)), padded(identifier(DEVICE_KEY_MAX))).map(
        lambda pd: {P: pd[0], D: pd[1]}
    ),
)
printable = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\n\t"),
    max_size=JUSTIFICATION_MAX,
)


@given(
    device=valid_device,
    cert_sn=st.integers(0, CERT_SN_MAX),
    zeros=st.integers(0, 3),
    reason=st.sampled_from(list(RevokeReason)),
    justification=st.one_of(st.none(), printable),
)
def test_valid_input_never_produces_an_error(
    device: dict[str, str],
    cert_sn: int,
    zeros: int,
    reason: RevokeReason,
    justification: str | None,
) -> None:
    values: dict[str, str | None] = {
        **device,
        C: f" {'0' * zeros}{cert_sn} ",
        R: str(reason.value),
        J: justification,
    }

    draft = validate_submission(values)

    assert isinstance(draft, RevocationDraft), draft
    assert draft.cert_sn == cert_sn
    assert draft.reason is reason
    assert draft.justification == (justification or "").strip()
    if A in device:
        assert draft.device == AssetId(device[A].strip())
    else:
        assert draft.device == ProductDevice(device[P].strip(), device[D].strip())


HOSTILE_PIECES = [
    "<!channel>",
    "<!here>",
    "<https://x|y>",
    "<@U0123ABC>",
    "*bold*",
    "&amp;",
    "&",
    "<",
    ">",
    "`",
    "```",
    "\x00",
    "\u202e",
    "\ud800",
    "٣",
    "５",
    "-",
    "+",
    "0",
    "9",
    " ",
    "\n",
    "=",
    '"',
    "🔥",
    "Xy12",
]
hostile = st.one_of(
    st.none(),
    st.text(),
    st.text(st.characters(codec=None), max_size=50),
    st.lists(st.sampled_from(HOSTILE_PIECES), max_size=30).map("".join),
    st.tuples(st.sampled_from(HOSTILE_PIECES), st.integers(1, 6000)).map(lambda t: t[0] * t[1]),
)


@settings(max_examples=400)
@given(st.fixed_dictionaries({field: hostile for field in KNOWN_FIELDS}))
def test_any_input_gives_a_valid_draft_or_field_errors(values: dict[str, str | None]) -> None:
    result = validate_submission(values)

    if isinstance(result, RevocationDraft):
        assert 0 <= result.cert_sn <= CERT_SN_MAX
        assert result.reason in RevokeReason
        match result.device:
            case AssetId(asset_id=asset):
                assert 0 < len(asset) <= ASSET_ID_MAX
                assert set(asset) <= set(IDENTIFIER_ALPHABET)
            case ProductDevice(product_key=product, device_key=device):
                assert 0 < len(product) <= PRODUCT_KEY_MAX
                assert 0 < len(device) <= DEVICE_KEY_MAX
                assert set(product + device) <= set(IDENTIFIER_ALPHABET)
        assert len(result.justification) <= JUSTIFICATION_MAX
    else:
        assert result
        assert set(result) <= KNOWN_FIELDS
        assert all(isinstance(m, str) and m for m in result.values())


# --- parse_command_text ---


@pytest.mark.parametrize("text", ["help", " HELP ", "--help", "-h", "?"])
def test_help(text: str) -> None:
    assert parse_command_text(text) == Help()


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("history", ""),
        ("  history  ", ""),
        ("History cert:52739", "cert:52739"),
        ("history\tstatus:revoked\n", "status:revoked"),
        (
            "history  asset:Xy12 by:<@U123|ann>  since:2026-11-01 ",
            "asset:Xy12 by:<@U123|ann>  since:2026-11-01",
        ),
    ],
)
def test_history(text: str, query: str) -> None:
    assert parse_command_text(text) == History(query)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Prefill()),
        ("   ", Prefill()),
        (
            "asset=Xy12AbCd cert=52739 reason=key_compromise",
            Prefill(asset_id="Xy12AbCd", cert_sn="52739", reason=RevokeReason.KEY_COMPROMISE),
        ),
        (
            "  product=pk1   device=dev-01\tcertSn=52739  reason=1 ",
            Prefill(
                product_key="pk1",
                device_key="dev-01",
                cert_sn="52739",
                reason=RevokeReason.KEY_COMPROMISE,
            ),
        ),
        (
            'productKey="pk1" deviceKey=\'dev-01\' certsn = 5 reason="Superseded (4)"',
            Prefill(
                product_key="pk1",
                device_key="dev-01",
                cert_sn="5",
                reason=RevokeReason.SUPERSEDED,
            ),
        ),
        (
            'asset=Xy justification="key leaked, INC-42 <!channel>" reason=CESSATION-OF-OPERATION',
            Prefill(
                asset_id="Xy",
                reason=RevokeReason.CESSATION_OF_OPERATION,
                justification="key leaked, INC-42 <!channel>",
            ),
        ),
        (
            "asset=Xy justification=“smart quotes work”",
            Prefill(asset_id="Xy", justification="smart quotes work"),
        ),
        (
            'asset=Xy justification="never closed',
            Prefill(asset_id="Xy", justification="never closed"),
        ),
    ],
)
def test_prefill(text: str, expected: Prefill) -> None:
    assert parse_command_text(text) == expected


@pytest.mark.parametrize(
    ("text", "kept", "not_understood"),
    [
        ("asset=Xy please", {"asset_id": "Xy"}, ("please",)),
        ("colour=red asset=Xy", {"asset_id": "Xy"}, ("colour=red",)),
        ("asset=Xy asset=Zz", {"asset_id": "Xy"}, ("asset=Zz",)),
        ('asset="bad id" cert=1', {"cert_sn": "1"}, ('asset="bad id"',)),
        ("reason=2 asset=Xy", {"asset_id": "Xy"}, ("reason=2",)),
        ("reason=٣ asset=Xy", {"asset_id": "Xy"}, ("reason=٣",)),
        ("reason=nonsense", {}, ("reason=nonsense",)),
        ("asset= cert=1", {"cert_sn": "1"}, ("asset=",)),
        ("help me", {}, ("help", "me")),
    ],
)
def test_what_is_not_understood_is_kept(
    text: str, kept: dict[str, str], not_understood: tuple[str, ...]
) -> None:
    result = parse_command_text(text)

    assert isinstance(result, Prefill)
    assert result.not_understood == not_understood
    for name, value in kept.items():
        assert getattr(result, name) == value


@settings(max_examples=400)
@given(
    st.one_of(
        st.text(),
        st.lists(
            st.sampled_from(
                [*HOSTILE_PIECES, "asset=", "cert=", "reason=", "justification=", "“", "'", "help"]
            ),
            max_size=40,
        ).map("".join),
    )
)
def test_command_text_never_raises(text: str) -> None:
    result = parse_command_text(text)

    assert isinstance(result, Help | History | Prefill)
    if isinstance(result, Prefill):
        assert result.asset_id is None or len(result.asset_id) <= ASSET_ID_MAX
        assert result.justification is None or len(result.justification) <= JUSTIFICATION_MAX


# --- Deny note ---


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (None, None),
        ("", None),
        ("  \n ", None),
        ("  wrong device  ", "wrong device"),
        ("a\x00b", "ab"),
        ("<!channel>", "<!channel>"),
    ],
)
def test_clean_note(typed: str | None, stored: str | None) -> None:
    assert clean_note(typed) == stored


def test_clean_note_is_length_limited() -> None:
    note = clean_note("n" * (DENY_NOTE_MAX * 3))

    assert note is not None
    assert len(note) == DENY_NOTE_MAX


def test_text_direction_overrides_are_refused_in_a_justification_and_dropped_from_a_note() -> None:
    from commands.request import clean_note, justification_problem

    spoof = "approved by \u202egnissecorp\u202c security"

    assert "text-direction" in (justification_problem(spoof) or "")
    assert clean_note(spoof) == "approved by gnissecorp security"
    assert justification_problem("plain words, an emoji 🔥 and a ZWJ 👩\u200d💻") is None


def test_slack_escaped_command_text_reads_as_typed() -> None:
    from bot.slack.text import unescape
    from commands.request import Prefill, parse_command_text

    parsed = parse_command_text(unescape('asset=Xy12AbCd justification="R&amp;D &lt;lab&gt;"'))

    assert isinstance(parsed, Prefill)
    assert parsed.justification == "R&D <lab>"
