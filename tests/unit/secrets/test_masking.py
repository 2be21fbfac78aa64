"""A secret value never reaches a log in any of the forms it takes there, and nothing else is
changed: the text around it is kept exactly, even when the log arrives in chunks."""

from __future__ import annotations

import base64
import json
import logging
import threading
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devflow.secrets.masking import MASK, Masker

SECRET = "s3cr3t/p@ss+word=é"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class TestForms:
    @pytest.mark.parametrize(
        "form",
        [
            SECRET,
            b64(SECRET.encode()),
            b64(SECRET.encode()).rstrip("="),
            base64.urlsafe_b64encode(SECRET.encode()).decode(),
            base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
            quote(SECRET, safe=""),
            quote_plus(SECRET),
            json.dumps(SECRET)[1:-1],
            json.dumps(SECRET, ensure_ascii=False)[1:-1],
        ],
        ids=[
            "plain",
            "base64",
            "base64-unpadded",
            "urlsafe",
            "urlsafe-unpadded",
            "quote",
            "quote_plus",
            "json-ascii",
            "json",
        ],
    )
    def test_each_form_is_masked(self, form):
        masker = Masker([SECRET])
        assert masker.mask(f"before {form} after") == f"before {MASK} after"

    def test_json_escapes_of_quotes_and_newlines_are_masked(self):
        value = 'line "one"\nline two'
        masker = Masker([value])
        document = json.dumps({"token": value})
        assert value not in masker.mask(document)
        assert masker.mask(document) == f'{{"token": "{MASK}"}}'

    @pytest.mark.parametrize("prefix", [b"", b"u", b"us", b"user:", b"user:x", b"user:xy"])
    def test_a_secret_inside_a_longer_base64_stream_is_masked_at_every_alignment(self, prefix):
        masker = Masker(["hunter2-password"])
        encoded = b64(prefix + b"hunter2-password" + b"@host")
        masked = masker.mask(encoded)
        assert MASK in masked
        # What is left are only the characters that also carry the neighbouring bytes.
        assert len(masked) - len(MASK) <= len(encoded) - len(b64(b"hunter2-password")) + 6

    def test_basic_auth_header_is_masked(self):
        masker = Masker(["correct horse battery"])
        header = "Authorization: Basic " + b64(b"alice:correct horse battery")
        masked = masker.mask(header)
        assert MASK in masked
        assert b64(b"correct horse battery")[4:-4] not in masked


class TestWhatIsMasked:
    def test_short_values_are_ignored_and_noted_at_debug_level(self, caplog):
        caplog.set_level(logging.DEBUG, logger="devflow.secrets.masking")
        masker = Masker(["a", "ab", "abc"])
        assert masker.mask("a cab abc") == "a cab abc"
        assert masker.longest == 0
        assert "too short" in caplog.text
        assert "abc" not in caplog.text

    def test_four_characters_are_enough(self):
        assert Masker(["abcd"]).mask("xabcdx") == f"x{MASK}x"

    def test_text_around_secrets_is_kept_exactly(self):
        masker = Masker(["tok-123456", "other-secret"])
        text = "  tab\there\r\n tok-123456\x00 ünïcode 🎉 other-secret\n\n"
        assert masker.mask(text) == f"  tab\there\r\n {MASK}\x00 ünïcode 🎉 {MASK}\n\n"

    def test_text_without_secrets_is_returned_unchanged(self):
        masker = Masker(["tok-123456"])
        text = "nothing to see: tok-12345 tok_123456 TOK-123456"
        assert masker.mask(text) == text

    def test_empty_input(self):
        assert Masker(["tok-123456"]).mask("") == ""
        assert Masker().mask("") == ""
        assert Masker().mask("text") == "text"

    def test_every_occurrence_is_masked(self):
        masker = Masker(["tok-123456"])
        assert masker.mask("tok-123456tok-123456 tok-123456") == f"{MASK}{MASK} {MASK}"

    def test_the_longest_of_two_secrets_sharing_a_prefix_wins(self):
        masker = Masker(["password", "password-extended"])
        assert masker.mask("x password-extended y password") == f"x {MASK} y {MASK}"

    def test_overlapping_secrets_are_masked_as_one_stretch(self):
        masker = Masker(["ABCDEFGH", "FGHIJKLM"])
        assert masker.mask("xxABCDEFGHIJKLMyy") == f"xx{MASK}yy"

    def test_a_secret_inside_another_leaves_nothing_of_either(self):
        masker = Masker(["CDEF", "ABCDEFGH"])
        assert masker.mask("-ABCDEFGH-CDEF-") == f"-{MASK}-{MASK}-"

    def test_a_chain_of_overlaps_reaching_past_the_first_match(self):
        masker = Masker(["ABCDEF", "BCDEFGHIJK", "JKLMNOP"])
        assert masker.mask("<ABCDEFGHIJKLMNOP>") == f"<{MASK}>"

    def test_regular_expression_characters_are_literal(self):
        masker = Masker(["a.b*c(d)[e]"])
        assert masker.mask("a.b*c(d)[e] aXbbc(d)[e]") == f"{MASK} aXbbc(d)[e]"

    def test_values_added_later_are_masked_from_then_on(self):
        masker = Masker()
        assert masker.mask("late-secret") == "late-secret"
        masker.add("late-secret")
        assert masker.mask("late-secret") == MASK

    def test_adding_from_many_threads_loses_nothing(self):
        masker = Masker()
        values = [f"secret-{i:04d}-value" for i in range(48)]

        def add(chunk):
            for value in chunk:
                masker.add(value)
                masker.mask(value)

        threads = [threading.Thread(target=add, args=(values[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert masker.mask(" ".join(values)) == " ".join([MASK] * len(values))

    def test_a_megabyte_with_hundreds_of_secrets_is_masked(self):
        values = [f"tok_{i:05d}_{'k' * (i % 30)}Zq" for i in range(300)]
        masker = Masker(values)
        filler = "INFO request handled in 12ms path=/api/v1/items?id=42 user=alice\n"
        text = filler * (1_000_000 // len(filler)) + values[123]
        masked = masker.mask(text)  # its speed is bench/secrets_bench.py's business
        assert masked.endswith(MASK)
        assert masked.startswith(filler)


class TestStream:
    VALUES = ("tok-123456", "overlap-ABCDEF", "ABCDEF-second", "é-multibyte-ü")

    def chunked(self, masker, pieces):
        stream = masker.stream()
        return "".join(stream.feed(piece) for piece in pieces) + stream.flush()

    def test_a_secret_split_at_every_boundary_is_masked(self):
        masker = Masker(self.VALUES)
        text = "start tok-123456 mid overlap-ABCDEF-second end é-multibyte-ü."
        expected = masker.mask(text)
        assert "tok" not in expected
        for cut in range(len(text) + 1):
            assert self.chunked(masker, [text[:cut], text[cut:]]) == expected, cut
        for first in range(len(text) + 1):
            for second in range(first, len(text) + 1):
                pieces = [text[:first], text[first:second], text[second:]]
                assert self.chunked(masker, pieces) == expected, (first, second)

    def test_character_by_character(self):
        masker = Masker(self.VALUES)
        text = "xx tok-123456 yy é-multibyte-ü zz"
        assert self.chunked(masker, list(text)) == masker.mask(text)

    def test_bytes_split_inside_a_multibyte_character(self):
        masker = Masker(self.VALUES)
        text = "ünï 🎉 é-multibyte-ü 🎉 end"
        data = text.encode()
        for cut in range(len(data) + 1):
            assert self.chunked(masker, [data[:cut], data[cut:]]) == masker.mask(text), cut
        assert self.chunked(masker, [bytes([b]) for b in data]) == masker.mask(text)

    def test_invalid_bytes_become_replacement_characters(self):
        masker = Masker(self.VALUES)
        assert self.chunked(masker, [b"a\xff", b"b tok-123456"]) == f"a\ufffdb {MASK}"

    def test_bytes_cut_short_at_the_end_become_a_replacement_character(self):
        assert self.chunked(Masker(self.VALUES), [b"ok \xc3"]) == "ok \ufffd"

    def test_at_most_the_longest_form_minus_one_is_held_back(self):
        masker = Masker(["tok-123456"])
        stream = masker.stream()
        text = "a" * 1000
        out = stream.feed(text)
        assert len(text) - len(out) <= masker.longest - 1
        assert out + stream.flush() == text

    def test_without_secrets_nothing_is_held_back(self):
        stream = Masker().stream()
        assert stream.feed("text") == "text"
        assert stream.flush() == ""

    def test_an_empty_stream(self):
        stream = Masker(self.VALUES).stream()
        assert stream.feed("") == ""
        assert stream.feed(b"") == ""
        assert stream.flush() == ""

    @given(
        text=st.text(alphabet="ABCDEF-tok123456é ", max_size=60),
        cuts=st.lists(st.integers(0, 60), max_size=6),
    )
    def test_any_chunking_gives_what_masking_the_whole_gives(self, text, cuts):
        masker = Masker(self.VALUES)
        bounds = sorted({min(cut, len(text)) for cut in cuts})
        pieces = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
        assert self.chunked(masker, pieces) == masker.mask(text)
